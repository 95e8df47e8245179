// Port allocation as guests see it (`event_channel.c`: `get_free_port`, `evtchn_allocate_port`;
// `EVTCHN_2L_NR_CHANNELS`): port 0 reserved, lowest free port,
// buckets of 64 that become valid as a whole, max_evtchn_port and the 4096-port 2-level limit.
import { describe, expect, it } from "vitest";
import { EVTCHNSTAT, VIRQ } from "@pvkit/hypervisor-sim/abi";
import {
  EINVAL,
  ENOSPC,
  EPERM,
  allocUnbound,
  bindInterdomain,
  bindIpi,
  bindPirq,
  bindVcpu,
  bindVirq,
  close,
  fill,
  masked,
  pending,
  permitPirq,
  send,
  setMask,
  shinfo,
  status,
  unmask,
  world,
} from "./support.js";
import { internal } from "../internals.js";

describe("port 0 and lowest-free allocation", () => {
  it("allocates port 1 first because port 0 is reserved at creation", () => {
    const {
      dom0,
      domUs: [u],
    } = world({});
    expect(allocUnbound(u!, 0)).toEqual([0, 1]);
    expect(bindIpi(dom0, 0)).toEqual([0, 1]);
    expect(status(u!, 0).s.status).toBe(EVTCHNSTAT.EVTCHNSTAT_closed);
    expect(bindInterdomain(dom0, u!.domid, 0)[0]).toBe(-EINVAL);
  });

  it("hands out the lowest free port across every kind of binding", () => {
    const { dom0 } = world();
    expect(allocUnbound(dom0, 0)[1]).toBe(1);
    expect(bindIpi(dom0, 1)[1]).toBe(2);
    expect(bindVirq(dom0, VIRQ.VIRQ_DOM_EXC, 0)[1]).toBe(3);
    expect(bindPirq(dom0, 4)[1]).toBe(4);
    expect(bindVirq(dom0, VIRQ.VIRQ_TIMER, 1)[1]).toBe(5);
  });

  it("reuses freed ports lowest first", () => {
    const { dom0 } = world();
    for (let i = 1; i <= 6; i++) expect(allocUnbound(dom0, 0)[1]).toBe(i);
    expect(close(dom0, 4)).toBe(0);
    expect(close(dom0, 2)).toBe(0);
    expect(close(dom0, 5)).toBe(0);
    expect(bindIpi(dom0, 0)[1]).toBe(2);
    expect(allocUnbound(dom0, 0)[1]).toBe(4);
    expect(bindVirq(dom0, VIRQ.VIRQ_DEBUG, 1)[1]).toBe(5);
    expect(allocUnbound(dom0, 0)[1]).toBe(7);
  });

  it("frees a port with its pending bit cleared and notify vCPU 0, but leaves its mask bit", () => {
    const { dom0 } = world();
    const sh = shinfo(dom0);
    const [, p] = bindIpi(dom0, 1);
    setMask(sh, p, true);
    expect(send(dom0, p)).toBe(0);
    expect(pending(sh, p)).toBe(true);
    expect(close(dom0, p)).toBe(0);
    expect(pending(sh, p)).toBe(false);
    expect(masked(sh, p)).toBe(true);
    const [, again] = allocUnbound(dom0, 0);
    expect(again).toBe(p);
    expect(status(dom0, p).s.vcpu).toBe(0);
  });

  it("resets the notify vCPU of a freed UNBOUND port that bind_vcpu had moved", () => {
    const { dom0 } = world();
    const [, p] = allocUnbound(dom0, 0);
    expect(bindVcpu(dom0, p, 1)).toBe(0);
    expect(close(dom0, p)).toBe(0);
    expect(allocUnbound(dom0, 0)[1]).toBe(p);
    expect(status(dom0, p).s.vcpu).toBe(0);
  });
});

