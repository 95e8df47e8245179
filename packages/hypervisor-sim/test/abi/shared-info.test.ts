// Expected numbers: /usr/include/xen/xen.h and arch-x86/xen.h, Xen 4.17 (x86_64 layouts of
// vcpu_time_info, vcpu_info, shared_info).
import { describe, expect, it } from "vitest";
import {
  BITS_PER_EVTCHN_WORD,
  SHARED_INFO_SIZE,
  SHINFO_EVTCHN_MASK,
  SHINFO_EVTCHN_PENDING,
  VCPU_INFO_PENDING_SEL,
  VCPU_INFO_SIZE,
  VCPU_INFO_TIME,
  VCPU_INFO_UPCALL_MASK,
  VCPU_INFO_UPCALL_PENDING,
  VCPU_TIME_INFO_SIZE,
  XEN_LEGACY_MAX_VCPUS,
  XEN_PVCLOCK_GUEST_STOPPED,
  XEN_PVCLOCK_TSC_STABLE_BIT,
  readField,
  readSignedField,
  shared_info,
  shinfoVcpuInfo,
  vcpu_info,
  vcpu_time_info,
  writeField,
} from "@pvkit/hypervisor-sim/abi";
import { expectDisjoint, expectLayout } from "./expect-layout.js";

describe("vcpu_time_info (xen.h)", () => {
  it("has the documented 32-byte layout", () => {
    expectLayout(vcpu_time_info, VCPU_TIME_INFO_SIZE, 32, {
      version: [0, 4],
      pad0: [4, 4],
      tsc_timestamp: [8, 8],
      system_time: [16, 8],
      tsc_to_system_mul: [24, 4],
      tsc_shift: [28, 1],
      flags: [29, 1],
      pad1: [30, 2],
    });
    expectDisjoint(vcpu_time_info, Object.keys(vcpu_time_info));
  });

  it("defines the flag bits TSC_STABLE = bit 0 and GUEST_STOPPED = bit 1", () => {
    expect(XEN_PVCLOCK_TSC_STABLE_BIT).toBe(1);
    expect(XEN_PVCLOCK_GUEST_STOPPED).toBe(2);
  });

  it("encodes a time record byte for byte", () => {
    const buf = new Uint8Array(32);
    const dv = new DataView(buf.buffer);
    writeField(dv, 0, vcpu_time_info.version, 2);
    writeField(dv, 0, vcpu_time_info.tsc_timestamp, 0x0102_0304_0506);
    writeField(dv, 0, vcpu_time_info.system_time, 1_000_000_000);
    writeField(dv, 0, vcpu_time_info.tsc_to_system_mul, 0x80000000);
    writeField(dv, 0, vcpu_time_info.tsc_shift, 0xff); // s8 -1
    writeField(dv, 0, vcpu_time_info.flags, XEN_PVCLOCK_TSC_STABLE_BIT);
    // prettier-ignore
    expect(buf).toStrictEqual(
      Uint8Array.from([
        0x02,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00, // version, pad0
        0x06,
        0x05,
        0x04,
        0x03,
        0x02,
        0x01,
        0x00,
        0x00, // tsc_timestamp
        0x00,
        0xca,
        0x9a,
        0x3b,
        0x00,
        0x00,
        0x00,
        0x00, // system_time = 1e9 ns
        0x00,
        0x00,
        0x00,
        0x80,
        0xff,
        0x01,
        0x00,
        0x00, // mul, shift, flags, pad1
      ]),
    );
    expect(readSignedField(dv, 0, vcpu_time_info.tsc_shift)).toBe(-1);
  });
});

describe("vcpu_info (xen.h)", () => {
  it("has the documented 64-byte layout", () => {
    expectLayout(vcpu_info, VCPU_INFO_SIZE, 64, {
      evtchn_upcall_pending: [0, 1],
      evtchn_upcall_mask: [1, 1],
      evtchn_pending_sel: [8, 8],
      "arch.cr2": [16, 8],
      "arch.pad": [24, 8],
      time: [32, 32],
    });
    expectDisjoint(vcpu_info, Object.keys(vcpu_info));
  });

  it("exports offset constants equal to the documented offsets", () => {
    expect([
      VCPU_INFO_UPCALL_PENDING,
      VCPU_INFO_UPCALL_MASK,
      VCPU_INFO_PENDING_SEL,
      VCPU_INFO_TIME,
    ]).toStrictEqual([0, 1, 8, 32]);
  });

  it("encodes pending, mask and selector byte for byte", () => {
    const buf = new Uint8Array(64);
    const dv = new DataView(buf.buffer);
    writeField(dv, 0, vcpu_info.evtchn_upcall_pending, 1);
    writeField(dv, 0, vcpu_info.evtchn_upcall_mask, 1);
    writeField(dv, 0, vcpu_info.evtchn_pending_sel, 2 ** 40 + 0b101);
    const want = new Uint8Array(64);
    want.set([0x01, 0x01], 0);
    want.set([0x05, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00], 8);
    expect(buf).toStrictEqual(want);
  });
});

