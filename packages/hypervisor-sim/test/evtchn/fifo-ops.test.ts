// The FIFO hypercalls' preconditions, one test per check in Xen 4.17's order, plus order tests
// where two bad inputs meet (`event_fifo.c`: init_control / expand_array / set_priority; port
// limits).
import { describe, expect, it } from "vitest";
import { DeadMappingError, type Guest, type Hypervisor } from "@pvkit/hypervisor-sim";
import {
  DOMID_SELF,
  EVTCHNOP,
  GNTMAP,
  GNTST,
  GNTTABOP,
  GTF,
  type evtchn_init_control,
  XENMAPSPACE,
  XENMEM,
} from "@pvkit/hypervisor-sim/abi";
import { ARRAY_GFN, CONTROL_GFN, FifoGuest } from "./fifo-consumer.js";
import {
  EACCES,
  EINVAL,
  ENOENT,
  ENOSPC,
  ENOSYS,
  EOPNOTSUPP,
  SHINFO_GFN,
  allocUnbound,
  bindIpi,
  connect,
  shinfo,
  world,
} from "./support.js";
import { domainOfGuest, internal } from "../internals.js";

const SENTINEL = 0xee;

function initControl(
  g: Guest,
  a: Partial<evtchn_init_control>,
  vcpu = 0,
): { rc: number; a: evtchn_init_control } {
  const arg: evtchn_init_control = {
    control_gfn: CONTROL_GFN,
    offset: 0,
    vcpu: 0,
    link_bits: SENTINEL,
    ...a,
  };
  return { rc: g.vcpu(vcpu).event_channel_op(EVTCHNOP.EVTCHNOP_init_control, arg), a: arg };
}
const expand = (g: Guest, array_gfn: number): number =>
  g.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_expand_array, { array_gfn });
const setPriority = (g: Guest, port: number, priority: number): number =>
  g.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_set_priority, { port, priority });
const isFifo = (hv: Hypervisor, g: Guest): boolean =>
  internal(hv.domainById(g.domid)!).fifo !== undefined;

/** `granter` grants `mapper` a RAM page, which `mapper` maps at `gfn`; returns `gfn`. */
function mapGrantOf(granter: Guest, mapper: Guest, gfn: number): number {
  const [frame] = gnttabSetupTable(granter);
  const t = granter.memory.writablePage(frame!);
  t.setU16(8 * 8 + 2, mapper.domid);
  t.setU32(8 * 8 + 4, 0x40);
  t.setU16(8 * 8, GTF.GTF_permit_access);
  const op = {
    host_addr: gfn * 4096,
    flags: GNTMAP.GNTMAP_host_map,
    ref: 8,
    dom: granter.domid,
    handle: 0,
    status: 99,
    dev_bus_addr: 0,
  };
  expect(mapper.hypercall.grant_table_op(GNTTABOP.GNTTABOP_map_grant_ref, [op], 1)).toBe(0);
  expect(op.status).toBe(GNTST.GNTST_okay);
  return gfn;
}

/** GNTTABOP_setup_table for one frame; returns its GFN. */
function gnttabSetupTable(g: Guest): number[] {
  const a = { dom: DOMID_SELF, nr_frames: 1, status: 99, frame_list: [0] };
  expect(g.hypercall.grant_table_op(GNTTABOP.GNTTABOP_setup_table, [a], 1)).toBe(0);
  return a.frame_list;
}

/** A Xen page (shared_info) placed at SHINFO_GFN, a RAM GFN's neighbour outside RAM. */
function placeSharedInfo(g: Guest): void {
  shinfo(g);
}

