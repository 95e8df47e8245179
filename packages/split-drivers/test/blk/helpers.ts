/**
 * Helpers for the blkif codec tests: entries as bytes, golden byte arrays written as runs at
 * offsets (the offsets and bytes are hand-computed from the C layouts in each test), and a
 * front/back ring pair on a fresh page.
 */
import { Hypervisor, type Page } from "@pvkit/hypervisor-sim";
import { BackRing, FrontRing } from "@pvkit/guest-sdk";
import { EntryBuffer } from "@pvkit/guest-sdk/wire";
import {
  type BlkifProtocol,
  type BlkifRequest,
  type BlkifResponse,
  blkifRingSpec,
  blkifWire,
  decodeBlkifRequest,
  encodeBlkifRequest,
} from "@pvkit/split-drivers";

/** A zeroed array of `size` bytes with each `[offset, ...bytes]` run copied in. */
export function golden(size: number, ...runs: ReadonlyArray<readonly number[]>): number[] {
  const out = new Array<number>(size).fill(0);
  for (const [offset, ...bytes] of runs) bytes.forEach((b, i) => void (out[offset! + i] = b));
  return out;
}

/** An entry buffer of `size` bytes, every byte `fill`. */
export function entry(size: number, fill = 0): EntryBuffer {
  return new EntryBuffer(new Uint8Array(size).fill(fill));
}

/** `req` encoded in `protocol`'s layout, as a plain array of its `requestSize` bytes. */
export function requestBytes(req: BlkifRequest, protocol: BlkifProtocol): number[] {
  const wire = blkifWire(protocol);
  const buf = entry(wire.requestSize);
  encodeBlkifRequest(req, buf, wire);
  return [...buf.bytes];
}

/** Decodes raw request bytes (padded with zeros to the request size) in `protocol`'s layout. */
export function decodeBytes(bytes: readonly number[], protocol: BlkifProtocol): BlkifRequest {
  const wire = blkifWire(protocol);
  const buf = entry(wire.requestSize);
  buf.bytes.set(bytes);
  return decodeBlkifRequest(buf, wire);
}

/** One fresh ring page shared by a FrontRing (which initialises it) and a BackRing. */
export function ringPair(protocol: BlkifProtocol): {
  page: Page;
  front: FrontRing<BlkifRequest, BlkifResponse>;
  back: BackRing<BlkifRequest, BlkifResponse>;
} {
  const hv = new Hypervisor({ mode: "manual" });
  const d = hv.createDomain({ nrPages: 64 });
  const page = hv.guest(d.domid).memory.writablePage(3);
  const spec = blkifRingSpec(protocol);
  return { page, front: FrontRing.init([page], spec), back: BackRing.attach([page], spec) };
}