describe("shared_info (xen.h)", () => {
  it("has the documented 3136-byte layout", () => {
    expectLayout(shared_info, SHARED_INFO_SIZE, 3136, {
      vcpu_info: [0x000, 32 * 64],
      evtchn_pending: [0x800, 64 * 8],
      evtchn_mask: [0xa00, 512],
      wc_version: [0xc00, 4],
      wc_sec: [0xc04, 4],
      wc_nsec: [0xc08, 4],
      wc_sec_hi: [0xc0c, 4],
      "arch.max_pfn": [0xc10, 8],
      "arch.pfn_to_mfn_frame_list_list": [0xc18, 8],
      "arch.nmi_reason": [0xc20, 8],
      "arch.p2m_cr3": [0xc28, 8],
      "arch.p2m_vaddr": [0xc30, 8],
      "arch.p2m_generation": [0xc38, 8],
    });
    expectDisjoint(shared_info, Object.keys(shared_info));
  });

  it("places vCPU i's vcpu_info at i * 64 for the 32 legacy slots", () => {
    expect(XEN_LEGACY_MAX_VCPUS).toBe(32);
    expect(shinfoVcpuInfo(0)).toBe(0);
    expect(shinfoVcpuInfo(1)).toBe(64);
    expect(shinfoVcpuInfo(31)).toBe(31 * 64);
    expect(shinfoVcpuInfo(31) + VCPU_INFO_SIZE).toBe(0x800);
  });

  it("addresses port p at byte 0x800 + p/8, bit p%8 (64-bit words, little-endian bitops)", () => {
    expect(SHINFO_EVTCHN_PENDING).toBe(0x800);
    expect(SHINFO_EVTCHN_MASK).toBe(0xa00);
    expect(BITS_PER_EVTCHN_WORD).toBe(64);
    const page = new Uint8Array(4096);
    const dv = new DataView(page.buffer);
    const port = 77; // word 1, bit 13
    writeField(dv, 0, [SHINFO_EVTCHN_PENDING + 8 * Math.floor(port / 64), 8], 2 ** (port % 64));
    expect(page[0x800 + Math.floor(port / 8)]).toBe(1 << (port % 8));
    expect(page.reduce((n, b) => n + (b === 0 ? 0 : 1), 0)).toBe(1);
  });

  it("encodes the wallclock and arch fields at 0xC00..0xC3F", () => {
    const page = new Uint8Array(4096);
    const dv = new DataView(page.buffer);
    writeField(dv, 0, shared_info.wc_version, 4);
    writeField(dv, 0, shared_info.wc_sec, 0x66554433);
    writeField(dv, 0, shared_info.wc_nsec, 999_999_999);
    writeField(dv, 0, shared_info.wc_sec_hi, 1);
    writeField(dv, 0, shared_info["arch.max_pfn"], 0x40000);
    writeField(dv, 0, shared_info["arch.p2m_generation"], 7);
    // prettier-ignore
    const want = Uint8Array.from([
      0x04,
      0x00,
      0x00,
      0x00,
      0x33,
      0x44,
      0x55,
      0x66, // 0xC00 wc_version, wc_sec
      0xff,
      0xc9,
      0x9a,
      0x3b,
      0x01,
      0x00,
      0x00,
      0x00, // 0xC08 wc_nsec, wc_sec_hi
      0x00,
      0x00,
      0x04,
      0x00,
      0x00,
      0x00,
      0x00,
      0x00, // 0xC10 arch.max_pfn
    ]);
    expect(page.subarray(0xc00, 0xc18)).toStrictEqual(want);
    expect(page.subarray(0xc38, 0xc40)).toStrictEqual(Uint8Array.from([7, 0, 0, 0, 0, 0, 0, 0]));
    expect(readField(dv, 0, shared_info["arch.max_pfn"])).toBe(0x40000);
  });
});
