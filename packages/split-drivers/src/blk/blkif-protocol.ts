/**
 * The two ring ABIs of the block protocol and where each puts its fields: `x86_64-abi` (Xen's
 * `io/blkif.h` as built for x86_64) and `x86_32-abi` (the same structs as i386 lays them out,
 * Linux blkback's `struct blkif_x86_32_request`). A backend picks one per device from the
 * frontend's `protocol` node (Linux `connect_ring`); a frontend writes the one it speaks.
 *
 * The offsets come from the ABI tables of `@pvkit/hypervisor-sim/abi`, which `pnpm abi-check`
 * and the ABI tests compare with the C headers.
 */
import {
  BLKIF_REQUEST_SIZE,
  BLKIF_RESPONSE_SIZE,
  BLKIF_SRING_ENTRY_SIZE,
  BLKIF_X86_32_REQUEST_SIZE,
  BLKIF_X86_32_RESPONSE_SIZE,
  BLKIF_X86_32_SRING_ENTRY_SIZE,
  XEN_IO_PROTO_ABI_X86_32,
  XEN_IO_PROTO_ABI_X86_64,
  blkif_request,
  blkif_request_discard,
  blkif_request_indirect,
  blkif_request_other,
  blkif_response,
  blkif_x86_32_request,
  blkif_x86_32_request_discard,
  blkif_x86_32_request_indirect,
  blkif_x86_32_request_other,
  blkif_x86_32_response,
} from "@pvkit/hypervisor-sim/abi";

/** A ring ABI, named as the frontend's `protocol` node names it (`io/protocols.h`). */
export type BlkifProtocol = typeof XEN_IO_PROTO_ABI_X86_64 | typeof XEN_IO_PROTO_ABI_X86_32;

/** Both protocols a blkback serves. */
export const BLKIF_PROTOCOLS: readonly BlkifProtocol[] = [
  XEN_IO_PROTO_ABI_X86_64,
  XEN_IO_PROTO_ABI_X86_32,
];

/** Byte offsets of one protocol's fields, relative to the ring entry. */
export interface BlkifWire {
  readonly protocol: BlkifProtocol;
  /** `sizeof` the request struct (112 or 108): the bytes a consumer copies out of the ring. */
  readonly requestSize: number;
  /** `sizeof(struct blkif_response)` (16 or 12): every one of these bytes is written per response. */
  readonly responseSize: number;
  /** `sizeof` the sring entry union (112 or 108). */
  readonly entrySize: number;
  readonly rw: {
    readonly nr_segments: number;
    readonly handle: number;
    readonly id: number;
    readonly sector_number: number;
    readonly seg: number;
  };
  readonly discard: {
    readonly flag: number;
    readonly handle: number;
    readonly id: number;
    readonly sector_number: number;
    readonly nr_sectors: number;
  };
  readonly indirect: {
    readonly indirect_op: number;
    readonly nr_segments: number;
    readonly id: number;
    readonly sector_number: number;
    readonly handle: number;
    readonly indirect_grefs: number;
  };
  /** Offset of `id` in a request of an operation the backend does not know. */
  readonly otherId: number;
  readonly response: { readonly id: number; readonly operation: number; readonly status: number };
}

type RwLayout = typeof blkif_request | typeof blkif_x86_32_request;
type DiscardLayout = typeof blkif_request_discard | typeof blkif_x86_32_request_discard;
type IndirectLayout = typeof blkif_request_indirect | typeof blkif_x86_32_request_indirect;
type OtherLayout = typeof blkif_request_other | typeof blkif_x86_32_request_other;
type ResponseLayout = typeof blkif_response | typeof blkif_x86_32_response;

function wire(
  protocol: BlkifProtocol,
  sizes: { request: number; response: number; entry: number },
  rw: RwLayout,
  discard: DiscardLayout,
  indirect: IndirectLayout,
  other: OtherLayout,
  response: ResponseLayout,
): BlkifWire {
  return Object.freeze({
    protocol,
    requestSize: sizes.request,
    responseSize: sizes.response,
    entrySize: sizes.entry,
    rw: {
      nr_segments: rw.nr_segments[0],
      handle: rw.handle[0],
      id: rw.id[0],
      sector_number: rw.sector_number[0],
      seg: rw.seg[0],
    },
    discard: {
      flag: discard.flag[0],
      handle: discard.handle[0],
      id: discard.id[0],
      sector_number: discard.sector_number[0],
      nr_sectors: discard.nr_sectors[0],
    },
    indirect: {
      indirect_op: indirect.indirect_op[0],
      nr_segments: indirect.nr_segments[0],
      id: indirect.id[0],
      sector_number: indirect.sector_number[0],
      handle: indirect.handle[0],
      indirect_grefs: indirect.indirect_grefs[0],
    },
    otherId: other.id[0],
    response: { id: response.id[0], operation: response.operation[0], status: response.status[0] },
  });
}

const X86_64 = wire(
  XEN_IO_PROTO_ABI_X86_64,
  { request: BLKIF_REQUEST_SIZE, response: BLKIF_RESPONSE_SIZE, entry: BLKIF_SRING_ENTRY_SIZE },
  blkif_request,
  blkif_request_discard,
  blkif_request_indirect,
  blkif_request_other,
  blkif_response,
);
const X86_32 = wire(
  XEN_IO_PROTO_ABI_X86_32,
  {
    request: BLKIF_X86_32_REQUEST_SIZE,
    response: BLKIF_X86_32_RESPONSE_SIZE,
    entry: BLKIF_X86_32_SRING_ENTRY_SIZE,
  },
  blkif_x86_32_request,
  blkif_x86_32_request_discard,
  blkif_x86_32_request_indirect,
  blkif_x86_32_request_other,
  blkif_x86_32_response,
);

/** The field offsets of `protocol`. @throws RangeError for a name that is not a BlkifProtocol. */
export function blkifWire(protocol: BlkifProtocol): BlkifWire {
  if (protocol === XEN_IO_PROTO_ABI_X86_64) return X86_64;
  if (protocol === XEN_IO_PROTO_ABI_X86_32) return X86_32;
  throw new RangeError(`unknown blkif protocol ${JSON.stringify(protocol)}`);
}

/**
 * The protocol a backend serves for a frontend's `protocol` node, as Linux blkback's
 * `connect_ring` decides it on x86: `x86_64-abi` or `x86_32-abi` as named; an absent node
 * means `BLKIF_PROTOCOL_DEFAULT`, which is `x86_32-abi` on x86; any other value is unknown
 * and returns `undefined` (the backend's fatal "unknown fe protocol %s", `-ENOSYS`).
 * Linux reads the node with `xenbus_scanf("%63s")`, so only its first whitespace-delimited
 * word counts, and a node with none (empty or blank) is treated as absent.
 */
export function blkifProtocolOf(node: string | undefined): BlkifProtocol | undefined {
  const word = node?.match(/\S+/)?.[0];
  if (word === undefined) return XEN_IO_PROTO_ABI_X86_32;
  if (word === XEN_IO_PROTO_ABI_X86_64 || word === XEN_IO_PROTO_ABI_X86_32) return word;
  return undefined;
}
