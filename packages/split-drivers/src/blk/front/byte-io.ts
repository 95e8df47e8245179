/**
 * Byte-offset access to a block device, shaped like `fs.FileHandle`'s `read` / `write`, so a
 * filesystem library written against a file handle can sit on a disk; and the Node stream and
 * async-iterator forms. Unaligned writes read the partial sectors at either end first
 * (read-modify-write); overlapping unaligned writes issued concurrently are not ordered, as on
 * any raw block device.
 */
import { Readable, Writable } from "node:stream";
import { BlkfrontError } from "./blkfront-error.js";

/** What byte I/O needs of a disk. */
export interface SectorDevice {
  readonly nodename: string;
  readonly size: number;
  readonly sectorSize: number;
  readSectorsInto(sector: number, buf: Uint8Array): Promise<void>;
  writeSectors(sector: number, data: Uint8Array): Promise<void>;
}

/** `fs.FileHandle.read`'s result. */
export interface ReadResult<B extends Uint8Array> {
  readonly bytesRead: number;
  readonly buffer: B;
}
/** `fs.FileHandle.write`'s result. */
export interface WriteResult<B extends Uint8Array> {
  readonly bytesWritten: number;
  readonly buffer: B;
}

function checkArgs(
  d: SectorDevice,
  buffer: Uint8Array,
  offset: number,
  length: number,
  position: number,
): BlkfrontError | undefined {
  if (!(buffer instanceof Uint8Array))
    return new BlkfrontError("invalid-argument", d.nodename, "buffer must be a Uint8Array");
  for (const [n, v] of [
    ["offset", offset],
    ["length", length],
    ["position", position],
  ] as const) {
    if (!Number.isSafeInteger(v) || v < 0)
      return new BlkfrontError(
        "invalid-argument",
        d.nodename,
        `${n} must be a non-negative integer, got ${v}`,
      );
  }
  if (offset + length > buffer.length)
    return new BlkfrontError(
      "invalid-argument",
      d.nodename,
      `offset ${offset} + length ${length} exceeds the buffer (${buffer.length} bytes)`,
    );
  return undefined;
}

/**
 * Reads up to `length` bytes at byte `position` into `buffer[offset..]`. Like a file, a read
 * that runs past the end of the disk returns fewer bytes (0 at or past the end).
 */
export async function readBytes<B extends Uint8Array>(
  d: SectorDevice,
  buffer: B,
  offset: number,
  length: number,
  position: number,
): Promise<ReadResult<B>> {
  const err = checkArgs(d, buffer, offset, length, position);
  if (err) throw err;
  const n = Math.max(0, Math.min(length, d.size - position));
  if (n === 0) return { bytesRead: 0, buffer };
  const ss = d.sectorSize;
  const first = Math.floor(position / ss);
  const end = Math.ceil((position + n) / ss);
  if (position % ss === 0 && n % ss === 0) {
    await d.readSectorsInto(first, buffer.subarray(offset, offset + n));
  } else {
    const tmp = new Uint8Array((end - first) * ss);
    await d.readSectorsInto(first, tmp);
    const skip = position - first * ss;
    buffer.set(tmp.subarray(skip, skip + n), offset);
  }
  return { bytesRead: n, buffer };
}

/**
 * Writes `length` bytes of `buffer[offset..]` at byte `position`.
 * @throws BlkfrontError out-of-range when it would run past the end (a disk does not grow).
 */
export async function writeBytes<B extends Uint8Array>(
  d: SectorDevice,
  buffer: B,
  offset: number,
  length: number,
  position: number,
): Promise<WriteResult<B>> {
  const err = checkArgs(d, buffer, offset, length, position);
  if (err) throw err;
  if (position + length > d.size)
    throw new BlkfrontError(
      "out-of-range",
      d.nodename,
      `bytes ${position}..${position + length - 1} are past the end of the disk (${d.size} bytes)`,
    );
  if (length === 0) return { bytesWritten: 0, buffer };
  const ss = d.sectorSize;
  const src = buffer.subarray(offset, offset + length);
  if (position % ss === 0 && length % ss === 0) {
    await d.writeSectors(position / ss, src);
    return { bytesWritten: length, buffer };
  }
  const first = Math.floor(position / ss);
  const end = Math.ceil((position + length) / ss);
  const tmp = new Uint8Array((end - first) * ss);
  const head = position % ss !== 0;
  const tail = (position + length) % ss !== 0;
  const reads: Promise<void>[] = [];
  if (head) reads.push(d.readSectorsInto(first, tmp.subarray(0, ss)));
  if (tail && (end - 1 !== first || !head))
    reads.push(d.readSectorsInto(end - 1, tmp.subarray(tmp.length - ss)));
  await Promise.all(reads);
  tmp.set(src, position - first * ss);
  await d.writeSectors(first, tmp);
  return { bytesWritten: length, buffer };
}

/** Options of the stream and iterator forms. Byte positions; `end` is inclusive, as `fs.createReadStream`. */
export interface BlockStreamOptions {
  readonly start?: number;
  readonly end?: number;
  /** Bytes per read. Default 64 KiB. */
  readonly chunkSize?: number;
}

/** The disk's bytes from `start` to `end` (inclusive), in chunks. */
export async function* iterateBytes(
  d: SectorDevice,
  opts: BlockStreamOptions = {},
): AsyncGenerator<Uint8Array, void, undefined> {
  const start = opts.start ?? 0;
  const stop = Math.min(d.size, (opts.end ?? d.size - 1) + 1);
  const size = opts.chunkSize ?? 65536;
  if (!Number.isSafeInteger(size) || size <= 0)
    throw new BlkfrontError(
      "invalid-argument",
      d.nodename,
      `chunkSize must be a positive integer, got ${size}`,
    );
  for (let pos = start; pos < stop; pos += size) {
    const buf = new Uint8Array(Math.min(size, stop - pos));
    const { bytesRead } = await readBytes(d, buf, 0, buf.length, pos);
    yield bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
  }
}

/** A Readable of the disk's bytes (`fs.createReadStream` options). */
export function readStream(d: SectorDevice, opts: BlockStreamOptions = {}): Readable {
  return Readable.from(iterateBytes(d, opts), { objectMode: false });
}

/** A Writable writing its chunks one after another from byte `start`. */
export function writeStream(d: SectorDevice, opts: { readonly start?: number } = {}): Writable {
  let pos = opts.start ?? 0;
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      const at = pos;
      pos += chunk.length;
      writeBytes(d, chunk, 0, chunk.length, at).then(
        () => cb(),
        (e: unknown) => cb(e as Error),
      );
    },
  });
}
