// The recorder's native request lifetimes (ring-lifetimes.ts): every request on a shared ring
// made while a recorder is attached gets its phases (queued, notified, consumed, responded,
// completed) on its device's track, from what the SDK's ring ends announce, and the Chrome
// export counts each track's requests in flight. Runs the sanitizer's test RNG driver (its
// scenario: connect, a burst of 6 reads, one read of 300 bytes, unplug) and a two-queue variant.
import type { Page } from "@pvkit/hypervisor-sim";
import {
  BackRing,
  type BackendDriver,
  driverInspect,
  driverEnv,
  type EventChannel,
  type FrontendDriver,
  FrontRing,
  type XenbusDevice,
  XenbusBus,
} from "@pvkit/guest-sdk";
import {
  chromeTraceJson,
  detachDevice,
  exportChromeTrace,
  type Host,
  LocalXenbusTransport,
  type PhaseRecord,
  recordTrace,
  summarizeTrace,
  type TraceRecord,
  type TraceRecorder,
} from "@pvkit/toolstack";
import { createTestHost } from "@pvkit/toolstack/testing";
import { describe, expect, it } from "vitest";
import { type RngRequest, type RngResponse, rngSpec } from "../testing/sanitizer/rng-drivers.js";
import { scenario } from "../testing/sanitizer/rng-scenario.js";
import { validateChromeTrace } from "./chrome-validator.js";

const phasesOf = (records: readonly TraceRecord[]): PhaseRecord[] =>
  records.filter((r): r is PhaseRecord => r.kind === "phase");

/** Each id's phases in order, e.g. { "1": "queued notified consumed responded completed" }. */
function byId(phases: readonly PhaseRecord[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of phases) out[p.id] = out[p.id] === undefined ? p.phase : `${out[p.id]} ${p.phase}`;
  return out;
}

const ALL = "queued notified consumed responded completed";
const UNNOTIFIED = "queued consumed responded completed";

