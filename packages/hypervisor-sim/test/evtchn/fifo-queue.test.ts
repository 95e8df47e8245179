// FIFO queue semantics as a guest sees them in its event array and control blocks (Xen 4.17
// event_fifo.c: evtchn_fifo_set_pending / unmask / add_page_to_event_array).
import { describe, expect, it } from "vitest";
import type { Guest, Hypervisor, Page } from "@pvkit/hypervisor-sim";
import { EVTCHNOP, SCHEDOP } from "@pvkit/hypervisor-sim/abi";
import { FifoGuest, LINKED, LINK_MASK, MASKED, PENDING } from "./fifo-consumer.js";
import {
  EOPNOTSUPP,
  ENOSYS,
  allocUnbound,
  bindInterdomain,
  bindVcpu,
  close,
  connect,
  pending,
  reset,
  send,
  setUpcallPending,
  shinfo,
  upcallPending,
  world,
} from "./support.js";
import { internal } from "../internals.js";
import { inspectDomain } from "@pvkit/hypervisor-sim/inspect";

interface Setup {
  hv: Hypervisor;
  dom0: Guest;
  u: Guest;
  f: FifoGuest;
  sh: Page;
  /** The domU's ports, each connected to dom0. */
  ports: number[];
  /** dom0 sends on the peer of the domU's ports[i]. */
  raise: (i: number) => void;
}

/** A 2-vCPU domU with `n` ports connected to dom0 (bound under 2-level, not pending), then FIFO. */
function setup(n: number, opts: { maskNewPages?: boolean; maxEvtchnPort?: number } = {}): Setup {
  const {
    hv,
    dom0,
    domUs: [u],
  } = world({ vcpus: 2, ...(opts.maxEvtchnPort ? { maxEvtchnPort: opts.maxEvtchnPort } : {}) });
  const sh = shinfo(u!);
  const ports: number[] = [];
  const peers: number[] = [];
  for (let i = 0; i < n; i++) {
    const [pu, p0] = connect(u!, dom0);
    ports.push(pu);
    peers.push(p0);
  }
  const f = new FifoGuest(u!, { maskNewPages: opts.maskNewPages ?? false }).setup();
  const raise = (i: number): void => {
    expect(send(dom0, peers[i]!)).toBe(0);
  };
  return { hv, dom0, u: u!, f, sh, ports, raise };
}

const setPriority = (g: Guest, port: number, priority: number): number =>
  g.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_set_priority, { port, priority });

describe("linking and the control block", () => {
  it("links a raised port into queue 7 of its notify vCPU: PENDING|LINKED, head[7], ready bit 7, upcall", () => {
    const {
      f,
      sh,
      ports: [a],
      raise,
    } = setup(1);
    raise(0);
    expect(f.word(a!)).toBe((PENDING | LINKED) >>> 0);
    expect(f.head(0, 7)).toBe(a);
    expect(f.ready(0)).toBe(1 << 7);
    expect(upcallPending(sh, 0)).toBe(true);
    expect(f.ready(1)).toBe(0);
    expect(upcallPending(sh, 1)).toBe(false);
  });

  it("keeps FIFO order within a priority by writing each port into the old tail's LINK", () => {
    const {
      f,
      ports: [a, b, c],
      raise,
    } = setup(3);
    raise(0);
    raise(1);
    raise(2);
    expect(f.word(a!) & LINK_MASK).toBe(b);
    expect(f.word(b!) & LINK_MASK).toBe(c);
    expect(f.word(c!) & LINK_MASK).toBe(0);
    expect(f.queue(0, 7)).toEqual([a, b, c]);
    expect(f.consume(0)).toEqual([a, b, c]);
  });

  it("writes head[q] only into an empty queue", () => {
    const {
      f,
      ports: [a, b],
      raise,
    } = setup(2);
    raise(0);
    f.cb(0).setU32(8 + 4 * 7, 0x1234); // Xen never reads head: the sentinel survives a non-empty link
    raise(1);
    expect(f.head(0, 7)).toBe(0x1234);
    expect(f.word(a!) & LINK_MASK).toBe(b);
  });

  it("writes head[q] again once the guest consumed the tail, and sets the ready bit and upcall again", () => {
    const {
      f,
      sh,
      ports: [a, b],
      raise,
    } = setup(2);
    raise(0);
    expect(f.consume(0, sh)).toEqual([a]);
    expect(f.ready(0)).toBe(0);
    expect(upcallPending(sh, 0)).toBe(false);
    raise(1);
    expect(f.head(0, 7)).toBe(b);
    expect(f.word(a!)).toBe(0);
    expect(f.ready(0)).toBe(1 << 7);
    expect(upcallPending(sh, 0)).toBe(true);
  });

  it("delivers higher priorities (lower numbers) first, FIFO within each", () => {
    const { f, u, ports, raise } = setup(5);
    const prios = [9, 2, 7, 2, 9];
    ports.forEach((p, i) => void expect(setPriority(u, p, prios[i]!)).toBe(0));
    for (let i = 0; i < 5; i++) raise(i);
    expect(f.ready(0)).toBe((1 << 2) | (1 << 7) | (1 << 9));
    expect(f.queue(0, 2)).toEqual([ports[1], ports[3]]);
    expect(f.consume(0)).toEqual([ports[1], ports[3], ports[2], ports[0], ports[4]]);
  });

  it("touches ready only when head[q] is written, and kicks only on upcall_pending 0 -> 1", () => {
    const {
      hv,
      f,
      u,
      sh,
      ports: [a, b, c],
      raise,
    } = setup(3);
    setPriority(u, c!, 3);
    const outcomes: string[] = [];
    hv.trace.on("raise", (e) => {
      if (e.domid === u.domid) outcomes.push(e.outcome);
    });
    raise(0); // empty queue 7: head, ready 0 -> 1, upcall 0 -> 1
    raise(1); // behind a
    raise(0); // a already linked
    raise(2); // empty queue 3: head and ready bit 3, but upcall_pending was already set
    expect(outcomes).toEqual(["upcall", "queued", "coalesced", "ready"]);
    expect(f.ready(0)).toBe((1 << 3) | (1 << 7));
    expect(upcallPending(sh, 0)).toBe(true);
    expect(f.queue(0, 7)).toEqual([a, b]);
  });
});

