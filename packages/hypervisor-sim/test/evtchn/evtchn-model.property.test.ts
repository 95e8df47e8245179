// Model-based property test of the 2-level event channels: random sequences of EVTCHNOPs, guest
// bit fiddling and domain re-creation across three domains, run against the simulator and against
// a small independent model of Xen 4.17 (ports, buckets, peers, and the shared_info bits). After
// every step the two must agree on each result, on every port's status, and on every bit.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { DomainOptions, Guest, Hypervisor, Page } from "@pvkit/hypervisor-sim";
import {
  DOMID_SELF,
  EVTCHNOP,
  EVTCHNSTAT,
  NR_VIRQS,
  VIRQ,
  virqIsPerVcpu,
} from "@pvkit/hypervisor-sim/abi";
import {
  EINVAL,
  ENOENT,
  ENOSPC,
  EPERM,
  ESRCH,
  EEXIST,
  setMask,
  setUpcallPending,
  shinfo,
  world,
} from "./support.js";

// ---- the model --------------------------------------------------------------------------------

type Kind = "UNBOUND" | "INTERDOMAIN" | "VIRQ" | "IPI";
interface MPort {
  kind: Kind;
  /** UNBOUND: allowed remote domid; INTERDOMAIN: peer domid. */
  dom: number;
  /** INTERDOMAIN: peer port. */
  port: number;
  virq: number;
  notify: number;
}
interface MDom {
  domid: number;
  vcpus: number;
  maxPort: number;
  privileged: boolean;
  /** Ports Xen considers valid: whole buckets of 64. */
  valid: number;
  ports: Map<number, MPort>;
  /** `${vcpu}:${virq}` → port (global VIRQs live on vCPU 0). */
  virqs: Map<string, number>;
  pending: Set<number>;
  mask: Set<number>;
  sel: Set<number>[];
  upcall: boolean[];
}

const GHOST_DOMID = 0x7000;
const NR_PORTS_2L = 4096;

function newMDom(
  domid: number,
  o: Required<Pick<DomainOptions, "vcpus" | "maxEvtchnPort">>,
  privileged: boolean,
): MDom {
  return {
    domid,
    vcpus: o.vcpus,
    maxPort: o.maxEvtchnPort,
    privileged,
    valid: 64,
    ports: new Map(),
    virqs: new Map(),
    pending: new Set(),
    mask: new Set(),
    sel: Array.from({ length: o.vcpus }, () => new Set<number>()),
    upcall: Array.from({ length: o.vcpus }, () => false),
  };
}

/** get_free_port(): lowest FREE port (port 0 is RESERVED); a new bucket on the way up stays valid. */
function mGetFreePort(d: MDom): number {
  let port = 1;
  for (; port < d.valid; port++) {
    if (port > d.maxPort) return -ENOSPC;
    if (!d.ports.has(port)) return port;
  }
  if (port >= NR_PORTS_2L || port > d.maxPort) return -ENOSPC;
  d.valid += 64;
  return port;
}

/** evtchn_2l_set_pending() on the port's notify vCPU. */
function mRaise(d: MDom, port: number): void {
  const v = d.ports.get(port)!.notify;
  if (d.pending.has(port)) return;
  d.pending.add(port);
  if (d.mask.has(port)) return;
  if (d.sel[v]!.has(port >>> 6)) return;
  d.sel[v]!.add(port >>> 6);
  d.upcall[v] = true;
}

// ---- commands ---------------------------------------------------------------------------------

type Slot = 0 | 1 | 2;
type DomRef = Slot | "self" | "ghost";
/** For bind_interdomain: "offer" = a domain holding an UNBOUND port that accepts the caller. */
type BindRef = DomRef | "offer";
/** How a port number is chosen at run time: among bound ports, UNBOUND ones, or any number. */
interface PortPick {
  /** "forMe": an UNBOUND port that accepts the caller. */
  mode: "bound" | "unbound" | "forMe" | "raw";
  n: number;
}
type Cmd =
  | { k: "alloc"; caller: Slot; target: DomRef; remote: DomRef; count: number }
  | { k: "bind"; caller: Slot; remote: BindRef; pick: PortPick }
  | { k: "ipi"; caller: Slot; vcpu: number }
  | { k: "virq"; caller: Slot; virq: number; vcpu: number }
  | { k: "close" | "send" | "unmask" | "mask" | "clear"; caller: Slot; pick: PortPick }
  | { k: "status"; caller: Slot; target: DomRef; pick: PortPick }
  | { k: "bindVcpu"; caller: Slot; pick: PortPick; vcpu: number }
  /** The guest clears upcall_pending and/or takes its selector word. */
  | { k: "ack"; caller: Slot; vcpu: number; upcall: boolean; sel: boolean }
  | { k: "recreate"; slot: 1 | 2 }
  /** alloc_unbound by `caller` for `peer`, then bind_interdomain by `peer` to an offered port. */
  | { k: "connect"; caller: Slot; peer: Slot; n: number };

