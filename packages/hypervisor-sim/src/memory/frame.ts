/**
 * A machine frame: 4 KiB of real bytes with a machine frame number (MFN). Frames are shared by
 * reference: a grant mapping hands the mapper a view onto the granter's very Frame.
 */
import { XEN_PAGE_SIZE } from "../abi/xen.js";

export class Frame {
  /** The frame's bytes (4096). */
  readonly bytes: Uint8Array;
  /** Little-endian accessor over `bytes`. */
  readonly dv: DataView;
  /** The bytes' buffer (its own 4 KiB), kept as a field for a cheap identity check. */
  readonly buffer: ArrayBuffer;
  /** The same bytes as 512 doubles (for `Page.fill`'s zeroing) and 512 native-order i64s (`Page.readWords`). */
  readonly f64: Float64Array;
  readonly i64: BigInt64Array;

  /**
   * Xen's M2P entry for this frame (`get_gpfn_from_mfn`): the GFN where its owner's physmap holds
   * it as RAM or as a Xen page (shared_info, a grant-table frame), or -1 (INVALID_M2P_ENTRY) when
   * it is in no such slot. Grant and foreign mappings of the frame elsewhere do not set it.
   */
  gpfn = -1;

  /**
   * Whether this is one of Xen's own pages shared with its owner (shared_info, a grant-table
   * frame): Xen's `is_special_page()` / `is_xen_heap_page()`. Set when the frame is first placed in
   * a physmap as such; a domain's RAM never is one. `xenmem_add_to_physmap_one` merely unhooks
   * such a page from the GFN it replaces, where it would free RAM.
   */
  xenPage = false;

  constructor(
    /** Machine frame number, unique per host. */
    readonly mfn: number,
    /** Owning domid, or DOMID_XEN for Xen's own pages (shared_info). */
    public owner: number,
  ) {
    this.buffer = new ArrayBuffer(XEN_PAGE_SIZE);
    this.bytes = new Uint8Array(this.buffer);
    this.dv = new DataView(this.bytes.buffer);
    this.f64 = new Float64Array(this.buffer);
    this.i64 = new BigInt64Array(this.buffer);
  }
}

/** Host-wide machine memory: hands out frames with increasing MFNs. */
export class MachineMemory {
  #nextMfn = 0x1000;

  /** Allocates a zeroed frame owned by `owner`. */
  alloc(owner: number): Frame {
    return new Frame(this.#nextMfn++, owner);
  }
}