describe("masking", () => {
  it("does not link a MASKED port; the unmask hypercall clears MASKED and links it", () => {
    const {
      f,
      ports: [a],
      raise,
    } = setup(1, { maskNewPages: true });
    raise(0);
    expect(f.word(a!)).toBe((PENDING | MASKED) >>> 0);
    expect(f.ready(0)).toBe(0);
    expect(f.unmask(a!)).toBe(0); // PENDING: Linux goes through EVTCHNOP_unmask
    expect(f.word(a!)).toBe((PENDING | LINKED) >>> 0);
    expect(f.queue(0, 7)).toEqual([a]);
  });

  it("unmask hypercall on a masked port that is not pending only clears MASKED", () => {
    const {
      f,
      u,
      ports: [a],
    } = setup(1, { maskNewPages: true });
    expect(u.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_unmask, { port: a! })).toBe(0);
    expect(f.word(a!)).toBe(0);
    expect(f.ready(0)).toBe(0);
  });

  it("leaves a linked port linked when masked; the consumer unlinks it without handling it", () => {
    const {
      f,
      ports: [a, b],
      raise,
    } = setup(2);
    raise(0);
    raise(1);
    f.mask(a!);
    expect(f.consume(0)).toEqual([b]);
    expect(f.word(a!)).toBe((PENDING | MASKED) >>> 0);
    f.unmask(a!);
    expect(f.consume(0)).toEqual([a]);
  });

  it("answers is_pending and is_masked from the event word", () => {
    const {
      hv,
      u,
      f,
      ports: [a],
      raise,
    } = setup(1, { maskNewPages: true });
    const d = inspectDomain(hv, u.domid)!;
    expect(d.portIsMasked(a!)).toBe(true);
    expect(d.portIsPending(a!)).toBe(false);
    raise(0);
    expect(d.portIsPending(a!)).toBe(true);
    f.unmask(a!);
    expect(d.portIsMasked(a!)).toBe(false);
    expect(d.portIsMasked(2000)).toBe(true); // no page: masked
  });
});

