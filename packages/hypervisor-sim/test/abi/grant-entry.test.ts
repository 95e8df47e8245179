// Expected numbers: /usr/include/xen/grant_table.h, Xen 4.17 x86_64 (grant entry formats, v1 and
// v2, grant_status_t).
import { describe, expect, it } from "vitest";
import {
  GNTTAB_NR_RESERVED_ENTRIES,
  GNTTAB_RESERVED_CONSOLE,
  GNTTAB_RESERVED_XENSTORE,
  GRANT_ENTRIES_V1_PER_FRAME,
  GRANT_ENTRIES_V2_PER_FRAME,
  GRANT_ENTRY_V1_SIZE,
  GRANT_ENTRY_V2_SIZE,
  GRANT_STATUS_PER_FRAME,
  GRANT_STATUS_SIZE,
  GTF,
  grant_entry_header,
  grant_entry_v1,
  grant_entry_v2_full_page,
  grant_entry_v2_sub_page,
  grant_entry_v2_transitive,
  readField,
  writeField,
} from "@pvkit/hypervisor-sim/abi";
import { expectDisjoint, expectLayout } from "./expect-layout.js";

describe("grant_entry_v1 (grant_table.h)", () => {
  it("has the documented 8-byte layout, 512 per frame", () => {
    expectLayout(grant_entry_v1, GRANT_ENTRY_V1_SIZE, 8, {
      flags: [0, 2],
      domid: [2, 2],
      frame: [4, 4],
    });
    expectDisjoint(grant_entry_v1, ["flags", "domid", "frame"]);
    expect(GRANT_ENTRIES_V1_PER_FRAME).toBe(512);
  });

  it("encodes a read-only permit_access entry of ref 9 byte for byte", () => {
    const frame = new Uint8Array(4096);
    const dv = new DataView(frame.buffer);
    const base = 9 * GRANT_ENTRY_V1_SIZE;
    writeField(dv, base, grant_entry_v1.domid, 3);
    writeField(dv, base, grant_entry_v1.frame, 0x000abcde);
    writeField(dv, base, grant_entry_v1.flags, GTF.GTF_permit_access | GTF.GTF_readonly);
    expect(frame.subarray(72, 80)).toStrictEqual(
      Uint8Array.from([0x05, 0x00, 0x03, 0x00, 0xde, 0xbc, 0x0a, 0x00]),
    );
    expect(frame.subarray(0, 72).every((b) => b === 0)).toBe(true);
    expect(frame.subarray(80).every((b) => b === 0)).toBe(true);
  });
});

describe("grant_entry_v2 (grant_table.h)", () => {
  it("has a 4-byte header {flags u16 @0, domid u16 @2}", () => {
    expectLayout(grant_entry_header, 4, 4, { flags: [0, 2], domid: [2, 2] });
  });

  it("has the documented full_page variant in a 16-byte entry, 256 per frame", () => {
    expectLayout(grant_entry_v2_full_page, GRANT_ENTRY_V2_SIZE, 16, {
      "hdr.flags": [0, 2],
      "hdr.domid": [2, 2],
      pad0: [4, 4],
      frame: [8, 8],
    });
    expectDisjoint(grant_entry_v2_full_page, Object.keys(grant_entry_v2_full_page));
    expect(GRANT_ENTRIES_V2_PER_FRAME).toBe(256);
  });

  it("has the documented sub_page variant", () => {
    expectLayout(grant_entry_v2_sub_page, GRANT_ENTRY_V2_SIZE, 16, {
      "hdr.flags": [0, 2],
      "hdr.domid": [2, 2],
      page_off: [4, 2],
      length: [6, 2],
      frame: [8, 8],
    });
    expectDisjoint(grant_entry_v2_sub_page, Object.keys(grant_entry_v2_sub_page));
  });

  it("has the documented transitive variant", () => {
    expectLayout(grant_entry_v2_transitive, GRANT_ENTRY_V2_SIZE, 16, {
      "hdr.flags": [0, 2],
      "hdr.domid": [2, 2],
      trans_domid: [4, 2],
      pad0: [6, 2],
      gref: [8, 4],
    });
    expectDisjoint(grant_entry_v2_transitive, Object.keys(grant_entry_v2_transitive));
  });

  it("encodes a sub_page entry byte for byte", () => {
    const buf = new Uint8Array(16);
    const dv = new DataView(buf.buffer);
    writeField(dv, 0, grant_entry_v2_sub_page["hdr.domid"], 0x0102);
    writeField(dv, 0, grant_entry_v2_sub_page.page_off, 0x0200);
    writeField(dv, 0, grant_entry_v2_sub_page.length, 0x0100);
    writeField(dv, 0, grant_entry_v2_sub_page.frame, 0x1_2345_6789);
    writeField(
      dv,
      0,
      grant_entry_v2_sub_page["hdr.flags"],
      GTF.GTF_permit_access | GTF.GTF_sub_page,
    );
    // prettier-ignore
    expect(buf).toStrictEqual(
      Uint8Array.from([
        0x01, 0x01, 0x02, 0x01, 0x00, 0x02, 0x00, 0x01, 0x89, 0x67, 0x45, 0x23, 0x01, 0x00, 0x00,
        0x00,
      ]),
    );
  });

  it("reads a transitive entry from hand-built bytes", () => {
    const buf = Uint8Array.from([
      0x03, 0x00, 0x05, 0x00, 0x07, 0x00, 0x00, 0x00, 0x2a, 0x01, 0x00, 0x00, 0, 0, 0, 0,
    ]);
    const dv = new DataView(buf.buffer);
    expect(readField(dv, 0, grant_entry_v2_transitive["hdr.flags"]) & GTF.GTF_type_mask).toBe(
      GTF.GTF_transitive,
    );
    expect(readField(dv, 0, grant_entry_v2_transitive["hdr.domid"])).toBe(5);
    expect(readField(dv, 0, grant_entry_v2_transitive.trans_domid)).toBe(7);
    expect(readField(dv, 0, grant_entry_v2_transitive.gref)).toBe(0x12a);
  });
});

describe("grant_status_t and reserved refs (grant_table.h)", () => {
  it("is a u16, 2048 per status frame: one status frame per 8 grant frames", () => {
    expect(GRANT_STATUS_SIZE).toBe(2);
    expect(GRANT_STATUS_PER_FRAME).toBe(2048);
    expect(GRANT_STATUS_PER_FRAME / GRANT_ENTRIES_V2_PER_FRAME).toBe(8);
  });

  it("reserves refs 0..7, console at 0 and xenstore at 1", () => {
    expect(GNTTAB_NR_RESERVED_ENTRIES).toBe(8);
    expect(GNTTAB_RESERVED_CONSOLE).toBe(0);
    expect(GNTTAB_RESERVED_XENSTORE).toBe(1);
  });
});
