// Golden bytes are hand-computed from io/blkif.h (x86_64-abi: id @8, sector_number @16,
// seg[] @24; discard nr_sectors @24; indirect handle @24, grefs @28) and from the i386 layout
// of Linux blkback's common.h (x86_32-abi: id @4, sector_number @12, seg[] @20; discard
// nr_sectors @20; indirect handle @20, grefs @24). All little-endian.
import { describe, expect, it } from "vitest";
import { BLKIF_OP } from "@pvkit/hypervisor-sim/abi";
import {
  type BlkifProtocol,
  type BlkifRequest,
  BLKIF_PROTOCOLS,
  blkifRingSpec,
  blkifWire,
  encodeBlkifRequest,
} from "@pvkit/split-drivers";
import { decodeBytes, entry, golden, requestBytes, ringPair } from "./helpers.js";

const XVDA = 0xca00; // blkif_vdev_t of xvda: 202 << 8

const read2: BlkifRequest = {
  kind: "rw",
  operation: BLKIF_OP.BLKIF_OP_READ,
  nr_segments: 2,
  handle: XVDA,
  id: 0x01_0203_0405,
  sector_number: 0x1000,
  seg: [
    { gref: 0x11223344, first_sect: 0, last_sect: 7 },
    { gref: 9, first_sect: 2, last_sect: 3 },
  ],
};
const write11: BlkifRequest = {
  kind: "rw",
  operation: BLKIF_OP.BLKIF_OP_WRITE,
  nr_segments: 11,
  handle: XVDA,
  id: 1,
  sector_number: 8,
  seg: Array.from({ length: 11 }, (_, i) => ({ gref: 0x100 + i, first_sect: 0, last_sect: 7 })),
};
const flush0: BlkifRequest = {
  kind: "rw",
  operation: BLKIF_OP.BLKIF_OP_FLUSH_DISKCACHE,
  nr_segments: 0,
  handle: XVDA,
  id: 3,
  sector_number: 0,
  seg: [],
};
const barrier1: BlkifRequest = {
  kind: "rw",
  operation: BLKIF_OP.BLKIF_OP_WRITE_BARRIER,
  nr_segments: 1,
  handle: XVDA,
  id: 4,
  sector_number: 0x20,
  seg: [{ gref: 0x77, first_sect: 1, last_sect: 1 }],
};
const discard: BlkifRequest = {
  kind: "discard",
  operation: BLKIF_OP.BLKIF_OP_DISCARD,
  flag: 1,
  handle: XVDA,
  id: 7,
  sector_number: 0x800,
  nr_sectors: 0x10000,
};
const indirect513: BlkifRequest = {
  kind: "indirect",
  operation: BLKIF_OP.BLKIF_OP_INDIRECT,
  indirect_op: BLKIF_OP.BLKIF_OP_WRITE,
  nr_segments: 513,
  handle: XVDA,
  id: 0x42,
  sector_number: 0x20,
  indirect_grefs: [0x100, 0x101],
};
const reserved: BlkifRequest = {
  kind: "other",
  operation: BLKIF_OP.BLKIF_OP_RESERVED_1,
  id: 0xab_cdef,
};
const ALL: Record<string, BlkifRequest> = {
  read2,
  write11,
  flush0,
  barrier1,
  discard,
  indirect513,
  reserved,
};

describe("blkif request golden bytes, x86_64-abi", () => {
  const P = "x86_64-abi";
  it("lays out a 2-segment read as struct blkif_request", () => {
    expect(requestBytes(read2, P)).toStrictEqual(
      golden(
        112,
        [0, 0x00, 0x02, 0x00, 0xca],
        [8, 0x05, 0x04, 0x03, 0x02, 0x01],
        [16, 0x00, 0x10],
        [24, 0x44, 0x33, 0x22, 0x11, 0x00, 0x07],
        [32, 0x09, 0x00, 0x00, 0x00, 0x02, 0x03],
      ),
    );
  });

  it("puts the 11th segment of a write at byte 104", () => {
    const b = requestBytes(write11, P);
    expect(b.slice(0, 2)).toStrictEqual([0x01, 0x0b]);
    expect(b.slice(104, 112)).toStrictEqual([0x0a, 0x01, 0, 0, 0x00, 0x07, 0, 0]);
  });

  it("lays out a flush with no segments and a barrier with one", () => {
    expect(requestBytes(flush0, P)).toStrictEqual(
      golden(112, [0, 0x03, 0x00, 0x00, 0xca], [8, 0x03]),
    );
    expect(requestBytes(barrier1, P)).toStrictEqual(
      golden(
        112,
        [0, 0x02, 0x01, 0x00, 0xca],
        [8, 0x04],
        [16, 0x20],
        [24, 0x77, 0, 0, 0, 0x01, 0x01],
      ),
    );
  });

  it("lays out a discard as struct blkif_request_discard", () => {
    expect(requestBytes(discard, P)).toStrictEqual(
      golden(112, [0, 0x05, 0x01, 0x00, 0xca], [8, 0x07], [16, 0x00, 0x08], [24, 0x00, 0x00, 0x01]),
    );
  });

  it("lays out an indirect write as struct blkif_request_indirect", () => {
    expect(requestBytes(indirect513, P)).toStrictEqual(
      golden(
        112,
        [0, 0x06, 0x01, 0x01, 0x02],
        [8, 0x42],
        [16, 0x20],
        [24, 0x00, 0xca],
        [28, 0x00, 0x01, 0, 0, 0x01, 0x01],
      ),
    );
  });

  it("writes only operation and id for another operation", () => {
    expect(requestBytes(reserved, P)).toStrictEqual(golden(112, [0, 0x04], [8, 0xef, 0xcd, 0xab]));
  });
});

