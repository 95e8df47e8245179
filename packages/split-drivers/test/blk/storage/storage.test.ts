// The storages blkback serves: memory (sparse, zeros), raw files (real async I/O under a clock
// hold, bytes checked in the file), read-only, copy-on-write that never touches its base, and
// the params/type naming of a vbd's storage.
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "@pvkit/hypervisor-sim";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  CowStorage,
  FileStorage,
  MemoryStorage,
  ReadOnlyStorage,
  StorageError,
  openStorage,
} from "@pvkit/split-drivers";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "pvkit-blk-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("MemoryStorage", () => {
  it("reads zeros where nothing was written and refuses misaligned or out-of-range I/O", async () => {
    const m = new MemoryStorage({ bytes: 1 << 20 });
    await m.write(65_536 - 512, new Uint8Array(1024).fill(9)); // straddles chunks 0 and 1
    const b = new Uint8Array(2048);
    await m.read(65_536 - 1024, b);
    expect([b[0], b[511], b[512], b[1535], b[1536]]).toEqual([0, 0, 9, 9, 0]);
    expect(m.allocatedBytes).toBe(2 * 65536);
    await expect(m.read(100, new Uint8Array(512))).rejects.toThrow(StorageError);
    await expect(m.read((1 << 20) - 512, new Uint8Array(1024))).rejects.toMatchObject({
      code: "ERANGE",
    });
  });
  it("moves bytes between pages and the disk the same whether a span lies in one chunk or straddles two", async () => {
    // What readToPages / writeFromPages touch of a Page: write, fill, readInto over 4 KiB.
    const pageOf = (bytes: Uint8Array): Page =>
      ({
        write: (o: number, src: Uint8Array) => bytes.set(src, o),
        fill: (v: number, o: number, n: number) => bytes.fill(v, o, o + n),
        readInto: (o: number, d: Uint8Array, at: number, n: number) =>
          d.set(bytes.subarray(o, o + n), at),
      }) as unknown as Page;
    const m = new MemoryStorage({ bytes: 1 << 20 });
    const src = new Uint8Array(4096).map((_, i) => (i * 13 + 1) & 0xff);
    // One span inside chunk 1, then one straddling chunks 1 and 2, then two spans.
    m.writeFromPages(65_536 + 4096, [{ page: pageOf(src), offset: 0, length: 4096 }], 1);
    m.writeFromPages(131_072 - 1024, [{ page: pageOf(src), offset: 512, length: 2048 }], 1);
    const back = new Uint8Array(4096).fill(0xee);
    m.readToPages(65_536 + 4096, [{ page: pageOf(back), offset: 0, length: 4096 }], 1);
    expect(back).toEqual(src);
    const across = new Uint8Array(4096).fill(0xee);
    m.readToPages(131_072 - 1024, [{ page: pageOf(across), offset: 1024, length: 2048 }], 1);
    expect(across.subarray(1024, 3072)).toEqual(src.subarray(512, 2560));
    expect([across[1023], across[3072]]).toEqual([0xee, 0xee]); // outside the span: untouched
    const flat = new Uint8Array(2048);
    await m.read(131_072 - 1024, flat);
    expect(flat).toEqual(src.subarray(512, 2560));
    // A never-written chunk reads as zeros, into one span or two.
    const sparse = new Uint8Array(4096).fill(0xee);
    m.readToPages(
      512 * 1024,
      [
        { page: pageOf(sparse), offset: 0, length: 512 },
        { page: pageOf(sparse), offset: 3584, length: 512 },
      ],
      2,
    );
    expect([sparse[0], sparse[511], sparse[512], sparse[3584], sparse[4095]]).toEqual([
      0, 0, 0xee, 0, 0,
    ]);
    m.readToPages(600 * 1024, [{ page: pageOf(sparse), offset: 0, length: 4096 }], 1);
    expect(sparse.every((b) => b === 0)).toBe(true);
    expect(m.stats).toMatchObject({ reads: 5, writes: 2 }); // four readToPages, one read
    expect(() =>
      m.readToPages((1 << 20) - 512, [{ page: pageOf(back), offset: 0, length: 1024 }], 1),
    ).toThrow(expect.objectContaining({ code: "ERANGE" }));
    expect(() => m.readToPages(100, [{ page: pageOf(back), offset: 0, length: 512 }], 1)).toThrow(
      expect.objectContaining({ code: "EINVAL" }),
    );
    expect(m.stats.reads).toBe(5); // refused reads are not counted
  });
  it("refuses I/O after close with pvkit's closed-handle code, not an errno", async () => {
    const m = new MemoryStorage({ bytes: 4096 });
    await m.close();
    await expect(m.read(0, new Uint8Array(512))).rejects.toMatchObject({
      name: "StorageError",
      code: "ERR_CLOSED",
    });
    await expect(m.flush()).rejects.toMatchObject({ code: "ERR_CLOSED" });
  });
});

