// Expected numbers: /usr/include/xen/event_channel.h, Xen 4.17 (EVTCHNOP numbers,
// BIND_PIRQ__WILL_SHARE, EVTCHNSTAT, EVTCHN_2L_NR_CHANNELS and EVTCHN_FIFO_NR_CHANNELS).
import { describe, expect, it } from "vitest";
import {
  BIND_PIRQ__WILL_SHARE,
  EVTCHNOP,
  EVTCHNSTAT,
  EVTCHN_2L_NR_CHANNELS,
  EVTCHN_FIFO_NR_CHANNELS,
} from "@pvkit/hypervisor-sim/abi";

describe("event_channel.h constants", () => {
  it("numbers the EVTCHNOP commands as event_channel.h does", () => {
    expect(EVTCHNOP).toStrictEqual({
      EVTCHNOP_bind_interdomain: 0,
      EVTCHNOP_bind_virq: 1,
      EVTCHNOP_bind_pirq: 2,
      EVTCHNOP_close: 3,
      EVTCHNOP_send: 4,
      EVTCHNOP_status: 5,
      EVTCHNOP_alloc_unbound: 6,
      EVTCHNOP_bind_ipi: 7,
      EVTCHNOP_bind_vcpu: 8,
      EVTCHNOP_unmask: 9,
      EVTCHNOP_reset: 10,
      EVTCHNOP_init_control: 11,
      EVTCHNOP_expand_array: 12,
      EVTCHNOP_set_priority: 13,
      EVTCHNOP_reset_cont: 14,
    });
    expect(BIND_PIRQ__WILL_SHARE).toBe(1);
  });

  it("numbers the EVTCHNSTAT values as event_channel.h does", () => {
    expect(EVTCHNSTAT).toStrictEqual({
      EVTCHNSTAT_closed: 0,
      EVTCHNSTAT_unbound: 1,
      EVTCHNSTAT_interdomain: 2,
      EVTCHNSTAT_pirq: 3,
      EVTCHNSTAT_virq: 4,
      EVTCHNSTAT_ipi: 5,
    });
  });

  it("limits 2-level 64-bit guests to 64 x 64 ports and FIFO to 2^17", () => {
    expect(EVTCHN_2L_NR_CHANNELS).toBe(4096);
    expect(EVTCHN_FIFO_NR_CHANNELS).toBe(131072);
  });
});