const slot = fc.constantFrom<Slot>(0, 1, 2);
const domRef = fc.constantFrom<DomRef>(0, 1, 2, "self", "self", "ghost");
const allocTarget = fc.constantFrom<DomRef>(
  0,
  1,
  2,
  "self",
  "self",
  "self",
  "self",
  "self",
  "ghost",
);
const bindRef = fc.constantFrom<BindRef>(
  0,
  1,
  2,
  "self",
  "ghost",
  "offer",
  "offer",
  "offer",
  "offer",
  "offer",
);
const pick = fc.record({
  mode: fc.constantFrom<PortPick["mode"]>("bound", "bound", "bound", "unbound", "raw"),
  n: fc.nat(200),
});
const bindPick = fc.record({
  mode: fc.constantFrom<PortPick["mode"]>("forMe", "forMe", "forMe", "unbound", "raw"),
  n: fc.nat(200),
});
const vcpu = fc.nat(2);
const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      k: fc.constant("alloc" as const),
      caller: slot,
      target: allocTarget,
      remote: domRef,
      count: fc.oneof(
        { weight: 9, arbitrary: fc.constant(1) },
        { weight: 1, arbitrary: fc.integer({ min: 2, max: 70 }) },
      ),
    }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      k: fc.constant("bind" as const),
      caller: slot,
      remote: bindRef,
      pick: bindPick,
    }),
  },
  { weight: 2, arbitrary: fc.record({ k: fc.constant("ipi" as const), caller: slot, vcpu }) },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant("virq" as const),
      caller: slot,
      virq: fc.constantFrom(
        VIRQ.VIRQ_TIMER,
        VIRQ.VIRQ_DEBUG,
        VIRQ.VIRQ_DOM_EXC,
        VIRQ.VIRQ_CONSOLE,
        NR_VIRQS,
      ),
      vcpu,
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      k: fc.constantFrom("unmask" as const, "mask" as const, "clear" as const),
      caller: slot,
      pick,
    }),
  },
  { weight: 4, arbitrary: fc.record({ k: fc.constant("send" as const), caller: slot, pick }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant("close" as const), caller: slot, pick }) },
  {
    weight: 2,
    arbitrary: fc.record({ k: fc.constant("status" as const), caller: slot, target: domRef, pick }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ k: fc.constant("bindVcpu" as const), caller: slot, pick, vcpu }),
  },
  {
    weight: 6,
    arbitrary: fc.record({
      k: fc.constant("ack" as const),
      caller: slot,
      vcpu,
      upcall: fc.boolean(),
      sel: fc.boolean(),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant("recreate" as const),
      slot: fc.constantFrom<1 | 2>(1, 2),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      k: fc.constant("connect" as const),
      caller: slot,
      peer: slot,
      n: fc.nat(200),
    }),
  },
);

// ---- the system under test and the runner ----------------------------------------------------

interface Live {
  g: Guest;
  sh: Page;
  m: MDom;
  opts: Required<Pick<DomainOptions, "vcpus" | "maxEvtchnPort">>;
}

class Runner {
  readonly hv: Hypervisor;
  readonly live: Live[];

  constructor(domUs: Required<Pick<DomainOptions, "vcpus" | "maxEvtchnPort">>[]) {
    const { hv, dom0, domUs: gs } = world(...domUs);
    this.hv = hv;
    this.live = [
      {
        g: dom0,
        sh: shinfo(dom0),
        m: newMDom(0, { vcpus: 2, maxEvtchnPort: 1023 }, true),
        opts: { vcpus: 2, maxEvtchnPort: 1023 },
      },
      ...gs.map((g, i) => ({
        g,
        sh: shinfo(g),
        m: newMDom(g.domid, domUs[i]!, false),
        opts: domUs[i]!,
      })),
    ];
  }

