// Expected numbers: /usr/include/xen/event_channel.h, Xen 4.17 x86_64 (EVTCHNOP argument
// layouts, compat evtchn_op, the evtchn_status union). sched_poll and vcpu_set_singleshot_timer:
// /usr/include/xen/sched.h and vcpu.h (Xen 4.17, x86_64).
import { describe, expect, it } from "vitest";
import {
  EVTCHNOP,
  EVTCHNOP_ARG,
  EVTCHNSTAT,
  EVTCHN_ALLOC_UNBOUND_SIZE,
  EVTCHN_BIND_INTERDOMAIN_SIZE,
  EVTCHN_BIND_IPI_SIZE,
  EVTCHN_BIND_PIRQ_SIZE,
  EVTCHN_BIND_VCPU_SIZE,
  EVTCHN_BIND_VIRQ_SIZE,
  EVTCHN_CLOSE_SIZE,
  EVTCHN_EXPAND_ARRAY_SIZE,
  EVTCHN_INIT_CONTROL_SIZE,
  EVTCHN_OP_SIZE,
  EVTCHN_OP_U_OFFSET,
  EVTCHN_RESET_SIZE,
  EVTCHN_SEND_SIZE,
  EVTCHN_SET_PRIORITY_SIZE,
  EVTCHN_STATUS_SIZE,
  EVTCHN_UNMASK_SIZE,
  SCHED_POLL_SIZE,
  VCPU_SET_SINGLESHOT_TIMER_SIZE,
  VCPU_SSHOTTMR_future,
  evtchn_alloc_unbound_layout,
  evtchn_bind_interdomain_layout,
  evtchn_bind_ipi_layout,
  evtchn_bind_pirq_layout,
  evtchn_bind_vcpu_layout,
  evtchn_bind_virq_layout,
  evtchn_close_layout,
  evtchn_expand_array_layout,
  evtchn_init_control_layout,
  evtchn_op_layout,
  evtchn_reset_layout,
  evtchn_send_layout,
  evtchn_set_priority_layout,
  evtchn_status_layout,
  evtchn_unmask_layout,
  readField,
  sched_poll_layout,
  vcpu_set_singleshot_timer_layout,
  writeField,
} from "@pvkit/hypervisor-sim/abi";
import { expectDisjoint, expectLayout } from "./expect-layout.js";

