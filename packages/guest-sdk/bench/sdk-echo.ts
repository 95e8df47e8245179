/**
 * The SDK echo at queue depth 32 between two domains in one process: a frontend domU and a
 * backend dom0 share one io/ring.h ring page (granted, then mapped), and an interdomain event
 * channel. Each request is 112 bytes (id, the grant ref of a 4 KiB data page, length); the
 * backend answers after one 4 KiB GNTTABOP_copy of that page into its own memory.
 *
 * The hypervisor runs in manual mode; the driver loop steps the scheduler and lets the guests'
 * promise continuations run. Notification policy, both ends:
 *
 * - notify only when `pushRequestsAndCheckNotify()` / `pushResponsesAndCheckNotify()` says so;
 * - "poll" mode (default): after each round the end gives the other a turn (SCHEDOP_yield)
 *   and looks again; only after IDLE_POLLS (2) consecutive empty rounds does it re-arm its event
 *   index with the final check and sleep (NAPI-style). One empty round is not enough: the
 *   peer's yield continuation may simply not have run yet. Under load neither end re-arms, so
 *   pushes almost never need a notification.
 * - "event" mode: re-arm with the final check after every round (the plain io/ring.h loop).
 */
import { Hypervisor } from "@pvkit/hypervisor-sim";
import { SCHEDOP } from "@pvkit/hypervisor-sim/abi";
import {
  BackRing,
  EventChannels,
  FrontRing,
  GrantMapper,
  GrantTableClient,
  GuestPageAllocator,
  type RingSpec,
} from "@pvkit/guest-sdk";

export interface EchoReq {
  id: number;
  gref: number;
  len: number;
}
export interface EchoRsp {
  id: number;
  status: number;
  len: number;
}

/** 112-byte requests (as `blkif_request`), 8-byte responses. */
export const echoSpec: RingSpec<EchoReq, EchoRsp> = {
  request: {
    size: 112,
    encode: (v, out) => {
      out.setU32(0, v.id);
      out.setU32(8, v.gref);
      out.setU16(12, v.len);
    },
    decode: (i) => ({ id: i.getU32(0), gref: i.getU32(8), len: i.getU16(12) }),
    validate: (v) => (v.len > 4096 ? `length ${v.len} exceeds a page` : undefined),
  },
  response: {
    size: 8,
    encode: (v, out) => {
      out.setU32(0, v.id);
      out.setS16(4, v.status);
      out.setU16(6, v.len);
    },
    decode: (i) => ({ id: i.getU32(0), status: i.getS16(4), len: i.getU16(6) }),
  },
};

const QD = 32;
/** Empty polls (each after a yield) before an end re-arms its event index and sleeps. */
const IDLE_POLLS = Number(process.env.BENCH_IDLE_POLLS ?? 2);
const LOCAL_BASE = 0x100; // dom0 RAM pages receiving the copies

export interface EchoResult {
  requests: number;
  seconds: number;
  /** Notifications sent (both directions) during the timed run. */
  notifications: number;
}

export interface SdkEcho {
  readonly ringSize: number;
  /** Runs `n` more requests at QD32; resolves with what the timed run did. */
  run(n: number): Promise<EchoResult>;
}