describe("buckets of 64 ports", () => {
  it("treats FREE ports inside the first bucket as valid and ports beyond it as invalid", () => {
    const { dom0 } = world();
    expect(unmask(dom0, 63)).toBe(0);
    expect(status(dom0, 63).s.status).toBe(EVTCHNSTAT.EVTCHNSTAT_closed);
    expect(unmask(dom0, 64)).toBe(-EINVAL);
    expect(status(dom0, 64).rc).toBe(-EINVAL);
  });

  it("makes the whole second bucket valid when port 64 is allocated, and keeps it after the port closes", () => {
    const { dom0 } = world();
    for (let i = 1; i <= 63; i++) allocUnbound(dom0, 0);
    expect(unmask(dom0, 64)).toBe(-EINVAL);
    expect(allocUnbound(dom0, 0)).toEqual([0, 64]);
    expect(unmask(dom0, 127)).toBe(0);
    expect(status(dom0, 127).s.status).toBe(EVTCHNSTAT.EVTCHNSTAT_closed);
    expect(unmask(dom0, 128)).toBe(-EINVAL);
    expect(close(dom0, 64)).toBe(0);
    expect(status(dom0, 100).rc).toBe(0);
  });

  it("keeps a bucket that a refused (XSM -EPERM) alloc_unbound created", () => {
    const {
      domUs: [a, b],
    } = world({}, {});
    for (let i = 1; i <= 63; i++) allocUnbound(b!, 0);
    expect(allocUnbound(a!, a!.domid, b!.domid)[0]).toBe(-EPERM);
    expect(status(b!, 100).s.status).toBe(EVTCHNSTAT.EVTCHNSTAT_closed);
    expect(allocUnbound(b!, 0)[1]).toBe(64);
  });
});

describe("max_evtchn_port and the 2-level ABI limit", () => {
  it("gives a default domain ports 1..1023 and -ENOSPC on the 1024th", () => {
    const {
      domUs: [u],
    } = world({});
    const { ports, rc } = fill(u!);
    expect(rc).toBe(-ENOSPC);
    expect(ports.length).toBe(1023);
    expect(ports[0]).toBe(1);
    expect(ports.at(-1)).toBe(1023);
    expect(status(u!, 1023).rc).toBe(0);
    expect(status(u!, 1024).rc).toBe(-EINVAL);
  });

  it("gives dom0 ports up to 4095 on 2-level: Xen's create_dom0 passes max_evtchn_port -1, not libxl's 1023", () => {
    const { hv, dom0 } = world();
    expect(internal(hv.domainById(0)!).evtchn.maxEvtchnPort).toBe(0x7fff_ffff);
    const { ports, rc } = fill(dom0);
    expect([ports.length, ports[0], ports.at(-1), rc]).toEqual([4095, 1, 4095, -ENOSPC]);
  });

  it("caps max_evtchn_port at INT_MAX (evtchn_init) and accepts 0 (no port at all)", () => {
    const {
      hv,
      domUs: [big, none],
    } = world({ maxEvtchnPort: 0xffff_ffff }, { maxEvtchnPort: 0 });
    expect(internal(hv.domainById(big!.domid)!).evtchn.maxEvtchnPort).toBe(0x7fff_ffff);
    expect(fill(none!)).toEqual({ ports: [], rc: -ENOSPC });
    expect(() => hv.createDomain({ maxEvtchnPort: 2 ** 32 })).toThrow(RangeError);
  });

  it("lets a domain with maxEvtchnPort 4095 reach exactly port 4095", () => {
    const {
      domUs: [u],
    } = world({ maxEvtchnPort: 4095 });
    const { ports, rc } = fill(u!);
    expect([ports.length, ports.at(-1), rc]).toEqual([4095, 4095, -ENOSPC]);
  });

  it("caps a larger maxEvtchnPort at the 4096-port 2-level limit", () => {
    const {
      domUs: [u],
    } = world({ maxEvtchnPort: 100_000 });
    const { ports, rc } = fill(u!);
    expect([ports.length, ports.at(-1), rc]).toEqual([4095, 4095, -ENOSPC]);
    expect(unmask(u!, 4096)).toBe(-EINVAL);
  });

  it("stops at max_evtchn_port inside a bucket while the rest of the bucket stays valid", () => {
    const {
      domUs: [u],
    } = world({ maxEvtchnPort: 100 });
    const { ports, rc } = fill(u!);
    expect([ports.length, rc]).toEqual([100, -ENOSPC]);
    expect(unmask(u!, 127)).toBe(0);
    expect(status(u!, 101).s.status).toBe(EVTCHNSTAT.EVTCHNSTAT_closed);
    expect(close(u!, 50)).toBe(0);
    expect(allocUnbound(u!, 0)).toEqual([0, 50]);
  });

  it("returns -ENOSPC from every port-creating operation on a full domain", () => {
    const {
      hv,
      dom0,
      domUs: [u],
    } = world({ maxEvtchnPort: 1, vcpus: 2 });
    permitPirq(hv, u!.domid, 3);
    fill(u!);
    const [, p0] = allocUnbound(dom0, u!.domid);
    expect(bindInterdomain(u!, 0, p0)[0]).toBe(-ENOSPC);
    expect(bindIpi(u!, 1)[0]).toBe(-ENOSPC);
    expect(bindVirq(u!, VIRQ.VIRQ_TIMER, 1)[0]).toBe(-ENOSPC);
    expect(bindPirq(u!, 3)[0]).toBe(-ENOSPC);
  });
});
