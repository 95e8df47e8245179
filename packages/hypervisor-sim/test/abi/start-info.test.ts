// Expected numbers: /usr/include/xen/xen.h, Xen 4.17 (x86_64 start_info, 1168 bytes; SIF_*).
import { describe, expect, it } from "vitest";
import { Hypervisor, type Page } from "@pvkit/hypervisor-sim";
import {
  MAX_GUEST_CMDLINE,
  SIF,
  START_INFO_SIZE,
  XEN_START_INFO_MAGIC_X86_64,
  readStartInfo,
  start_info,
  writeStartInfo,
} from "@pvkit/hypervisor-sim/abi";
import { expectDisjoint, expectLayout } from "./expect-layout.js";

function freshPage(): Page {
  const hv = new Hypervisor({ mode: "manual" });
  const d = hv.createDomain({ nrPages: 4 });
  return hv.guest(d.domid).memory.writablePage(1);
}

describe("start_info (xen.h)", () => {
  it("has the documented 1168-byte x86_64 layout", () => {
    expectLayout(start_info, START_INFO_SIZE, 1168, {
      magic: [0, 32],
      nr_pages: [32, 8],
      shared_info: [40, 8],
      flags: [48, 4],
      store_mfn: [56, 8],
      store_evtchn: [64, 4],
      "console.domU.mfn": [72, 8],
      "console.domU.evtchn": [80, 4],
      "console.dom0.info_off": [72, 4],
      "console.dom0.info_size": [76, 4],
      pt_base: [88, 8],
      nr_pt_frames: [96, 8],
      mfn_list: [104, 8],
      mod_start: [112, 8],
      mod_len: [120, 8],
      cmd_line: [128, 1024],
      first_p2m_pfn: [1152, 8],
      nr_p2m_frames: [1160, 8],
    });
    const { "console.dom0.info_off": _a, "console.dom0.info_size": _b, ...domU } = start_info;
    expectDisjoint(start_info, Object.keys(domU));
    expectDisjoint(
      start_info,
      Object.keys(start_info).filter((k) => !k.startsWith("console.domU")),
    );
    expect(MAX_GUEST_CMDLINE).toBe(1024);
  });

  it("defines the SIF_* flags of xen.h", () => {
    expect(SIF).toStrictEqual({
      SIF_PRIVILEGED: 1,
      SIF_INITDOMAIN: 2,
      SIF_MULTIBOOT_MOD: 4,
      SIF_MOD_START_PFN: 8,
      SIF_VIRT_P2M_4TOOLS: 16,
      SIF_PM_MASK: 0xff00,
    });
    expect(XEN_START_INFO_MAGIC_X86_64).toBe("xen-3.0-x86_64");
  });

  it("writes a domU start_info byte for byte", () => {
    const page = freshPage();
    page.fill(0xaa); // padding and unset fields must come out zero
    writeStartInfo(page, {
      nr_pages: 0x8000,
      shared_info: 0x1_2345_6000,
      flags: SIF.SIF_MOD_START_PFN,
      store_mfn: 0xfeffe,
      store_evtchn: 1,
      console: { kind: "domU", mfn: 0xfefff, evtchn: 2 },
      pt_base: 0x1000,
      nr_pt_frames: 3,
      mfn_list: 0x2000,
      mod_start: 0x40,
      mod_len: 0x1234,
      cmd_line: "console=hvc0",
      first_p2m_pfn: 5,
      nr_p2m_frames: 6,
    });
    const want = new Uint8Array(START_INFO_SIZE);
    want.set([...Buffer.from("xen-3.0-x86_64")], 0);
    // prettier-ignore
    want.set(
      [
        0x00,
        0x80,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00, // 32 nr_pages
        0x00,
        0x60,
        0x45,
        0x23,
        0x01,
        0x00,
        0x00,
        0x00, // 40 shared_info
        0x08,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00, // 48 flags, pad
        0xfe,
        0xef,
        0x0f,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00, // 56 store_mfn
        0x01,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00, // 64 store_evtchn, pad
        0xff,
        0xef,
        0x0f,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00, // 72 console.domU.mfn
        0x02,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00, // 80 console.domU.evtchn, pad
        0x00,
        0x10,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00, // 88 pt_base
        0x03,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00, // 96 nr_pt_frames
        0x00,
        0x20,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00, // 104 mfn_list
        0x40,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00, // 112 mod_start
        0x34,
        0x12,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00, // 120 mod_len
      ],
      32,
    );
    want.set([...Buffer.from("console=hvc0")], 128);
    want.set([5, 0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0], 1152);
    expect(page.read(0, START_INFO_SIZE)).toStrictEqual(want);
    // Bytes after the struct are not touched.
    expect(page.getU8(START_INFO_SIZE)).toBe(0xaa);
    expect(page.getU8(4095)).toBe(0xaa);
  });

  it("reads back what it wrote, decoding the console union by SIF_INITDOMAIN", () => {
    const page = freshPage();
    const domU = {
      store_mfn: 77,
      store_evtchn: 3,
      nr_pages: 256,
      console: { kind: "domU", mfn: 78, evtchn: 4 },
      cmd_line: "root=/dev/xvda1 ro",
    } as const;
    writeStartInfo(page, domU);
    const got = readStartInfo(page);
    expect(got).toMatchObject({
      ...domU,
      magic: "xen-3.0-x86_64",
      flags: 0,
      pt_base: 0,
      nr_p2m_frames: 0,
    });

    writeStartInfo(
      page,
      {
        store_mfn: 9,
        store_evtchn: 5,
        flags: SIF.SIF_PRIVILEGED | SIF.SIF_INITDOMAIN,
        console: { kind: "dom0", info_off: 0x800, info_size: 0x40 },
      },
      2048,
    );
    expect(page.read(2048 + 72, 8)).toStrictEqual(
      Uint8Array.from([0x00, 0x08, 0, 0, 0x40, 0, 0, 0]),
    );
    expect(readStartInfo(page, 2048).console).toStrictEqual({
      kind: "dom0",
      info_off: 0x800,
      info_size: 0x40,
    });
    // The first copy is intact.
    expect(readStartInfo(page).store_mfn).toBe(77);
  });

  it("reads an unterminated magic and cmd_line up to the end of their fields", () => {
    const page = freshPage();
    writeStartInfo(page, { store_mfn: 1, store_evtchn: 1 });
    page.fill(0x41, 0, 32);
    page.fill(0x42, 128, 1024);
    const got = readStartInfo(page);
    expect(got.magic).toBe("A".repeat(32));
    expect(got.cmd_line).toBe("B".repeat(1024));
  });

  it("throws RangeError and leaves the page alone when a value does not fit", () => {
    const page = freshPage();
    writeStartInfo(page, { store_mfn: 1, store_evtchn: 1 });
    const before = page.read(0, START_INFO_SIZE);
    const bad = [
      { store_mfn: 1, store_evtchn: 2 ** 32 },
      { store_mfn: -1, store_evtchn: 1 },
      { store_mfn: 2 ** 53, store_evtchn: 1 },
      { store_mfn: 1.5, store_evtchn: 1 },
      { store_mfn: 1, store_evtchn: 1, flags: 2 ** 32 },
      { store_mfn: 1, store_evtchn: 1, console: { kind: "domU", mfn: 1, evtchn: 2 ** 32 } },
      {
        store_mfn: 1,
        store_evtchn: 1,
        flags: SIF.SIF_INITDOMAIN,
        console: { kind: "dom0", info_off: 2 ** 32, info_size: 0 },
      },
      { store_mfn: 1, store_evtchn: 1, magic: "x".repeat(32) },
      { store_mfn: 1, store_evtchn: 1, cmd_line: "x".repeat(1024) },
      { store_mfn: 1, store_evtchn: 1, cmd_line: "caf\u00e9" },
      { store_mfn: 1, store_evtchn: 1, console: { kind: "dom0", info_off: 0, info_size: 0 } },
      { store_mfn: 1, store_evtchn: 1, flags: SIF.SIF_INITDOMAIN },
    ] as const;
    for (const fields of bad) {
      expect(() => writeStartInfo(page, fields), JSON.stringify(fields)).toThrow(RangeError);
      expect(page.read(0, START_INFO_SIZE)).toStrictEqual(before);
    }
    expect(() => writeStartInfo(page, { store_mfn: 1, store_evtchn: 1 }, 4096 - 1167)).toThrow(
      RangeError,
    );
    expect(() => readStartInfo(page, 4096 - 1167)).toThrow(RangeError);
    // The longest strings that fit with their NUL are accepted.
    writeStartInfo(page, {
      store_mfn: 1,
      store_evtchn: 1,
      magic: "m".repeat(31),
      cmd_line: "c".repeat(1023),
    });
    expect(readStartInfo(page).cmd_line).toHaveLength(1023);
    page.setU32(60, 0x00200000); // store_mfn high half: 2^53
    expect(() => readStartInfo(page)).toThrow(RangeError);
  });
});