describe("switching and missing pages", () => {
  it("remembers ports pending under 2-level and raises them when their page arrives, at priority 7", () => {
    const {
      hv,
      dom0,
      domUs: [u],
    } = world({ vcpus: 2 });
    const sh = shinfo(u!);
    const [p0] = allocUnbound(dom0, u!.domid).slice(1);
    const bi = { remote_dom: 0, remote_port: p0!, local_port: 0 };
    expect(u!.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_bind_interdomain, bi)).toBe(0);
    const a = bi.local_port;
    expect(pending(sh, a)).toBe(true); // set pending at bind, under 2-level
    const f = new FifoGuest(u!, { maskNewPages: false });
    expect(f.initControl(0)).toBe(0);
    expect(f.initControl(1)).toBe(0);
    setUpcallPending(sh, 0, 0); // the 2-level raise at bind had set it
    const outcomes: string[] = [];
    hv.trace.on("raise", (e) => outcomes.push(e.outcome));
    expect(f.expand()).toBe(0);
    expect(outcomes).toEqual(["upcall"]);
    expect(upcallPending(sh, 0)).toBe(true);
    expect(f.word(a)).toBe((PENDING | LINKED) >>> 0);
    expect(f.queue(0, 7)).toEqual([a]);
  });

  it("remembers a raise while the port's page is missing and raises it when expand_array adds the page", () => {
    const { hv, f, u } = setup(0, { maxEvtchnPort: 2047 });
    // Fill the first page's ports so the next binding lands on page 1.
    let hi = 0;
    for (let i = 0; i < 1024; i++) hi = allocUnbound(u, 0)[1];
    expect(hi).toBe(1024);
    const [pu, p0] = connect(u, hv.guest(0));
    expect(pu).toBe(1025);
    const outcomes: string[] = [];
    hv.trace.on("raise", (e) => outcomes.push(e.outcome));
    expect(send(hv.guest(0), p0)).toBe(0);
    expect(outcomes).toEqual(["no-page"]);
    expect(f.expand()).toBe(0); // this guest does not pre-mask new pages, so the port links at once
    expect(outcomes).toEqual(["no-page", "upcall"]);
    expect(f.word(pu)).toBe((PENDING | LINKED) >>> 0);
    expect(f.queue(0, 7)).toEqual([pu]);
  });

  it("drops an event whose notify vCPU has no control block (the word is untouched)", () => {
    const {
      hv,
      dom0,
      domUs: [u],
    } = world({ vcpus: 2 });
    const [pu, p0] = connect(u!, dom0);
    const f = new FifoGuest(u!, { maskNewPages: false });
    expect(f.initControl(0)).toBe(0);
    expect(f.expand()).toBe(0);
    expect(bindVcpu(u!, pu, 1)).toBe(0);
    const outcomes: string[] = [];
    hv.trace.on("raise", (e) => outcomes.push(e.outcome));
    send(dom0, p0);
    expect(outcomes).toEqual(["dropped"]);
    expect(f.word(pu)).toBe(0);
  });
});

describe("bind_vcpu, set_priority and the old queue", () => {
  it("keeps a linked port on its old vCPU's queue; the next link after consumption goes to the new vCPU", () => {
    const {
      f,
      u,
      ports: [a],
      raise,
    } = setup(1);
    raise(0);
    expect(bindVcpu(u, a!, 1)).toBe(0);
    raise(0);
    expect(f.queue(0, 7)).toEqual([a]);
    expect(f.ready(1)).toBe(0);
    expect(f.consume(0)).toEqual([a]);
    raise(0);
    expect(f.queue(1, 7)).toEqual([a]);
    expect(f.ready(0)).toBe(0);
  });

  it("forgets a consumed tail that moves to another queue, so the old queue starts afresh at head", () => {
    const {
      f,
      u,
      ports: [a, b],
      raise,
    } = setup(2);
    raise(0);
    expect(f.consume(0)).toEqual([a]); // a is still Xen's tail of queue 7
    expect(setPriority(u, a!, 3)).toBe(0);
    raise(0); // a goes to queue 3
    raise(1); // queue 7 is empty: b must become head, not a's successor
    expect(f.queue(0, 3)).toEqual([a]);
    expect(f.queue(0, 7)).toEqual([b]);
    expect(f.word(a!) & LINK_MASK).toBe(0);
    expect(f.consume(0)).toEqual([a, b]);
  });

  it("applies a new priority to future queueing only", () => {
    const {
      f,
      u,
      ports: [a],
      raise,
    } = setup(1);
    raise(0);
    expect(setPriority(u, a!, 1)).toBe(0);
    raise(0);
    expect(f.queue(0, 7)).toEqual([a]);
    expect(f.queue(0, 1)).toEqual([]);
  });
});

describe("close, busy ports and reset", () => {
  it("clears PENDING on close but keeps the LINKED port busy: allocation skips it until consumed", () => {
    const {
      f,
      u,
      ports: [a, b],
      raise,
    } = setup(2);
    raise(0);
    expect(close(u, a!)).toBe(0);
    expect(f.word(a!)).toBe(LINKED);
    const [, next] = allocUnbound(u, 0);
    expect(next).not.toBe(a);
    expect(next).toBeGreaterThan(b!);
    expect(f.consume(0)).toEqual([]); // unlinked, not handled: it was no longer pending
    expect(allocUnbound(u, 0)[1]).toBe(a);
  });

  it("reset returns the domain to 2-level: no priorities, no expand_array, raises in shared_info", () => {
    const {
      f,
      u,
      sh,
      ports: [a],
      raise,
      hv,
    } = setup(1);
    raise(0);
    expect(reset(u, u.domid)).toBe(0);
    expect(internal(hv.domainById(u.domid)!).fifo).toBeUndefined();
    const [, p] = allocUnbound(u, 0);
    expect(p).toBe(a); // the old word's LINKED no longer counts: 2-level has no busy ports
    expect(setPriority(u, p, 3)).toBe(-ENOSYS);
    expect(u.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_expand_array, { array_gfn: 0x200 })).toBe(
      -EOPNOTSUPP,
    );
    const [pu, p0] = connect(u, hv.guest(0));
    const before = f.word(pu);
    send(hv.guest(0), p0);
    expect(pending(sh, pu)).toBe(true);
    expect(f.word(pu)).toBe(before);
    // And FIFO can be set up again from scratch.
    expect(new FifoGuest(u, { maskNewPages: false }).initControl(0)).toBe(0);
  });
});