  #byDomid(domid: number): MDom | undefined {
    return this.live.find((l) => l.m.domid === domid)?.m;
  }

  /** The domid passed to Xen for a DomRef, and the model domain it names (undefined: none). */
  #resolve(caller: Live, r: DomRef): [number, MDom | undefined] {
    if (r === "self") return [DOMID_SELF, caller.m];
    if (r === "ghost") return [GHOST_DOMID, undefined];
    return [this.live[r]!.m.domid, this.live[r]!.m];
  }

  #port(d: MDom | undefined, p: PortPick, caller?: MDom): number {
    const ports = d === undefined ? [] : [...d.ports.entries()].sort((a, b) => a[0] - b[0]);
    const pool =
      p.mode === "unbound"
        ? ports.filter(([, e]) => e.kind === "UNBOUND")
        : p.mode === "forMe"
          ? ports.filter(([, e]) => e.kind === "UNBOUND" && e.dom === caller?.domid)
          : ports;
    if (p.mode === "raw" || pool.length === 0) return p.n % 140;
    return pool[p.n % pool.length]![0];
  }

  run(c: Cmd): void {
    if (c.k === "recreate") return this.#recreate(c.slot);
    if (c.k === "connect") {
      this.run({ k: "alloc", caller: c.caller, target: "self", remote: c.peer, count: 1 });
      this.run({ k: "bind", caller: c.peer, remote: "offer", pick: { mode: "forMe", n: c.n } });
      return;
    }
    const L = this.live[c.caller]!;
    const m = L.m;
    const op = (n: number, a: object): number => L.g.hypercall.event_channel_op(n, a as never);
    switch (c.k) {
      case "alloc": {
        const [tid, t] = this.#resolve(L, c.target);
        const [rid] = this.#resolve(L, c.remote);
        for (let i = 0; i < c.count; i++) {
          const a = { dom: tid, remote_dom: rid, port: -1 };
          const rc = op(EVTCHNOP.EVTCHNOP_alloc_unbound, a);
          let want: number;
          let port = -1;
          if (t === undefined) want = -ESRCH;
          else {
            port = mGetFreePort(t);
            if (port < 0) want = port;
            else if (t !== m && !m.privileged) want = -EPERM;
            else {
              want = 0;
              t.ports.set(port, {
                kind: "UNBOUND",
                dom: rid === DOMID_SELF ? m.domid : rid,
                port: 0,
                virq: 0,
                notify: 0,
              });
            }
          }
          expect(rc, `alloc_unbound #${i}`).toBe(want);
          if (want === 0) expect(a.port).toBe(port);
          if (rc !== 0) break;
        }
        return;
      }
      case "bind": {
        let ref: DomRef = "self";
        if (c.remote !== "offer") ref = c.remote;
        else {
          const offers = ([0, 1, 2] as const).filter((i) =>
            [...this.live[i]!.m.ports.values()].some(
              (e) => e.kind === "UNBOUND" && e.dom === m.domid,
            ),
          );
          if (offers.length > 0) ref = offers[c.pick.n % offers.length]!;
        }
        const [rid, rd] = this.#resolve(L, ref);
        const rport = this.#port(rd, c.pick, m);
        const a = { remote_dom: rid, remote_port: rport, local_port: -1 };
        const rc = op(EVTCHNOP.EVTCHNOP_bind_interdomain, a);
        let want: number;
        let lport = -1;
        if (rd === undefined) want = -ESRCH;
        else if ((lport = mGetFreePort(m)) < 0) want = lport;
        else {
          const r = rd.ports.get(rport);
          if (rport >= rd.valid || r === undefined || r.kind !== "UNBOUND" || r.dom !== m.domid)
            want = -EINVAL;
          else {
            want = 0;
            m.ports.set(lport, {
              kind: "INTERDOMAIN",
              dom: rd.domid,
              port: rport,
              virq: 0,
              notify: 0,
            });
            rd.ports.set(rport, { ...r, kind: "INTERDOMAIN", dom: m.domid, port: lport });
            mRaise(m, lport);
          }
        }
        expect(rc, "bind_interdomain").toBe(want);
        if (want === 0) expect(a.local_port).toBe(lport);
        return;
      }
      case "ipi": {
        const a = { vcpu: c.vcpu, port: -1 };
        const rc = op(EVTCHNOP.EVTCHNOP_bind_ipi, a);
        let want: number;
        let port = -1;
        if (c.vcpu >= m.vcpus) want = -ENOENT;
        else if ((port = mGetFreePort(m)) < 0) want = port;
        else {
          want = 0;
          m.ports.set(port, { kind: "IPI", dom: 0, port: 0, virq: 0, notify: c.vcpu });
        }
        expect(rc, "bind_ipi").toBe(want);
        if (want === 0) expect(a.port).toBe(port);
        return;
      }
      case "virq": {
        const a = { virq: c.virq, vcpu: c.vcpu, port: -1 };
        const rc = op(EVTCHNOP.EVTCHNOP_bind_virq, a);
        const key = `${c.vcpu}:${c.virq}`;
        let want: number;
        let port = -1;
        if (c.virq >= NR_VIRQS) want = -EINVAL;
        else if (!virqIsPerVcpu(c.virq) && c.vcpu !== 0) want = -EINVAL;
        else if (c.vcpu >= m.vcpus) want = -ENOENT;
        else if (m.virqs.has(key)) want = -EEXIST;
        else if ((port = mGetFreePort(m)) < 0) want = port;
        else {
          want = 0;
          m.ports.set(port, { kind: "VIRQ", dom: 0, port: 0, virq: c.virq, notify: c.vcpu });
          m.virqs.set(key, port);
        }
        expect(rc, "bind_virq").toBe(want);
        if (want === 0) expect(a.port).toBe(port);
        return;
      }
      case "close": {
        const port = this.#port(m, c.pick);
        const rc = op(EVTCHNOP.EVTCHNOP_close, { port });
        const e = m.ports.get(port);
        if (port >= m.valid || e === undefined) return void expect(rc, "close").toBe(-EINVAL);
        expect(rc, "close").toBe(0);
        this.#mClose(m, port);
        return;
      }
      case "send": {
        const port = this.#port(m, c.pick);
        const rc = op(EVTCHNOP.EVTCHNOP_send, { port });
        const e = port < m.valid ? m.ports.get(port) : undefined;
        let want = -EINVAL;
        if (e?.kind === "INTERDOMAIN") {
          want = 0;
          mRaise(this.#byDomid(e.dom)!, e.port);
        } else if (e?.kind === "IPI") {
          want = 0;
          mRaise(m, port);
        } else if (e?.kind === "UNBOUND") want = 0;
        expect(rc, "send").toBe(want);
        return;
      }
      case "unmask": {
        const port = this.#port(m, c.pick);
        const rc = op(EVTCHNOP.EVTCHNOP_unmask, { port });
        if (port >= m.valid) return void expect(rc, "unmask").toBe(-EINVAL);
        expect(rc, "unmask").toBe(0);
        const e = m.ports.get(port);
        if (e === undefined) return; // FREE or RESERVED: not usable, nothing happens
        if (m.mask.delete(port) && m.pending.has(port) && !m.sel[e.notify]!.has(port >>> 6)) {
          m.sel[e.notify]!.add(port >>> 6);
          m.upcall[e.notify] = true;
        }
        return;
      }
      case "mask": {
        const port = this.#port(m, c.pick);
        setMask(L.sh, port, true);
        m.mask.add(port);
        return;
      }
      case "clear": {
        const port = this.#port(m, c.pick);
        L.sh.setU8(0x800 + (port >>> 3), L.sh.getU8(0x800 + (port >>> 3)) & ~(1 << (port & 7)));
        m.pending.delete(port);
        return;
      }
      case "ack": {
        // What an upcall handler's entry does: clear upcall_pending, then take the selector.
        const v = c.vcpu % m.vcpus;
        if (c.upcall) {
          setUpcallPending(L.sh, v, 0);
          m.upcall[v] = false;
        }
        if (c.sel) {
          L.sh.setU64(v * 64 + 8, 0);
          m.sel[v]!.clear();
        }
        return;
      }
      case "status": {
        const [tid, t] = this.#resolve(L, c.target);
        const port = this.#port(t, c.pick);
        const a: StatusArg = { dom: tid, port };
        const rc = op(EVTCHNOP.EVTCHNOP_status, a);
        let want: number;
        if (t === undefined) want = -ESRCH;
        else if (port >= t.valid) want = -EINVAL;
        else if (t !== m && !m.privileged) want = -EPERM;
        else want = 0;
        expect(rc, "status").toBe(want);
        if (want === 0) expect(normalise(a)).toEqual(expected(t!, port));
        else expect(a.status).toBeUndefined();
        return;
      }
      case "bindVcpu": {
        const port = this.#port(m, c.pick);
        const rc = op(EVTCHNOP.EVTCHNOP_bind_vcpu, { port, vcpu: c.vcpu });
        const e = port < m.valid ? m.ports.get(port) : undefined;
        let want: number;
        if (c.vcpu >= m.vcpus) want = -ENOENT;
        else if (port >= m.valid) want = -EINVAL;
        else if (
          e === undefined ||
          e.kind === "IPI" ||
          (e.kind === "VIRQ" && virqIsPerVcpu(e.virq))
        )
          want = -EINVAL;
        else {
          want = 0;
          e.notify = c.vcpu;
        }
        expect(rc, "bind_vcpu").toBe(want);
        return;
      }
    }
  }

  /** evtchn_close() in the model: the peer goes UNBOUND accepting us; the pending bit clears. */
  #mClose(m: MDom, port: number): void {
    const e = m.ports.get(port)!;
    if (e.kind === "INTERDOMAIN") {
      const r = this.#byDomid(e.dom)!.ports.get(e.port)!;
      r.kind = "UNBOUND";
      r.dom = m.domid;
      r.port = 0;
    }
    if (e.kind === "VIRQ") m.virqs.delete(`${virqIsPerVcpu(e.virq) ? e.notify : 0}:${e.virq}`);
    m.ports.delete(port);
    m.pending.delete(port);
  }

  #recreate(s: 1 | 2): void {
    const old = this.live[s]!;
    this.hv.destroyDomain(old.m.domid);
    for (const port of [...old.m.ports.keys()].sort((a, b) => b - a))
      if (old.m.ports.has(port)) this.#mClose(old.m, port);
    const exc = this.live[0]!.m.virqs.get(`0:${VIRQ.VIRQ_DOM_EXC}`);
    if (exc !== undefined) mRaise(this.live[0]!.m, exc);
    const g = this.hv.guest(this.hv.createDomain(old.opts).domid);
    this.live[s] = { g, sh: shinfo(g), m: newMDom(g.domid, old.opts, false), opts: old.opts };
  }

  /** Everything the model says must hold of the simulator after a step. (`expect` runs only on a mismatch: it is slow.) */
  check(): void {
    const dom0 = this.live[0]!.g;
    for (const L of this.live) {
      const m = L.m;
      const seen = new Map<number, Normalised>();
      for (let port = 0; port < m.valid; port++) {
        const a: StatusArg = { dom: m.domid, port };
        const rc = dom0.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_status, a);
        const got = normalise(a);
        const want = expected(m, port);
        if (rc !== 0 || !sameStatus(got, want))
          expect([rc, got], `status d${m.domid}:${port}`).toEqual([0, want]);
        seen.set(port, got);
      }
      if (m.valid < NR_PORTS_2L) {
        expect(
          dom0.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_status, {
            dom: m.domid,
            port: m.valid,
          }),
          "bucket edge",
        ).toBe(-EINVAL);
      }
      // Peer symmetry, as the simulator itself reports it.
      for (const [port, s] of seen) {
        if (s.status !== EVTCHNSTAT.EVTCHNSTAT_interdomain) continue;
        const b: StatusArg = { dom: s.dom!, port: s.port! };
        const rc = dom0.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_status, b);
        const back = normalise(b);
        if (
          rc !== 0 ||
          back.status !== EVTCHNSTAT.EVTCHNSTAT_interdomain ||
          back.dom !== m.domid ||
          back.port !== port
        ) {
          expect([rc, back], `peer of d${m.domid}:${port}`).toMatchObject([
            0,
            { status: EVTCHNSTAT.EVTCHNSTAT_interdomain, dom: m.domid, port },
          ]);
        }
      }
      // The bits: every pending and mask bit as the model predicts, pending only on bound ports.
      const bits = L.sh.read(0x800, 1024); // evtchn_pending then evtchn_mask
      const want = new Uint8Array(1024);
      for (const port of m.pending) want[port >>> 3]! |= 1 << (port & 7);
      for (const port of m.mask) want[512 + (port >>> 3)]! |= 1 << (port & 7);
      if (!sameBytes(bits, want)) expect(diffBits(m.domid, bits, want)).toEqual([]);
      for (let port = 0; port < NR_PORTS_2L; port++) {
        if ((bits[port >>> 3]! & (1 << (port & 7))) === 0) continue;
        const st = seen.get(port)?.status;
        if (st === undefined || st === EVTCHNSTAT.EVTCHNSTAT_closed)
          expect(`d${m.domid}:${port} pending`).toBe("only on a bound port");
      }
      for (let v = 0; v < m.vcpus; v++) {
        const vi = L.sh.read(v * 64, 16);
        const selWant = new Uint8Array(8);
        for (const w of m.sel[v]!) selWant[w >>> 3]! |= 1 << (w & 7);
        if ((vi[0]! & 1) !== (m.upcall[v] ? 1 : 0) || !sameBytes(vi.subarray(8, 16), selWant)) {
          expect({ upcall: vi[0]! & 1, sel: [...vi.subarray(8, 16)] }, `d${m.domid} v${v}`).toEqual(
            { upcall: m.upcall[v] ? 1 : 0, sel: [...selWant] },
          );
        }
      }
    }
  }
}