describe("blkif request golden bytes, x86_32-abi", () => {
  const P = "x86_32-abi";
  it("lays out a 2-segment read as struct blkif_x86_32_request", () => {
    expect(requestBytes(read2, P)).toStrictEqual(
      golden(
        108,
        [0, 0x00, 0x02, 0x00, 0xca],
        [4, 0x05, 0x04, 0x03, 0x02, 0x01],
        [12, 0x00, 0x10],
        [20, 0x44, 0x33, 0x22, 0x11, 0x00, 0x07],
        [28, 0x09, 0x00, 0x00, 0x00, 0x02, 0x03],
      ),
    );
  });

  it("puts the 11th segment of a write at byte 100, the last 8 of 108", () => {
    const b = requestBytes(write11, P);
    expect(b.length).toBe(108);
    expect(b.slice(100, 108)).toStrictEqual([0x0a, 0x01, 0, 0, 0x00, 0x07, 0, 0]);
  });

  it("lays out a flush and a barrier", () => {
    expect(requestBytes(flush0, P)).toStrictEqual(
      golden(108, [0, 0x03, 0x00, 0x00, 0xca], [4, 0x03]),
    );
    expect(requestBytes(barrier1, P)).toStrictEqual(
      golden(
        108,
        [0, 0x02, 0x01, 0x00, 0xca],
        [4, 0x04],
        [12, 0x20],
        [20, 0x77, 0, 0, 0, 0x01, 0x01],
      ),
    );
  });

  it("lays out a discard with nr_sectors at 20", () => {
    expect(requestBytes(discard, P)).toStrictEqual(
      golden(108, [0, 0x05, 0x01, 0x00, 0xca], [4, 0x07], [12, 0x00, 0x08], [20, 0x00, 0x00, 0x01]),
    );
  });

  it("lays out an indirect write with handle at 20 and grefs at 24", () => {
    expect(requestBytes(indirect513, P)).toStrictEqual(
      golden(
        108,
        [0, 0x06, 0x01, 0x01, 0x02],
        [4, 0x42],
        [12, 0x20],
        [20, 0x00, 0xca],
        [24, 0x00, 0x01, 0, 0, 0x01, 0x01],
      ),
    );
  });

  it("writes another operation's id at 4", () => {
    expect(requestBytes(reserved, P)).toStrictEqual(golden(108, [0, 0x04], [4, 0xef, 0xcd, 0xab]));
  });
});

describe("blkif request decoding", () => {
  for (const protocol of BLKIF_PROTOCOLS) {
    it(`gives back every operation it encoded (${protocol})`, () => {
      for (const [name, req] of Object.entries(ALL))
        expect(decodeBytes(requestBytes(req, protocol), protocol), name).toStrictEqual(req);
    });
  }

  it("keeps an id of 2^53 and above exact as a bigint, below it a number", () => {
    const max: BlkifRequest = { ...reserved, id: 0xffff_ffff_ffff_ffffn };
    expect(requestBytes(max, "x86_64-abi").slice(8, 16)).toStrictEqual(new Array(8).fill(0xff));
    expect(decodeBytes(requestBytes(max, "x86_64-abi"), "x86_64-abi")).toStrictEqual(max);
    const edge = decodeBytes(
      golden(16, [0, 0x04], [8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f]),
      "x86_64-abi",
    );
    expect(edge).toStrictEqual({ kind: "other", operation: 4, id: Number.MAX_SAFE_INTEGER });
    const above = decodeBytes(golden(16, [0, 0x04], [14, 0x20]), "x86_64-abi");
    expect(above).toStrictEqual({ kind: "other", operation: 4, id: 2n ** 53n });
  });

  it("copies only min(nr_segments, 11) segments and ceil(n / 512) grefs, as Linux's private copy does", () => {
    const rw = decodeBytes(golden(112, [0, 0x01, 0xff], [24 + 88 - 8, 0x99]), "x86_64-abi");
    expect(rw.kind === "rw" && [rw.nr_segments, rw.seg.length, rw.seg[10]!.gref]).toStrictEqual([
      255, 11, 0x99,
    ]);
    const ind = decodeBytes(
      golden(112, [0, 0x06, 0x00, 0xff, 0xff], [28, 1, 0, 0, 0, 2], [56, 8]),
      "x86_64-abi",
    );
    expect(
      ind.kind === "indirect" && [
        ind.nr_segments,
        ind.indirect_grefs.length,
        ind.indirect_grefs[7],
      ],
    ).toStrictEqual([65535, 8, 8]);
    const none = decodeBytes(golden(112, [0, 0x06, 0x00], [28, 1]), "x86_64-abi");
    expect(none.kind === "indirect" && none.indirect_grefs).toStrictEqual([]);
  });

  it("decodes operations 4 and 7..255 as other, reading only their id", () => {
    for (const op of [4, 7, 128, 255]) {
      expect(
        decodeBytes(golden(108, [0, op, 0xff, 0xff, 0xff], [4, 0x09]), "x86_32-abi"),
      ).toStrictEqual({ kind: "other", operation: op, id: 9 });
    }
  });
});