describe("EVTCHNOP_init_control", () => {
  it("init_control: succeeds with link_bits 17 written back and switches the domain to FIFO", () => {
    const {
      hv,
      domUs: [u],
    } = world({ vcpus: 2 });
    const { rc, a } = initControl(u!, { offset: 64 });
    expect(rc).toBe(0);
    expect(a.link_bits).toBe(17);
    expect(isFifo(hv, u!)).toBe(true);
  });

  it("init_control: -ENOENT when the vCPU does not exist, link_bits untouched", () => {
    const {
      hv,
      domUs: [u],
    } = world({ vcpus: 2 });
    for (const vcpu of [2, 31, -1, 1.5]) {
      const { rc, a } = initControl(u!, { vcpu });
      expect(rc).toBe(-ENOENT);
      expect(a.link_bits).toBe(SENTINEL);
    }
    expect(isFifo(hv, u!)).toBe(false);
  });

  it("init_control: -EINVAL when offset > 4024 (the block would cross the page)", () => {
    const {
      hv,
      domUs: [u],
    } = world({});
    expect(initControl(u!, { offset: 4024 + 8 }).rc).toBe(-EINVAL);
    expect(initControl(u!, { offset: 0xffff_fff8 }).rc).toBe(-EINVAL);
    expect(isFifo(hv, u!)).toBe(false);
    expect(initControl(u!, { offset: 4024 }).rc).toBe(0);
  });

  it("init_control: -EINVAL when offset is not 8-byte aligned", () => {
    const {
      hv,
      domUs: [u],
    } = world({});
    for (const offset of [4, 1, 4020]) expect(initControl(u!, { offset }).rc).toBe(-EINVAL);
    expect(isFifo(hv, u!)).toBe(false);
  });

  it("init_control: -EINVAL when the vCPU already has a control block", () => {
    const {
      domUs: [u],
    } = world({ vcpus: 2 });
    expect(initControl(u!, { vcpu: 1, control_gfn: CONTROL_GFN }).rc).toBe(0);
    const { rc, a } = initControl(u!, { vcpu: 1, control_gfn: CONTROL_GFN + 1 });
    expect(rc).toBe(-EINVAL);
    expect(a.link_bits).toBe(SENTINEL);
    expect(initControl(u!, { vcpu: 0, control_gfn: CONTROL_GFN + 1 }).rc).toBe(0);
  });

  it("init_control: -EINVAL when the GFN is not a page the domain owns (a hole, a grant mapping), and the domain stays 2-level", () => {
    const {
      hv,
      dom0,
      domUs: [u],
    } = world({ nrPages: 256 });
    placeSharedInfo(u!);
    const mapped = mapGrantOf(dom0, u!, 0x20000);
    for (const control_gfn of [256, 0x7fff_ffff, mapped, -1, 2.5]) {
      const { rc, a } = initControl(u!, { control_gfn });
      expect(rc).toBe(-EINVAL);
      expect(a.link_bits).toBe(SENTINEL);
    }
    expect(isFifo(hv, u!)).toBe(false);
    expect(setPriority(u!, bindIpi(u!, 0)[1], 3)).toBe(-ENOSYS);
    expect(initControl(u!, { control_gfn: 255 }).rc).toBe(0);
  });

  it("init_control: accepts the GFN holding shared_info (p2m_ram_rw, owned by the domain: map_guest_page takes it)", () => {
    const {
      hv,
      domUs: [u],
    } = world({ nrPages: 256 });
    placeSharedInfo(u!);
    const { rc, a } = initControl(u!, { control_gfn: SHINFO_GFN, offset: 0x800 - 64 });
    expect(rc).toBe(0);
    expect(a.link_bits).toBe(17);
    expect(isFifo(hv, u!)).toBe(true);
    expect(internal(hv.domainById(u!.domid)!).fifo!.vcpus[0]!.control).toBe(
      internal(hv.domainById(u!.domid)!).sharedInfo,
    );
  });

  it("init_control: accepts a grant-table frame the domain placed in its physmap (also p2m_ram_rw)", () => {
    const {
      hv,
      domUs: [u],
    } = world({ nrPages: 256 });
    const gfn = 0x30000;
    expect(
      u!.hypercall.memory_op(XENMEM.XENMEM_add_to_physmap, {
        domid: DOMID_SELF,
        space: XENMAPSPACE.XENMAPSPACE_grant_table,
        idx: 0,
        gpfn: gfn,
      }),
    ).toBe(0);
    expect(initControl(u!, { control_gfn: gfn, offset: 4096 - 72 }).rc).toBe(0);
    expect(isFifo(hv, u!)).toBe(true);
  });

  it("init_control order: -ENOENT (vCPU) wins over a bad offset and a bad GFN", () => {
    const {
      domUs: [u],
    } = world({});
    expect(initControl(u!, { vcpu: 7, offset: 3, control_gfn: 1 << 30 }).rc).toBe(-ENOENT);
  });

  it("init_control: a failed second call leaves the vCPU's first control block in use", () => {
    const {
      dom0,
      domUs: [u],
    } = world({});
    expect(initControl(u!, {}).rc).toBe(0);
    expect(initControl(u!, { offset: 4 }).rc).toBe(-EINVAL);
    expect(initControl(u!, { control_gfn: 1 << 30 }).rc).toBe(-EINVAL);
    expect(initControl(u!, { control_gfn: CONTROL_GFN + 5, offset: 128 }).rc).toBe(-EINVAL);
    expect(expand(u!, ARRAY_GFN)).toBe(0);
    const [pu, p0] = connect(u!, dom0);
    dom0.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_send, { port: p0 });
    expect(u!.memory.writablePage(CONTROL_GFN).getU32(8 + 4 * 7)).toBe(pu);
    expect(u!.memory.writablePage(CONTROL_GFN + 5).getU32(128 + 8 + 4 * 7)).toBe(0);
  });

  it("init_control: -ENOSYS through event_channel_op_compat (its union covers commands 0-9)", () => {
    const {
      hv,
      domUs: [u],
    } = world({});
    const a = { control_gfn: CONTROL_GFN, offset: 0, vcpu: 0 };
    expect(
      u!.hypercall.event_channel_op_compat({ cmd: EVTCHNOP.EVTCHNOP_init_control, u: a }),
    ).toBe(-ENOSYS);
    expect(isFifo(hv, u!)).toBe(false);
  });

  it("init_control: raises the port limit to min(2^17, max_evtchn_port + 1)", () => {
    const {
      domUs: [small, big],
    } = world({ maxEvtchnPort: 1023 }, { maxEvtchnPort: 5000, nrPages: 256 });
    for (const g of [small!, big!]) expect(initControl(g, {}).rc).toBe(0);
    let last = 0;
    for (;;) {
      const [rc, port] = allocUnbound(small!, 0);
      if (rc !== 0) {
        expect(rc).toBe(-ENOSPC);
        break;
      }
      last = port;
    }
    expect(last).toBe(1023);
    for (;;) {
      const [rc, port] = allocUnbound(big!, 0);
      if (rc !== 0) {
        expect(rc).toBe(-ENOSPC);
        break;
      }
      last = port;
    }
    expect(last).toBe(5000); // beyond the 2-level 4096
    expect(domainOfGuest(big!).evtchn.capacity).toBe(5056); // grown as ports were bound, not to 2^17
  });
});