describe("SCHEDOP_poll under FIFO", () => {
  it("returns at once when the FIFO word is PENDING, whatever the 2-level bit says", async () => {
    const {
      u,
      sh,
      ports: [a],
      raise,
      f,
    } = setup(1, { maskNewPages: true });
    raise(0);
    expect(pending(sh, a!)).toBe(false);
    expect(f.word(a!) & PENDING).not.toBe(0);
    sh.setU8(1, 1); // upcalls masked: only the port decides
    expect(
      await u.hypercall.sched_op(SCHEDOP.SCHEDOP_poll, { ports: [a!], nr_ports: 1, timeout: 0 }),
    ).toBe(0);
  });

  it("wakes a poller when PENDING goes 0 -> 1 even on a masked port (no upcall, no kick)", async () => {
    const {
      hv,
      u,
      sh,
      ports: [a],
      raise,
      f,
    } = setup(1, { maskNewPages: true });
    sh.setU8(1, 1);
    let done = false;
    const polled = u.hypercall
      .sched_op(SCHEDOP.SCHEDOP_poll, { ports: [a!], nr_ports: 1, timeout: 0 })
      .then((rc) => {
        done = true;
        return rc;
      });
    await hv.settle();
    expect(done).toBe(false);
    raise(0);
    await hv.settle();
    expect(await polled).toBe(0);
    expect(f.ready(0)).toBe(0);
    expect(upcallPending(sh, 0)).toBe(false);
  });

  it("does not wake a multi-port poller for a raise that finds PENDING already set", async () => {
    const {
      hv,
      u,
      sh,
      ports: [a],
      raise,
      f,
    } = setup(1, { maskNewPages: true });
    sh.setU8(1, 1);
    raise(0);
    // A poll on several ports wakes on any newly pending port of the domain (evtchn_check_pollers).
    const [, x] = allocUnbound(u, 0);
    const [, y] = allocUnbound(u, 0);
    let done = false;
    void u.hypercall
      .sched_op(SCHEDOP.SCHEDOP_poll, { ports: [x, y], nr_ports: 2, timeout: 0 })
      .then(() => (done = true));
    await hv.settle();
    raise(0);
    await hv.settle();
    expect(done).toBe(false);
    f.setWord(a!, f.word(a!) & ~PENDING);
    raise(0);
    await hv.settle();
    expect(done).toBe(true);
  });
});

describe("bind_interdomain and priorities (evtchn_bind_interdomain: evtchn_port_init on lchn only)", () => {
  it("keeps the priority the owner set on its unbound port when the peer binds interdomain", () => {
    const { dom0, u, f } = setup(0);
    const [rc, pu] = allocUnbound(u, 0);
    expect(rc).toBe(0);
    expect(setPriority(u, pu, 2)).toBe(0);
    const [rc2, p0] = bindInterdomain(dom0, u.domid, pu);
    expect(rc2).toBe(0);
    expect(send(dom0, p0)).toBe(0);
    expect(f.queue(0, 2)).toEqual([pu]);
    expect(f.queue(0, 7)).toEqual([]);
  });

  it("gives the binder's new local port priority 7, whatever its previous use set", () => {
    const { dom0, u, f } = setup(0);
    const [, old] = allocUnbound(u, 0);
    expect(setPriority(u, old, 1)).toBe(0);
    expect(close(u, old)).toBe(0);
    const [, p0] = allocUnbound(dom0, u.domid);
    const [rc, pu] = bindInterdomain(u, 0, p0);
    expect(rc).toBe(0);
    expect(pu).toBe(old); // lowest free port, reused
    expect(f.consume(0)).toEqual([pu]); // bind sets the local port pending: on queue 7
    expect(send(dom0, p0)).toBe(0);
    expect(f.queue(0, 7)).toEqual([pu]);
    expect(f.queue(0, 1)).toEqual([]);
  });
});