describe("blkif request encoding errors", () => {
  const wire = blkifWire("x86_64-abi");
  const enc = (req: BlkifRequest) => () => encodeBlkifRequest(req, entry(112), wire);
  it("throws RangeError when seg does not hold min(nr_segments, 11) segments", () => {
    expect(enc({ ...read2, nr_segments: 3 })).toThrow(RangeError);
    expect(enc({ ...write11, nr_segments: 200 })).not.toThrow(); // a hostile count, 11 segments sent
  });
  it("throws RangeError when indirect_grefs does not fit nr_segments", () => {
    expect(enc({ ...indirect513, nr_segments: 512 })).toThrow(/needs 1 indirect pages, got 2/);
  });
  it("throws RangeError when the operation does not belong to the kind", () => {
    expect(enc({ ...read2, operation: 5 } as unknown as BlkifRequest)).toThrow(/not a rw request/);
    expect(enc({ kind: "other", operation: 6, id: 1 })).toThrow(/not a other request/);
  });
  it("throws RangeError for values that do not fit their fields", () => {
    expect(enc({ ...read2, handle: 0x1_0000 })).toThrow(RangeError);
    expect(enc({ ...read2, id: -1 })).toThrow(RangeError);
    expect(enc({ ...read2, id: 2n ** 64n })).toThrow(RangeError);
    expect(enc({ ...read2, sector_number: 2 ** 53 })).toThrow(RangeError);
    expect(
      enc({ ...read2, seg: [read2.seg[0]!, { gref: 1, first_sect: 256, last_sect: 0 }] }),
    ).toThrow(RangeError);
  });
});

describe("blkif requests through the SDK's rings", () => {
  for (const protocol of BLKIF_PROTOCOLS) {
    it(`round-trips every operation front to back, 40 times around a 32-entry ring (${protocol})`, () => {
      const { front, back } = ringPair(protocol);
      expect(front.size).toBe(32);
      const reqs = Object.values(ALL);
      for (let i = 0; i < 40; i++) {
        const req = reqs[i % reqs.length]!;
        front.produceRequest(req);
        front.pushRequestsAndCheckNotify();
        expect(back.consumeRequest()).toStrictEqual(req);
        back.produceResponse({ id: req.id, operation: req.operation, status: 0 });
        back.pushResponsesAndCheckNotify();
        expect(front.consumeResponse()).toStrictEqual({
          id: req.id,
          operation: req.operation,
          status: 0,
        });
      }
    });
  }

  for (const protocol of BLKIF_PROTOCOLS) {
    it(`keeps the consumed request when the frontend rewrites the slot afterwards (XSA-155, ${protocol})`, () => {
      const { page, front, back } = ringPair(protocol);
      front.produceRequest(read2);
      front.pushRequestsAndCheckNotify();
      const got = back.consumeRequest();
      page.fill(0xff, 64, blkifWire(protocol).requestSize); // operation 255, nr_segments 255, ...
      expect(got).toStrictEqual(read2);
    });
  }

  it("uses 112-byte entries on x86_64 and 108-byte entries on x86_32", () => {
    for (const [protocol, size] of [
      ["x86_64-abi", 112],
      ["x86_32-abi", 108],
    ] as [BlkifProtocol, number][]) {
      const { page, front } = ringPair(protocol);
      front.produceRequest(reserved);
      front.produceRequest({ ...reserved, id: 0x55 });
      // entry 1 starts at 64 + size; its operation byte is 4
      expect(page.getU8(64 + size)).toBe(4);
      expect(blkifRingSpec(protocol).entrySize).toBe(size);
    }
  });
});