describe("EVTCHNOP_expand_array", () => {
  it("expand_array: -EOPNOTSUPP before init_control", () => {
    const {
      domUs: [u],
    } = world({});
    expect(expand(u!, ARRAY_GFN)).toBe(-EOPNOTSUPP);
  });

  it("expand_array: -ENOSPC once the array has 128 pages", () => {
    const {
      domUs: [u],
    } = world({ nrPages: 512 });
    expect(initControl(u!, {}).rc).toBe(0);
    for (let i = 0; i < 128; i++) expect(expand(u!, 256 + i)).toBe(0);
    expect(expand(u!, 400)).toBe(-ENOSPC);
  });

  it("expand_array: -EINVAL when the GFN is not a page the domain owns (a hole, a grant mapping)", () => {
    const {
      dom0,
      domUs: [u],
    } = world({ nrPages: 256 });
    placeSharedInfo(u!);
    const mapped = mapGrantOf(dom0, u!, 0x20000);
    expect(initControl(u!, {}).rc).toBe(0);
    for (const gfn of [256, mapped, -3, 0.5]) expect(expand(u!, gfn)).toBe(-EINVAL);
    expect(expand(u!, ARRAY_GFN)).toBe(0);
  });

  it("expand_array: accepts the GFN holding shared_info as an event-array page", () => {
    const {
      domUs: [u],
    } = world({ nrPages: 256 });
    placeSharedInfo(u!);
    expect(initControl(u!, {}).rc).toBe(0);
    expect(expand(u!, SHINFO_GFN)).toBe(0);
  });

  it("expand_array order: -EOPNOTSUPP wins over a bad GFN", () => {
    const {
      domUs: [u],
    } = world({});
    expect(expand(u!, 1 << 30)).toBe(-EOPNOTSUPP);
  });

  it("expand_array order: -ENOSPC wins over a bad GFN", () => {
    const {
      domUs: [u],
    } = world({ nrPages: 512 });
    expect(initControl(u!, {}).rc).toBe(0);
    for (let i = 0; i < 128; i++) expect(expand(u!, 256 + i)).toBe(0);
    expect(expand(u!, 1 << 30)).toBe(-ENOSPC);
  });
});