describe("EVTCHNOP argument structs (event_channel.h)", () => {
  it("lays out evtchn_bind_interdomain in 12 bytes with 2 bytes of padding at 2", () => {
    expectLayout(evtchn_bind_interdomain_layout, EVTCHN_BIND_INTERDOMAIN_SIZE, 12, {
      remote_dom: [0, 2],
      remote_port: [4, 4],
      local_port: [8, 4],
    });
  });

  it("lays out evtchn_bind_virq, evtchn_bind_pirq in 12 bytes", () => {
    expectLayout(evtchn_bind_virq_layout, EVTCHN_BIND_VIRQ_SIZE, 12, {
      virq: [0, 4],
      vcpu: [4, 4],
      port: [8, 4],
    });
    expectLayout(evtchn_bind_pirq_layout, EVTCHN_BIND_PIRQ_SIZE, 12, {
      pirq: [0, 4],
      flags: [4, 4],
      port: [8, 4],
    });
  });

  it("lays out the single-port structs close, send and unmask in 4 bytes", () => {
    expectLayout(evtchn_close_layout, EVTCHN_CLOSE_SIZE, 4, { port: [0, 4] });
    expectLayout(evtchn_send_layout, EVTCHN_SEND_SIZE, 4, { port: [0, 4] });
    expectLayout(evtchn_unmask_layout, EVTCHN_UNMASK_SIZE, 4, { port: [0, 4] });
  });

  it("lays out evtchn_status in 24 bytes with the union at 16 (event_channel.h)", () => {
    expectLayout(evtchn_status_layout, EVTCHN_STATUS_SIZE, 24, {
      dom: [0, 2],
      port: [4, 4],
      status: [8, 4],
      vcpu: [12, 4],
      u: [16, 8],
      "u.unbound.dom": [16, 2],
      "u.interdomain.dom": [16, 2],
      "u.interdomain.port": [20, 4],
      "u.pirq": [16, 4],
      "u.virq": [16, 4],
    });
    expectDisjoint(evtchn_status_layout, ["dom", "port", "status", "vcpu", "u"]);
  });

  it("lays out the 8-byte structs alloc_unbound, bind_ipi, bind_vcpu, expand_array, set_priority", () => {
    expectLayout(evtchn_alloc_unbound_layout, EVTCHN_ALLOC_UNBOUND_SIZE, 8, {
      dom: [0, 2],
      remote_dom: [2, 2],
      port: [4, 4],
    });
    expectLayout(evtchn_bind_ipi_layout, EVTCHN_BIND_IPI_SIZE, 8, { vcpu: [0, 4], port: [4, 4] });
    expectLayout(evtchn_bind_vcpu_layout, EVTCHN_BIND_VCPU_SIZE, 8, { port: [0, 4], vcpu: [4, 4] });
    expectLayout(evtchn_expand_array_layout, EVTCHN_EXPAND_ARRAY_SIZE, 8, { array_gfn: [0, 8] });
    expectLayout(evtchn_set_priority_layout, EVTCHN_SET_PRIORITY_SIZE, 8, {
      port: [0, 4],
      priority: [4, 4],
    });
  });

  it("lays out evtchn_reset in 2 bytes", () => {
    expectLayout(evtchn_reset_layout, EVTCHN_RESET_SIZE, 2, { dom: [0, 2] });
  });

  it("lays out evtchn_init_control in 24 bytes with _pad[7] at 17", () => {
    expectLayout(evtchn_init_control_layout, EVTCHN_INIT_CONTROL_SIZE, 24, {
      control_gfn: [0, 8],
      offset: [8, 4],
      vcpu: [12, 4],
      link_bits: [16, 1],
      _pad: [17, 7],
    });
    expectDisjoint(evtchn_init_control_layout, Object.keys(evtchn_init_control_layout));
  });

  it("maps every EVTCHNOP number to the struct of the documented size", () => {
    const documented: Record<number, number> = {
      0: 12,
      1: 12,
      2: 12,
      3: 4,
      4: 4,
      5: 24,
      6: 8,
      7: 8,
      8: 8,
      9: 4,
      10: 2,
      11: 24,
      12: 8,
      13: 8,
      14: 2, // reset_cont takes the reset struct
    };
    expect(
      Object.keys(EVTCHNOP_ARG)
        .map(Number)
        .sort((a, b) => a - b),
    ).toStrictEqual(Object.values(EVTCHNOP).sort((a, b) => a - b));
    for (const [cmd, size] of Object.entries(documented)) {
      expect(EVTCHNOP_ARG[Number(cmd)]?.size, `EVTCHNOP ${cmd}`).toBe(size);
    }
    expect(EVTCHNOP_ARG[EVTCHNOP.EVTCHNOP_status]?.layout).toBe(evtchn_status_layout);
    expect(EVTCHNOP_ARG[EVTCHNOP.EVTCHNOP_reset_cont]?.layout).toBe(evtchn_reset_layout);
  });
});

describe("compat struct evtchn_op (event_channel.h)", () => {
  it("is 28 bytes: cmd u32 @0 and a 24-byte union of commands 0-9 @4", () => {
    expectLayout(evtchn_op_layout, EVTCHN_OP_SIZE, 28, {
      cmd: [0, 4],
      u: [4, 24],
      "u.alloc_unbound": [4, 8],
      "u.bind_interdomain": [4, 12],
      "u.bind_virq": [4, 12],
      "u.bind_pirq": [4, 12],
      "u.bind_ipi": [4, 8],
      "u.close": [4, 4],
      "u.send": [4, 4],
      "u.status": [4, 24],
      "u.bind_vcpu": [4, 8],
      "u.unmask": [4, 4],
    });
    expect(EVTCHN_OP_U_OFFSET).toBe(4);
  });

  it("encodes a compat bind_interdomain byte for byte", () => {
    const buf = new Uint8Array(28);
    const dv = new DataView(buf.buffer);
    writeField(dv, 0, evtchn_op_layout.cmd, EVTCHNOP.EVTCHNOP_bind_interdomain);
    writeField(dv, EVTCHN_OP_U_OFFSET, evtchn_bind_interdomain_layout.remote_dom, 0x7ff0);
    writeField(dv, EVTCHN_OP_U_OFFSET, evtchn_bind_interdomain_layout.remote_port, 0x0a0b);
    writeField(dv, EVTCHN_OP_U_OFFSET, evtchn_bind_interdomain_layout.local_port, 4095);
    // prettier-ignore
    expect(buf).toStrictEqual(
      Uint8Array.from([
        0x00,
        0x00,
        0x00,
        0x00, // cmd 0
        0xf0,
        0x7f,
        0x00,
        0x00,
        0x0b,
        0x0a,
        0x00,
        0x00, // remote_dom, pad, remote_port
        0xff,
        0x0f,
        0x00,
        0x00, // local_port
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0, // rest of the union
      ]),
    );
  });
});