describe("native ring request lifetimes", () => {
  it("records each request's phases on its device's track, notified only by the frontend's send after the push", async () => {
    await using t = await createTestHost();
    const rec = recordTrace(t.host);
    await scenario(t.host);
    rec.stop();
    const records = rec.records();
    const phases = phasesOf(records);
    const dom = t.host.hv.domains.find((d) => d.name === "rng-user")!.domid;
    expect(new Set(phases.map((p) => `d${p.domid} ${p.track}`))).toEqual(
      new Set([`d${dom} rng 0 ring`]),
    );
    // The burst: produce + push-and-check of each read in turn, before the backend runs. Only
    // the first push notifies (req_event is 1); 2..6 are pushed with no notification needed,
    // and the backend takes them in the run the first send started. Read 7 is alone again.
    expect(byId(phases)).toEqual({
      "1": ALL,
      "2": UNNOTIFIED,
      "3": UNNOTIFIED,
      "4": UNNOTIFIED,
      "5": UNNOTIFIED,
      "6": UNNOTIFIED,
      "7": ALL,
    });
    // The exact interleaving: the backend consumes the whole burst, answers it, pushes once.
    expect(phases.map((p) => `${p.id} ${p.phase}`)).toEqual([
      "1 queued",
      "1 notified",
      ...[2, 3, 4, 5, 6].map((i) => `${i} queued`),
      ...[1, 2, 3, 4, 5, 6].map((i) => `${i} consumed`),
      ...[1, 2, 3, 4, 5, 6].map((i) => `${i} responded`),
      ...[1, 2, 3, 4, 5, 6].map((i) => `${i} completed`),
      "7 queued",
      "7 notified",
      "7 consumed",
      "7 responded",
      "7 completed",
    ]);
    // "queued" carries the ring index; "notified" follows the frontend domain's own send on the
    // port the device's event-channel key names, the record right before it.
    expect(phases.filter((p) => p.phase === "queued").map((p) => p.args)).toEqual(
      [0, 1, 2, 3, 4, 5, 6].map((idx) => ({ idx })),
    );
    for (const p of phases.filter((x) => x.phase === "notified")) {
      const before = records[records.indexOf(p) - 1]!;
      expect(before).toMatchObject({ kind: "hypercall", cmd: "EVTCHNOP_send", domid: dom });
      const send = before as TraceRecord & { seq: number; args: { port: number } };
      expect(p.args).toEqual({ port: send.args.port, seq: send.seq });
    }
    // Port 3: the device's channel (1 is the guest's xenstore channel, 2 its console's).
    expect(phases.filter((p) => p.phase === "notified").map((p) => p.args?.port)).toEqual([3, 3]);
    // No other send by the frontend on that port: it is the device's channel, not the xenbus one.
    const sends = records.filter(
      (r) => r.kind === "hypercall" && r.cmd === "EVTCHNOP_send" && r.domid === dom,
    );
    expect(sends.filter((r) => (r as { args: { port: number } }).args.port === 3)).toHaveLength(2);
    // Without a requestLabel the slices are the exporter's "request <id>".
    expect(phases.every((p) => p.label === undefined)).toBe(true);
  });

  it("counts each ring track's requests in flight (queued, not completed) in the Chrome export", async () => {
    await using t = await createTestHost();
    const rec = recordTrace(t.host);
    await scenario(t.host);
    rec.stop();
    const doc = exportChromeTrace(rec.snapshot());
    expect(validateChromeTrace(chromeTraceJson(rec.snapshot()))).toEqual([]);
    const counts = doc.traceEvents.filter((e) => e.ph === "C" && e.cat === "ring");
    expect(new Set(counts.map((e) => `${e.pid} ${e.name}`))).toEqual(new Set(["2 rng 0 ring"]));
    expect(counts.map((e) => e.args?.occupancy)).toEqual([
      1, 2, 3, 4, 5, 6, 5, 4, 3, 2, 1, 0, 1, 0,
    ]);
    // Each sample sits at its phase: the first at request 1's "queued" begin on the track.
    const first = doc.traceEvents.find(
      (e) => e.ph === "b" && e.cat === "request" && e.name === "queued",
    )!;
    expect(counts[0]!.ts).toBe(first.ts);
    expect(
      doc.traceEvents.filter((e) => e.ph === "b" && e.cat === "request" && e.name === "request 1"),
    ).toHaveLength(1);
  });

  it("records nothing for rings made before the recorder was attached", async () => {
    await using t = await createTestHost();
    let rec: TraceRecorder | undefined;
    await scenario(t.host, {}, {}, rngSpec, {
      afterBurst: async (h) => void (rec = recordTrace(h)),
    });
    rec!.stop();
    const records = rec!.records();
    const dom = t.host.hv.domains.find((d) => d.name === "rng-user")!.domid;
    // It listened while read 7 was made, notified (d1's send on port 3) and answered ...
    expect(
      records.filter(
        (r) =>
          r.kind === "hypercall" &&
          r.cmd === "EVTCHNOP_send" &&
          r.domid === dom &&
          (r.args as { port: number }).port === 3,
      ),
    ).toHaveLength(1);
    // ... but the ring was announced before it attached.
    expect(phasesOf(records)).toEqual([]);
  });

  it("announces rings only while a recorder listens (no listener, no cost)", async () => {
    await using t = await createTestHost({ sanitizer: false });
    expect(driverInspect.active).toBe(false);
    const rec = recordTrace(t.host);
    expect(driverInspect.active).toBe(true);
    rec.stop();
    expect(driverInspect.active).toBe(false);
    await scenario(t.host);
    expect(rec.records()).toEqual([]);
  });

  it("names a multi-queue device's rings by queue (queue-N/ keys) and notifies per queue's port", async () => {
    await using t = await createTestHost();
    const rec = recordTrace(t.host);
    const ports = await mqScenario(t.host);
    rec.stop();
    const phases = phasesOf(rec.records());
    const tracks = [...new Set(phases.map((p) => p.track))];
    expect(tracks).toEqual(["mq 0 queue 1 ring", "mq 0 queue 0 ring"]);
    const on = (track: string) => phases.filter((p) => p.track === track);
    // Queue 1 first (its request was made first), then two on queue 0: the second one pushed
    // with no notification needed.
    expect(byId(on("mq 0 queue 1 ring"))).toEqual({ "1": ALL });
    expect(byId(on("mq 0 queue 0 ring"))).toEqual({ "2": ALL, "3": UNNOTIFIED });
    expect(
      phases.filter((p) => p.phase === "notified").map((p) => `${p.track} ${p.args?.port}`),
    ).toEqual([`mq 0 queue 1 ring ${ports[1]}`, `mq 0 queue 0 ring ${ports[0]}`]);
    // The summary counts each queue's sends on its own port (one each), not all the domain's.
    expect(
      summarizeTrace(exportChromeTrace(rec.snapshot())).filter((l) => l.includes(" ring in ")),
    ).toEqual([
      "  mq 0 queue 1 ring in d1 (mq-user): 1 requests, 1 sends on its port (1.00 per request)",
      "  mq 0 queue 0 ring in d1 (mq-user): 2 requests, 1 sends on its port (0.50 per request)",
    ]);
    expect(ports[0]).not.toBe(ports[1]);
  });
});

// A two-queue variant of the RNG protocol (its ring entries, no data pages: a response answers
// with len 0), with blkif.h's multi-queue keys: multi-queue-num-queues and queue-N/ring-ref,
// queue-N/event-channel, one ring and channel per queue.
const MQ = "mq";
const QUEUES = 2;

