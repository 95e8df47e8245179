// Model-based property test of the FIFO event ABI: random sequences of send / mask / unmask /
// close / bind / bind_vcpu / set_priority / expand_array / guest-consume on a 2-vCPU domU, run
// against the simulator and a tiny model of Xen 4.17's queues (`event_fifo.c`). After every step
// the event words, the queues the guest can walk, the ready bits and upcall_pending must match.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { Guest, Page } from "@pvkit/hypervisor-sim";
import { EVTCHNOP } from "@pvkit/hypervisor-sim/abi";
import { FifoGuest, LINKED, MASKED, PENDING } from "./fifo-consumer.js";
import {
  EACCES,
  EINVAL,
  ackVcpu,
  allocUnbound,
  bindVcpu,
  close,
  send,
  shinfo,
  upcallPending,
  world,
} from "./support.js";

/** Ports the invariants look at (all ports a run can reach). */
const SCAN = 64;

type Action =
  | { t: "send"; i: number }
  | { t: "mask"; port: number }
  | { t: "unmask"; port: number }
  | { t: "close"; i: number }
  | { t: "bind" }
  | { t: "bindVcpu"; i: number; vcpu: number }
  | { t: "prio"; port: number; prio: number }
  | { t: "consume"; vcpu: number }
  | { t: "expand" };

const port = fc.integer({ min: 1, max: 12 });
const idx = fc.nat({ max: 20 });
const action: fc.Arbitrary<Action> = fc.oneof(
  { arbitrary: fc.record({ t: fc.constant("send" as const), i: idx }), weight: 6 },
  { arbitrary: fc.record({ t: fc.constant("mask" as const), port }), weight: 2 },
  { arbitrary: fc.record({ t: fc.constant("unmask" as const), port }), weight: 3 },
  { arbitrary: fc.record({ t: fc.constant("close" as const), i: idx }), weight: 2 },
  { arbitrary: fc.constant({ t: "bind" as const }), weight: 3 },
  {
    arbitrary: fc.record({ t: fc.constant("bindVcpu" as const), i: idx, vcpu: fc.nat({ max: 1 }) }),
    weight: 2,
  },
  {
    arbitrary: fc.record({ t: fc.constant("prio" as const), port, prio: fc.nat({ max: 16 }) }),
    weight: 2,
  },
  {
    arbitrary: fc.record({ t: fc.constant("consume" as const), vcpu: fc.nat({ max: 1 }) }),
    weight: 4,
  },
  { arbitrary: fc.constant({ t: "expand" as const }), weight: 1 },
);

/** The model: what Xen plus a Linux-like guest must have produced. */
class Model {
  hasPage = false;
  pages = 0;
  /** Bound domU ports → their dom0 peer. */
  readonly bound = new Map<number, number>();
  readonly notify = new Array<number>(SCAN).fill(0);
  readonly prio = new Array<number>(SCAN).fill(7);
  /** Xen's evtchn->pending: raised while the page was missing (never cleared, as in Xen). */
  readonly remembered = new Set<number>();
  readonly pending = new Set<number>();
  readonly masked = new Set<number>();
  readonly queues: number[][][] = [0, 1].map(() => Array.from({ length: 16 }, () => []));
  readonly upcall = [false, false];

  linked(p: number): boolean {
    return this.queues.some((qs) => qs.some((q) => q.includes(p)));
  }

  raise(p: number): void {
    if (!this.hasPage) {
      this.remembered.add(p);
      return;
    }
    this.pending.add(p);
    if (this.masked.has(p) || this.linked(p)) return;
    const v = this.notify[p]!;
    const q = this.queues[v]![this.prio[p]!]!;
    if (q.length === 0) this.upcall[v] = true;
    q.push(p);
  }

  /** The lowest port that is FREE and not busy (LINKED). */
  freePort(): number {
    for (let p = 1; ; p++) if (!this.bound.has(p) && !this.linked(p)) return p;
  }
}

function sorted(m: Model): number[] {
  return [...m.bound.keys()].sort((a, b) => a - b);
}

function check(m: Model, f: FifoGuest, sh: Page): void {
  for (const v of [0, 1]) {
    expect(upcallPending(sh, v), `upcall_pending vCPU ${v}`).toBe(m.upcall[v]);
    for (let q = 0; q < 16; q++) {
      const want = m.queues[v]![q]!;
      expect(((f.ready(v) >>> q) & 1) === 1, `ready bit ${q} of vCPU ${v}`).toBe(want.length > 0);
      if (m.hasPage) expect(f.queue(v, q), `queue ${v}/${q}`).toEqual(want);
    }
  }
  if (!m.hasPage) return;
  for (let p = 0; p < SCAN; p++) {
    const w = f.word(p);
    expect((w & PENDING) !== 0, `PENDING ${p}`).toBe(m.pending.has(p));
    expect((w & MASKED) !== 0, `MASKED ${p}`).toBe(m.masked.has(p));
    expect((w & LINKED) !== 0, `LINKED ${p}`).toBe(m.linked(p));
    // Every pending, unmasked, bound port is queued somewhere.
    if (m.bound.has(p) && m.pending.has(p) && !m.masked.has(p))
      expect(m.linked(p), `port ${p} lost`).toBe(true);
  }
}