describe("golden evtchn structs", () => {
  it("encodes an interdomain evtchn_status answer byte for byte", () => {
    const buf = new Uint8Array(24);
    const dv = new DataView(buf.buffer);
    writeField(dv, 0, evtchn_status_layout.dom, 0x7ff0);
    writeField(dv, 0, evtchn_status_layout.port, 5);
    writeField(dv, 0, evtchn_status_layout.status, EVTCHNSTAT.EVTCHNSTAT_interdomain);
    writeField(dv, 0, evtchn_status_layout.vcpu, 1);
    writeField(dv, 0, evtchn_status_layout["u.interdomain.dom"], 3);
    writeField(dv, 0, evtchn_status_layout["u.interdomain.port"], 0x11223344);
    // prettier-ignore
    expect(buf).toStrictEqual(
      Uint8Array.from([
        0xf0, 0x7f, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
        0x00, 0x03, 0x00, 0x00, 0x00, 0x44, 0x33, 0x22, 0x11,
      ]),
    );
    // The virq and pirq members alias the first 4 bytes of the union.
    expect(readField(dv, 0, evtchn_status_layout["u.virq"])).toBe(3);
  });

  it("decodes an evtchn_init_control from hand-built bytes", () => {
    // prettier-ignore
    const buf = Uint8Array.from([
      0x00,
      0x10,
      0x02,
      0x00,
      0x00,
      0x00,
      0x00,
      0x00, // control_gfn 0x21000
      0x40,
      0x00,
      0x00,
      0x00,
      0x03,
      0x00,
      0x00,
      0x00, // offset 64, vcpu 3
      0x11,
      0,
      0,
      0,
      0,
      0,
      0,
      0, // link_bits 17
    ]);
    const dv = new DataView(buf.buffer);
    expect(readField(dv, 0, evtchn_init_control_layout.control_gfn)).toBe(0x21000);
    expect(readField(dv, 0, evtchn_init_control_layout.offset)).toBe(64);
    expect(readField(dv, 0, evtchn_init_control_layout.vcpu)).toBe(3);
    expect(readField(dv, 0, evtchn_init_control_layout.link_bits)).toBe(17);
  });

  it("rejects a port that does not fit evtchn_send.port", () => {
    const dv = new DataView(new ArrayBuffer(EVTCHN_SEND_SIZE));
    expect(() => writeField(dv, 0, evtchn_send_layout.port, 2 ** 32)).toThrow(RangeError);
    expect(() => writeField(dv, 0, evtchn_alloc_unbound_layout.dom, 0x10000)).toThrow(RangeError);
  });
});

describe("sched_poll and vcpu_set_singleshot_timer (sched.h, vcpu.h)", () => {
  it("lays out sched_poll as {ports handle @0, nr_ports u32 @8, timeout u64 @16} in 24 bytes", () => {
    expectLayout(sched_poll_layout, SCHED_POLL_SIZE, 24, {
      ports: [0, 8],
      nr_ports: [8, 4],
      timeout: [16, 8],
    });
  });

  it("lays out vcpu_set_singleshot_timer as {timeout_abs_ns u64 @0, flags u32 @8}, padded to 16", () => {
    expectLayout(vcpu_set_singleshot_timer_layout, VCPU_SET_SINGLESHOT_TIMER_SIZE, 16, {
      timeout_abs_ns: [0, 8],
      flags: [8, 4],
    });
  });

  it("encodes a singleshot timer request byte for byte", () => {
    const buf = new Uint8Array(16);
    const dv = new DataView(buf.buffer);
    writeField(dv, 0, vcpu_set_singleshot_timer_layout.timeout_abs_ns, 5_000_000_000);
    writeField(dv, 0, vcpu_set_singleshot_timer_layout.flags, VCPU_SSHOTTMR_future);
    // 5e9 = 0x1_2A05_F200
    // prettier-ignore
    expect(buf).toStrictEqual(
      Uint8Array.from([
        0x00, 0xf2, 0x05, 0x2a, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0, 0, 0, 0,
      ]),
    );
  });
});