interface MqQueue {
  ring: FrontRing<RngRequest, RngResponse>;
  channel: EventChannel;
  pending: Map<number, () => void>;
}

interface MqFront {
  queues: MqQueue[];
  nextId: number;
}

function mqFront(): FrontendDriver<MqFront> {
  return {
    type: MQ,
    async initialise(dev) {
      const s: MqFront = { queues: [], nextId: 1 };
      const keys: Record<string, string | number> = { "multi-queue-num-queues": QUEUES };
      for (let q = 0; q < QUEUES; q++) {
        const granted = dev.grantRing(0);
        const ring = FrontRing.init(granted.pages, rngSpec, { name: `mq ring ${q}` });
        const queue: MqQueue = { ring, channel: undefined!, pending: new Map() };
        queue.channel = dev.allocEvtchn({
          onEvent: () => {
            do {
              for (let r = ring.consumeResponse(); r !== undefined; r = ring.consumeResponse()) {
                queue.pending.get(r.id)?.();
                queue.pending.delete(r.id);
              }
            } while (ring.finalCheckForResponses());
          },
        });
        s.queues.push(queue);
        keys[`queue-${q}/ring-ref`] = granted.refs[0]!;
        keys[`queue-${q}/event-channel`] = queue.channel.port;
      }
      dev.data = s;
      await dev.writeKeys(keys);
    },
    connect() {},
    disconnect(dev) {
      for (const q of dev.data?.queues ?? []) for (const done of q.pending.values()) done();
    },
  };
}

/** One request on queue `q`, answered. */
function mqRequest(dev: XenbusDevice<MqFront>, q: number): Promise<void> {
  const s = dev.data!;
  const queue = s.queues[q]!;
  const id = s.nextId++;
  const done = new Promise<void>((resolve) => queue.pending.set(id, resolve));
  queue.ring.produceRequest({ id, gref: 0, len: 0 });
  if (queue.ring.pushRequestsAndCheckNotify()) queue.channel.notify();
  return done;
}

function mqBack(): BackendDriver<null> {
  return {
    type: MQ,
    async connect(dev) {
      const n = await dev.otherInt("multi-queue-num-queues");
      for (let q = 0; q < n; q++) {
        const ref = await dev.otherInt(`queue-${q}/ring-ref`);
        const pages: readonly Page[] = dev.mapGrants([ref]).map((m) => m.page);
        const ring = BackRing.attach(pages, rngSpec, 0, { name: `mq ring ${q}` });
        const remote = await dev.otherInt(`queue-${q}/event-channel`);
        const channel: EventChannel = dev.env.events.bindInterdomain(dev.otherendId, remote, {
          onEvent: () => {
            do {
              for (let r = ring.consumeRequest(); r !== undefined; r = ring.consumeRequest())
                ring.produceResponse({ id: r.id, status: 0, len: 0 });
              if (ring.pushResponsesAndCheckNotify()) channel.notify();
            } while (ring.finalCheckForRequests());
          },
        });
        dev.own(`queue ${q} port ${channel.port}`, () => channel.close());
      }
      dev.data = null;
    },
  };
}

/** Connect; a request on queue 1, then two on queue 0 at once; unplug. The frontend's ports. */
async function mqScenario(h: Host): Promise<number[]> {
  const xs = LocalXenbusTransport.open(h);
  const bus0 = new XenbusBus(driverEnv({ guest: h.dom0.guest, events: h.dom0.events, xs }));
  bus0.registerBackend(mqBack());
  let started!: (b: XenbusBus) => void;
  const guestBus = new Promise<XenbusBus>((r) => (started = r));
  const dom = await h.createDomain({
    name: "mq-user",
    devices: [{ kind: MQ, devid: 0 }],
    main: (ctx) =>
      started(new XenbusBus(driverEnv({ guest: ctx.guest, events: ctx.events, xs: ctx.xenbus }))),
  });
  const bus = await h.until(guestBus, "the guest's bus");
  const dev = await h.until(bus.registerFrontend(mqFront()).connected(0), "mq connecting");
  const ports = dev.data!.queues.map((q) => q.channel.port);
  await h.until(mqRequest(dev, 1), "a request on queue 1");
  await h.until(Promise.all([mqRequest(dev, 0), mqRequest(dev, 0)]), "two on queue 0");
  await h.until(detachDevice(h, dom.domid, MQ, 0), "unplugging mq");
  await h.until(bus.close(), "the frontend bus unregistering");
  await h.until(bus0.close(), "the backend bus unregistering");
  await h.hv.settle();
  xs.close();
  return ports;
}