describe("FileStorage", () => {
  it("creates a sparse image, writes and reads it with a clock hold per I/O, and the bytes are in the file", async () => {
    const path = join(dir, "disk.img");
    const holds: string[] = [];
    let open = 0;
    const f = await FileStorage.open(path, {
      create: { bytes: 8 << 20 },
      holdClock: (reason) => (holds.push(reason), open++, { release: () => void open-- }),
    });
    expect(f.sectors).toBe(16384);
    await f.write(4096, new Uint8Array(512).fill(0xab));
    await f.flush();
    const back = new Uint8Array(1024);
    await f.read(3584, back);
    expect([back[511], back[512], back[1023]]).toEqual([0, 0xab, 0xab]);
    await f.close();
    expect(open).toBe(0);
    expect(holds.some((h) => h.startsWith("writing 512 bytes at 4096"))).toBe(true);
    const bytes = await readFile(path);
    expect(bytes.length).toBe(8 << 20);
    expect([bytes[4095], bytes[4096], bytes[4607], bytes[4608]]).toEqual([0, 0xab, 0xab, 0]);
    expect((await stat(path)).blocks * 512).toBeLessThan(1 << 20); // sparse
  });

  it("refuses writes when opened read-only", async () => {
    const path = join(dir, "ro.img");
    await writeFile(path, new Uint8Array(4096).fill(1));
    const f = await FileStorage.open(path, { readOnly: true });
    await expect(f.write(0, new Uint8Array(512))).rejects.toMatchObject({ code: "EROFS" });
    await f.close();
  });
});

describe("ReadOnlyStorage and CowStorage", () => {
  it("a read-only wrapper refuses writes before they reach the disk", async () => {
    const m = new MemoryStorage({ bytes: 4096 });
    const ro = new ReadOnlyStorage(m);
    await expect(ro.write(0, new Uint8Array(512))).rejects.toMatchObject({ code: "EROFS" });
    expect(m.stats.writes).toBe(0);
  });

  it("copy-on-write over a file keeps the base file byte-for-byte untouched", async () => {
    const path = join(dir, "base.img");
    const original = Uint8Array.from({ length: 16384 }, (_, i) => i & 0xff);
    await writeFile(path, original);
    const base = await FileStorage.open(path, { readOnly: true });
    const cow = new CowStorage(base, { ownsBase: true });
    await cow.write(4096, new Uint8Array(1024).fill(0xcd));
    await cow.discard(8192, 512, false);
    const b = new Uint8Array(16384);
    await cow.read(0, b);
    expect([b[4095], b[4096], b[5119], b[5120], b[8191], b[8192], b[8703], b[8704]]).toEqual([
      0xff, 0xcd, 0xcd, 0, 0xff, 0, 0, 0,
    ]);
    expect(b[5121]).toBe(1); // from the base again
    expect(cow.overlaySectors).toBe(3);
    await cow.close();
    expect(Buffer.from(await readFile(path)).equals(Buffer.from(original))).toBe(true);
  });
});

describe("openStorage (a vbd's type/params/mode)", () => {
  it("names memory disks, files, copy-on-write and read-only as documented", async () => {
    const m = await openStorage({ params: "memory:1048576:4096" });
    expect([m.sectorSize, m.sectors, m.readOnly]).toEqual([4096, 256, false]);
    const path = join(dir, "f.img");
    await writeFile(path, new Uint8Array(8192));
    const f = await openStorage({ type: "file", params: path, mode: "r" });
    expect([f.sectors, f.readOnly]).toEqual([16, true]);
    await f.close();
    const c = await openStorage({ type: "cow", params: path, mode: "w" });
    await c.write(0, new Uint8Array(512).fill(1));
    await c.close();
    expect((await readFile(path))[0]).toBe(0);
    await expect(openStorage({ type: "nbd", params: "x" })).rejects.toMatchObject({
      code: "EINVAL",
    });
  });
});