export function sdkEcho(mode: "poll" | "event" = "poll"): SdkEcho {
  const hv = new Hypervisor({ mode: "manual" });
  const g0 = hv.guest(hv.createDomain({ name: "backend" }).domid);
  const gu = hv.guest(hv.createDomain({ name: "frontend", nrPages: 256 }).domid);
  const evU = EventChannels.of(gu);
  const ev0 = EventChannels.of(g0);

  // ---- frontend: ring page and QD data pages, granted to dom0 ------------------------------
  const alloc = new GuestPageAllocator(gu.memory);
  const client = GrantTableClient.of(gu, { allocator: alloc });
  const ringPage = client.grantPage(g0.domid);
  const front = FrontRing.init([ringPage.page], echoSpec);
  const data = Array.from({ length: QD }, (_, i) => {
    const gp = client.grantPage(g0.domid, { readonly: true });
    for (let b = 0; b < 4096; b += 4) gp.page.setU32(b, (i << 16) | b);
    return gp;
  });

  // ---- backend: map the ring --------------------------------------------------------------
  const mapper = new GrantMapper(g0);
  const ringMap = mapper.mapOne(ringPage.ref, gu.domid);
  const back = BackRing.attach([ringMap.page], echoSpec);

  let notifications = 0;
  let target = 0;
  let issued = 0;
  let completed = 0;
  let nextId = 0;
  const copies = mapper.copyBatch();
  const ids: number[] = [];
  const lens: number[] = [];

  // ---- backend work ---------------------------------------------------------------------------
  const backWork = (): number => {
    ids.length = 0;
    lens.length = 0;
    for (let req = back.consumeRequest(); req !== undefined; req = back.consumeRequest()) {
      copies.fromGrant(req.gref, gu.domid, 0, LOCAL_BASE + (req.id & (QD - 1)), 0, req.len);
      ids.push(req.id);
      lens.push(req.len);
    }
    if (ids.length === 0) return 0;
    copies.run();
    for (let i = 0; i < ids.length; i++)
      back.produceResponse({ id: ids[i]!, status: 0, len: lens[i]! });
    if (back.pushResponsesAndCheckNotify()) {
      notifications++;
      backCh.notify();
    }
    return ids.length;
  };

  // ---- frontend work --------------------------------------------------------------------------
  const frontWork = (): number => {
    let n = 0;
    for (let rsp = front.consumeResponse(); rsp !== undefined; rsp = front.consumeResponse()) {
      if (rsp.status !== 0 || rsp.len !== 4096)
        throw new Error(`request ${rsp.id} failed: ${rsp.status}`);
      completed++;
      n++;
    }
    let produced = 0;
    while (issued < target && !front.full) {
      const id = nextId++ >>> 0;
      front.produceRequest({ id, gref: data[id & (QD - 1)]!.ref, len: 4096 });
      issued++;
      produced++;
    }
    if (produced > 0 && front.pushRequestsAndCheckNotify()) {
      notifications++;
      frontCh.notify();
    }
    return n + produced;
  };

  const poller = (work: () => number, finalCheck: () => boolean, hc: typeof g0.hypercall) => {
    let scheduled = false;
    let idle = 0;
    const poll = (): void => {
      scheduled = false;
      if (work() > 0) idle = 0;
      else idle++;
      if (mode === "poll" && idle < IDLE_POLLS) return repoll();
      idle = 0;
      if (finalCheck()) repoll();
    };
    const repoll = (): void => {
      if (scheduled) return;
      scheduled = true;
      void hc.sched_op(SCHEDOP.SCHEDOP_yield).then(poll);
    };
    return { poll, repoll };
  };
  const backPoller = poller(backWork, () => back.finalCheckForRequests(), g0.hypercall);
  const frontPoller = poller(frontWork, () => front.finalCheckForResponses(), gu.hypercall);

  const frontCh = evU.bindUnbound(g0.domid, { onEvent: () => frontPoller.poll() });
  const backCh = ev0.bindInterdomain(gu.domid, frontCh.port, { onEvent: () => backPoller.poll() });

  return {
    ringSize: front.size,
    async run(n: number): Promise<EchoResult> {
      target += n;
      const goal = completed + n;
      const notes0 = notifications;
      const t0 = performance.now();
      frontPoller.poll(); // submit
      let idle = 0;
      while (completed < goal) {
        const ran = hv.runUntilIdle();
        await null; // let the guests' yield continuations run
        idle = ran === 0 ? idle + 1 : 0;
        if (idle > 1000) throw new Error(`echo stalled at ${completed}/${goal} (lost wake-up?)`);
      }
      const seconds = (performance.now() - t0) / 1000;
      // Drain to idle so the next run starts from a quiet ring (not timed).
      await hv.settle();
      return { requests: n, seconds, notifications: notifications - notes0 };
    },
  };
}
