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

  constructor(
    /** Machine frame number, unique per host. */
    readonly mfn: number,
    /** Owning domid, or DOMID_XEN for Xen's own pages (shared_info). */
    public owner: number,
  ) {
    this.bytes = new Uint8Array(XEN_PAGE_SIZE);
    this.dv = new DataView(this.bytes.buffer);
  }
}

/** Host-wide machine memory: hands out frames with increasing MFNs. */
export class MachineMemory {
  #nextMfn = 0x1000;
  #allocated = 0;

  /** Allocates a zeroed frame owned by `owner`. */
  alloc(owner: number): Frame {
    this.#allocated++;
    return new Frame(this.#nextMfn++, owner);
  }

  /** Frames allocated so far (never decreases; frames are garbage-collected when unreferenced). */
  get allocated(): number {
    return this.#allocated;
  }
}