function bind(m: Model, u: Guest, dom0: Guest): void {
  const [rc0, p0] = allocUnbound(dom0, u.domid);
  expect(rc0).toBe(0);
  const a = { remote_dom: 0, remote_port: p0, local_port: 0 };
  expect(u.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_bind_interdomain, a)).toBe(0);
  expect(a.local_port).toBe(m.freePort());
  m.bound.set(a.local_port, p0);
  m.notify[a.local_port] = 0;
  m.prio[a.local_port] = 7;
  m.raise(a.local_port); // pending at bind
}

function step(
  m: Model,
  a: Action,
  f: FifoGuest,
  u: Guest,
  dom0: Guest,
  sh: Page,
  maskNew: boolean,
): void {
  const ports = sorted(m);
  const pick = (i: number): number | undefined =>
    ports.length === 0 ? undefined : ports[i % ports.length];
  switch (a.t) {
    case "send": {
      const p = pick(a.i);
      if (p === undefined) return;
      expect(send(dom0, m.bound.get(p)!)).toBe(0);
      m.raise(p);
      return;
    }
    case "mask":
      if (!m.hasPage) return;
      f.mask(a.port);
      m.masked.add(a.port);
      return;
    case "unmask":
      if (!m.hasPage || !m.masked.has(a.port)) return;
      expect(f.unmask(a.port)).toBe(0);
      if (!m.pending.has(a.port))
        m.masked.delete(a.port); // local clear
      else if (m.bound.has(a.port)) {
        m.masked.delete(a.port); // EVTCHNOP_unmask on a usable port
        m.raise(a.port);
      }
      return;
    case "close": {
      const p = pick(a.i);
      if (p === undefined) return;
      expect(close(u, p)).toBe(0);
      m.bound.delete(p);
      m.notify[p] = 0;
      m.pending.delete(p);
      return;
    }
    case "bind":
      bind(m, u, dom0);
      return;
    case "bindVcpu": {
      const p = pick(a.i);
      if (p === undefined) return;
      expect(bindVcpu(u, p, a.vcpu)).toBe(0);
      m.notify[p] = a.vcpu;
      return;
    }
    case "prio": {
      const rc = u.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_set_priority, {
        port: a.port,
        priority: a.prio,
      });
      const want = !m.bound.has(a.port) ? -EACCES : a.prio > 15 ? -EINVAL : 0;
      expect(rc).toBe(want);
      if (rc === 0) m.prio[a.port] = a.prio;
      return;
    }
    case "consume": {
      const got = f.consume(a.vcpu, sh);
      const want: number[] = [];
      m.upcall[a.vcpu] = false;
      for (const q of m.queues[a.vcpu]!) {
        for (const p of q.splice(0)) {
          if (m.pending.has(p) && !m.masked.has(p)) {
            want.push(p);
            m.pending.delete(p);
          }
        }
      }
      expect(got).toEqual(want);
      return;
    }
    case "expand": {
      if (m.pages >= 3) return;
      expect(f.expand()).toBe(0);
      m.pages++;
      if (m.pages > 1) return;
      m.hasPage = true;
      if (maskNew) for (let p = 0; p < SCAN; p++) m.masked.add(p);
      // add_page_to_event_array: raise again, lowest port first, what was raised while missing.
      for (const p of [...m.remembered].sort((x, y) => x - y)) m.raise(p);
      return;
    }
  }
}

describe("FIFO event channels against a model", () => {
  it("keeps event words, queues, ready bits and upcall_pending in step with the model", () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.boolean(),
        fc.array(action, { minLength: 1, maxLength: 40 }),
        (maskNew, pageFirst, actions) => {
          const {
            dom0,
            domUs: [u],
          } = world({ vcpus: 2 });
          const sh = shinfo(u!);
          const m = new Model();
          // Three ports bound under 2-level; each is pending at bind and is remembered at the switch.
          for (let i = 0; i < 3; i++) bind(m, u!, dom0);
          ackVcpu(sh, 0);
          const f = new FifoGuest(u!, { maskNewPages: maskNew });
          expect(f.initControl(0)).toBe(0);
          expect(f.initControl(1)).toBe(0);
          if (pageFirst) step(m, { t: "expand" }, f, u!, dom0, sh, maskNew);
          check(m, f, sh);
          for (const a of actions) {
            step(m, a, f, u!, dom0, sh, maskNew);
            check(m, f, sh);
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