describe("EVTCHNOP_set_priority", () => {
  function fifoWorld(): { hv: Hypervisor; dom0: Guest; u: Guest; f: FifoGuest } {
    const {
      hv,
      dom0,
      domUs: [u],
    } = world({ vcpus: 2 });
    const f = new FifoGuest(u!).setup();
    return { hv, dom0, u: u!, f };
  }

  it("set_priority: succeeds on a bound port for 0..15", () => {
    const { u } = fifoWorld();
    const [, p] = bindIpi(u, 0);
    for (const prio of [0, 15, 7]) expect(setPriority(u, p, prio)).toBe(0);
  });

  it("set_priority: -EINVAL when the port is not valid", () => {
    const { u } = fifoWorld();
    expect(setPriority(u, 64, 3)).toBe(-EINVAL);
    expect(setPriority(u, -1, 3)).toBe(-EINVAL);
  });

  it("set_priority: -ENOSYS on the 2-level ABI", () => {
    const {
      domUs: [u],
    } = world({});
    const [, p] = bindIpi(u!, 0);
    expect(setPriority(u!, p, 3)).toBe(-ENOSYS);
  });

  it("set_priority: -EACCES when the port is not usable (FREE, RESERVED or a Xen consumer)", () => {
    const { hv, u } = fifoWorld();
    expect(setPriority(u, 0, 3)).toBe(-EACCES);
    expect(setPriority(u, 20, 3)).toBe(-EACCES);
    const d = hv.domainById(u.domid)!;
    const xp = internal(d).evtchn.allocXenConsumer(false, 0, 0, () => {});
    expect(setPriority(u, xp, 3)).toBe(-EACCES);
  });

  it("set_priority: -EINVAL when priority > 15", () => {
    const { u } = fifoWorld();
    const [, p] = bindIpi(u, 0);
    for (const prio of [16, 0xffff_ffff, -1]) expect(setPriority(u, p, prio)).toBe(-EINVAL);
  });

  it("set_priority order: -EINVAL (port) wins over -ENOSYS, which wins over -EACCES and a bad priority", () => {
    const {
      domUs: [u],
    } = world({});
    expect(setPriority(u!, 64, 99)).toBe(-EINVAL);
    expect(setPriority(u!, 20, 99)).toBe(-ENOSYS);
  });

  it("set_priority order: -EACCES wins over a bad priority", () => {
    const { u } = fifoWorld();
    expect(setPriority(u, 20, 99)).toBe(-EACCES);
  });
});

describe("the FIFO world around the new hypercalls", () => {
  it("status keeps working under FIFO", () => {
    const {
      dom0,
      domUs: [u],
    } = world({});
    const [pa, pb] = connect(dom0, u!);
    new FifoGuest(u!).setup();
    const s = { dom: DOMID_SELF, port: pb, status: 0, vcpu: 9 } as {
      dom: number;
      port: number;
      status: number;
      vcpu: number;
      u?: unknown;
    };
    expect(u!.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_status, s)).toBe(0);
    expect(s.u).toEqual({ interdomain: { dom: 0, port: pa } });
    expect(s.vcpu).toBe(0);
  });

  it("keeps the control block's frame when the guest later puts shared_info over its GFN", () => {
    const {
      hv,
      dom0,
      domUs: [u],
    } = world({});
    const f = new FifoGuest(u!).setup();
    const [pa, pb] = connect(dom0, u!);
    const cbPage = f.cb(0);
    expect(f.unmask(pb)).toBe(0); // pending since bind: the unmask hypercall links it
    expect(f.consume(0)).toEqual([pb]);
    const rc = u!.hypercall.memory_op(XENMEM.XENMEM_add_to_physmap, {
      domid: DOMID_SELF,
      space: XENMAPSPACE.XENMAPSPACE_shared_info,
      idx: 0,
      gpfn: CONTROL_GFN,
    });
    expect(rc).toBe(0);
    dom0.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_send, { port: pa });
    // The RAM page left the physmap (the guest's view of it died), but Xen still writes it: it
    // holds a reference from map_guest_page.
    expect(() => cbPage.getU32(0)).toThrow(DeadMappingError);
    const held = internal(hv.domainById(u!.domid)!).fifo!.vcpus[0]!.control!;
    expect(held).not.toBe(internal(hv.domainById(u!.domid)!).sharedInfo);
    expect(held.dv.getUint32(0, true)).toBe(1 << 7);
    expect(held.dv.getUint32(8 + 4 * 7, true)).toBe(pb);
    expect(u!.memory.writablePage(CONTROL_GFN).getU32(8 + 4 * 7)).not.toBe(pb);
  });
  it("destroying a FIFO domain closes its ports (peers go UNBOUND) and drops its FIFO state", () => {
    const {
      hv,
      dom0,
      domUs: [u],
    } = world({});
    const [pu, p0] = connect(u!, dom0);
    new FifoGuest(u!).setup();
    const d = hv.domainById(u!.domid)!;
    hv.destroyDomain(u!.domid);
    expect(internal(d).fifo).toBeUndefined();
    const s = { dom: DOMID_SELF, port: p0 } as { dom: number; port: number; u?: unknown };
    expect(dom0.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_status, s)).toBe(0);
    expect(s.u).toEqual({ unbound: { dom: u!.domid } });
    expect(pu).toBe(1);
  });
});