type StatusArg = { dom: number; port: number; status?: number; vcpu?: number; u?: object };
type Normalised = { status?: number; vcpu?: number; dom?: number; port?: number; virq?: number };

function sameStatus(a: Normalised, b: Normalised): boolean {
  return (
    a.status === b.status &&
    a.vcpu === b.vcpu &&
    a.dom === b.dom &&
    a.port === b.port &&
    a.virq === b.virq
  );
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Readable differences between the real and the predicted pending/mask bitmaps. */
function diffBits(domid: number, got: Uint8Array, want: Uint8Array): string[] {
  const out: string[] = [];
  for (let i = 0; i < 1024 * 8; i++) {
    const g = (got[i >>> 3]! >> (i & 7)) & 1;
    const w = (want[i >>> 3]! >> (i & 7)) & 1;
    if (g !== w)
      out.push(`d${domid} ${i < 4096 ? "pending" : "mask"}[${i % 4096}] = ${g}, model ${w}`);
  }
  return out;
}

function normalise(a: StatusArg): Normalised {
  const u = (a.u ?? {}) as {
    unbound?: { dom: number };
    interdomain?: { dom: number; port: number };
    virq?: number;
  };
  const out: Normalised = { status: a.status, vcpu: a.vcpu };
  if (a.status === EVTCHNSTAT.EVTCHNSTAT_unbound) out.dom = u.unbound?.dom;
  if (a.status === EVTCHNSTAT.EVTCHNSTAT_interdomain)
    Object.assign(out, { dom: u.interdomain?.dom, port: u.interdomain?.port });
  if (a.status === EVTCHNSTAT.EVTCHNSTAT_virq) out.virq = u.virq;
  return out;
}

function expected(m: MDom, port: number): Normalised {
  const e = m.ports.get(port);
  if (e === undefined) return { status: EVTCHNSTAT.EVTCHNSTAT_closed, vcpu: 0 };
  switch (e.kind) {
    case "UNBOUND":
      return { status: EVTCHNSTAT.EVTCHNSTAT_unbound, vcpu: e.notify, dom: e.dom };
    case "INTERDOMAIN":
      return {
        status: EVTCHNSTAT.EVTCHNSTAT_interdomain,
        vcpu: e.notify,
        dom: e.dom,
        port: e.port,
      };
    case "VIRQ":
      return { status: EVTCHNSTAT.EVTCHNSTAT_virq, vcpu: e.notify, virq: e.virq };
    case "IPI":
      return { status: EVTCHNSTAT.EVTCHNSTAT_ipi, vcpu: e.notify };
  }
}

describe("2-level event channels against a model", () => {
  it("agrees with the model on results, port states, peers and shared_info bits after every step", () => {
    const domU = fc.record({
      vcpus: fc.integer({ min: 1, max: 2 }),
      maxEvtchnPort: fc.constantFrom(2, 5, 66, 1023),
    });
    fc.assert(
      fc.property(
        domU,
        domU,
        fc.array(cmd, { minLength: 1, maxLength: 60, size: "max" }),
        (a, b, cmds) => {
          const r = new Runner([a, b]);
          r.check();
          for (const c of cmds) {
            r.run(c);
            r.hv.runUntilIdle();
            r.check();
          }
        },
      ),
      { numRuns: 100 },
    );
  }, 60_000);
});
