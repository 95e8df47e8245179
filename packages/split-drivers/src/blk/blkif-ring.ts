/**
 * The blkif ring protocol for the guest SDK's rings: `DEFINE_RING_TYPES(blkif, struct
 * blkif_request, struct blkif_response)` per protocol, as a `RingSpec` for `FrontRing.init`
 * and `BackRing.attach`.
 *
 * The request codec has no `validate`: a bad request is not a ring-level fault (the ring would
 * report or halt), it is answered with `BLKIF_RSP_ERROR` / `EOPNOTSUPP`. So a backend consumes
 * the request (the ring copies it out first, `RING_COPY_REQUEST`) and then runs
 * `validateBlkifRequest` on the decoded value, which is a copy nobody else can change.
 */
import { BLKIF_OP } from "@pvkit/hypervisor-sim/abi";
import type { EntryReader, EntryWriter, RingSpec } from "@pvkit/guest-sdk";
import { type BlkifProtocol, blkifWire } from "./blkif-protocol.js";
import { type BlkifRequest, decodeBlkifRequest, encodeBlkifRequest } from "./blkif-request.js";
import { type BlkifResponse, decodeBlkifResponse, encodeBlkifResponse } from "./blkif-response.js";

/** `BLKIF_OP_*` names without the prefix, by value. */
const OP_NAMES = new Map<number, string>(
  Object.entries(BLKIF_OP).map(([k, v]) => [v, k.slice("BLKIF_OP_".length)]),
);

const opName = (op: number): string => OP_NAMES.get(op) ?? `op ${op}`;

/**
 * A request's name in traces (`RingSpec.requestLabel`): its `BLKIF_OP_*` operation without the
 * prefix ("READ", "WRITE", "FLUSH_DISKCACHE", ...), an indirect one as "INDIRECT READ".
 */
function blkifRequestLabel(req: BlkifRequest): string {
  return req.kind === "indirect" ? `INDIRECT ${opName(req.indirect_op)}` : opName(req.operation);
}

function makeSpec(protocol: BlkifProtocol): RingSpec<BlkifRequest, BlkifResponse> {
  const wire = blkifWire(protocol);
  return Object.freeze({
    request: Object.freeze({
      size: wire.requestSize,
      encode: (req: BlkifRequest, out: EntryWriter) => encodeBlkifRequest(req, out, wire),
      decode: (input: EntryReader) => decodeBlkifRequest(input, wire),
    }),
    response: Object.freeze({
      size: wire.responseSize,
      encode: (rsp: BlkifResponse, out: EntryWriter) => encodeBlkifResponse(rsp, out, wire),
      decode: (input: EntryReader) => decodeBlkifResponse(input, wire),
    }),
    entrySize: wire.entrySize,
    requestLabel: blkifRequestLabel,
  });
}

const SPECS: Readonly<Record<BlkifProtocol, RingSpec<BlkifRequest, BlkifResponse>>> = {
  "x86_64-abi": makeSpec("x86_64-abi"),
  "x86_32-abi": makeSpec("x86_32-abi"),
};

/**
 * The ring spec of `protocol`: requests of 112 bytes (108 on x86_32), responses of 16 (12),
 * entries of 112 (108), so a one-page ring has 32 entries on both.
 * @throws RangeError for an unknown protocol name.
 */
export function blkifRingSpec(protocol: BlkifProtocol): RingSpec<BlkifRequest, BlkifResponse> {
  if (!Object.hasOwn(SPECS, protocol))
    throw new RangeError(`unknown blkif protocol ${JSON.stringify(protocol)}`);
  return SPECS[protocol];
}
