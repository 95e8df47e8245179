/**
 * The echo backend (dom0 or a driver domain): maps the frontend's hand-off page, waits for
 * "go", maps the ring, binds the event channel, and answers each request by copying the data
 * in from the frontend's `in` grant and back out into its `out` grant (GNTTABOP_copy, so the
 * data pages are never mapped).
 */
import type { Guest, Page } from "@pvkit/hypervisor-sim";
import { SCHEDOP } from "@pvkit/hypervisor-sim/abi";
import {
  BackRing,
  type EventChannel,
  EventChannels,
  type GrantCopyBatch,
  GrantMapper,
  GuestClock,
  GrantStatusError,
  type MappedGrant,
  RingProtocolError,
} from "@pvkit/guest-sdk";
import { ECHO_EINVAL, type EchoRequest, type EchoResponse, HANDOFF, echoSpec } from "./protocol.js";

type Log = (line: string) => void;

/** The backend's own page that each request's data passes through. */
const BOUNCE_GFN = 0x40;

/** How long `connect` waits for "go" by default: 10 s of virtual time. */
export const GO_TIMEOUT_NS = 10_000_000_000;
/** How often `connect` looks at "go" while waiting: every 1 ms of virtual time. */
export const GO_POLL_NS = 1_000_000;

/** Options of `EchoBackend.connect`. */
export interface ConnectOptions {
  /** Virtual ns to wait for the frontend's "go" before giving up. Default GO_TIMEOUT_NS. */
  timeoutNs?: number;
}

export class EchoBackend {
  readonly #guest: Guest;
  readonly #front: number;
  readonly #log: Log;
  readonly #mapper: GrantMapper;
  readonly #copies: GrantCopyBatch;
  /** System time from vcpu_time_info and the TSC, as a kernel reads it. */
  readonly #clock: GuestClock;
  #ringMap: MappedGrant<Page> | undefined;
  #ring: BackRing<EchoRequest, EchoResponse> | undefined;
  #channel: EventChannel | undefined;
  /** Requests answered so far. */
  answered = 0;

  constructor(guest: Guest, frontend: number, log: Log) {
    this.#guest = guest;
    this.#clock = GuestClock.of(guest);
    this.#front = frontend;
    this.#log = log;
    this.#mapper = new GrantMapper(guest);
    this.#copies = this.#mapper.copyBatch();
  }

  /**
   * Maps the hand-off page, waits for "go", then maps the ring and binds the channel. Nothing
   * signals "go" (it is a plain write), so the backend looks every GO_POLL_NS, sleeping in
   * SCHEDOP_poll on no port between looks (virtual time runs on, timers fire).
   * @throws Error if "go" is not set within `timeoutNs` of virtual time, or SCHEDOP_poll fails
   *   (the hand-off page is unmapped first, so the frontend can end its grant); RangeError for a
   *   bad `timeoutNs`.
   */
  async connect(handoffRef: number, opts: ConnectOptions = {}): Promise<void> {
    const d = `backend d${this.#guest.domid}`;
    const timeoutNs = opts.timeoutNs ?? GO_TIMEOUT_NS;
    if (!(timeoutNs >= 0) || !Number.isFinite(timeoutNs))
      throw new RangeError(`timeoutNs must be a finite count of ns >= 0, got ${timeoutNs}`);
    const handoff = this.#mapper.mapOne(handoffRef, this.#front, { readonly: true }); // close() unmaps it with the rest
    try {
      const deadline = this.#clock.now() + timeoutNs;
      while (handoff.page.getU8(HANDOFF.go) !== 1) {
        const now = this.#clock.now();
        if (now >= deadline)
          throw new Error(
            `${d}: d${this.#front} did not set "go" in hand-off ref ${handoffRef} within ${timeoutNs} ns`,
          );
        const timeout = Math.min(now + GO_POLL_NS, deadline); // absolute, and > now >= 0: never 0 (no timeout)
        const rc = await this.#guest.hypercall.sched_op(SCHEDOP.SCHEDOP_poll, {
          ports: [],
          nr_ports: 0,
          timeout,
        });
        if (rc < 0) throw new Error(`${d}: SCHEDOP_poll failed with ${rc}`);
      }
    } catch (e) {
      handoff.unmap(); // so the frontend can end its grant
      throw e;
    }
    const ringRef = handoff.page.getU32(HANDOFF.ringRef);
    const port = handoff.page.getU32(HANDOFF.port);
    this.#log(`${d}: saw "go": ring-ref ${ringRef}, port ${port}`);
    this.#ringMap = this.#mapper.mapOne(ringRef, this.#front);
    this.#ring = BackRing.attach([this.#ringMap.page], echoSpec, 0, { name: "echo ring" });
    // Xen marks a freshly bound port pending, so the first upcall runs at once: harmless, the
    // handler just finds no work and arms req_event.
    this.#channel = EventChannels.of(this.#guest).bindInterdomain(this.#front, port, {
      onEvent: () => this.#onRequests(),
    });
    this.#log(
      `${d}: mapped the ring (handle ${this.#ringMap.handle}), bound local port ${this.#channel.port}`,
    );
  }

  /** Inside the upcall: answer every request, push, notify if asked, re-arm and look once more. */
  #onRequests(): void {
    const ring = this.#ring!;
    do {
      for (;;) {
        let req: EchoRequest | undefined;
        try {
          req = ring.consumeRequest();
        } catch (e) {
          // An invalid entry is reported and the ring carries on: answer it with an error.
          if (!(e instanceof RingProtocolError) || e.fault.reason !== "invalid-entry") throw e;
          const bad = e.fault.value as EchoRequest | undefined;
          this.#log(`backend: invalid request refused: ${e.fault.detail}`);
          ring.produceResponse({ id: bad?.id ?? 0, status: ECHO_EINVAL, len: 0 });
          continue;
        }
        if (req === undefined) break;
        ring.produceResponse(this.#echo(req));
      }
      if (ring.pushResponsesAndCheckNotify()) this.#channel!.notify();
    } while (ring.finalCheckForRequests());
  }

  #echo(req: EchoRequest): EchoResponse {
    try {
      this.#copies.fromGrant(req.in, this.#front, 0, BOUNCE_GFN, 0, req.len).run();
      const text = new TextDecoder().decode(
        this.#guest.memory.page(BOUNCE_GFN).read(0, Math.min(req.len, 40)),
      );
      this.#log(
        `backend: request ${req.id}: ${req.len} byte(s) from ref ${req.in}: ${JSON.stringify(text)}`,
      );
      this.#copies.toGrant(BOUNCE_GFN, 0, req.out, this.#front, 0, req.len).run();
      this.answered++;
      return { id: req.id, status: 0, len: req.len };
    } catch (e) {
      if (!(e instanceof GrantStatusError)) throw e;
      this.#log(`backend: request ${req.id} refused: ${e.code}`);
      return { id: req.id, status: ECHO_EINVAL, len: 0 };
    }
  }

  /** Unbinds the channel and unmaps the ring and the hand-off page. */
  close(): void {
    this.#channel?.close();
    this.#mapper.close();
    this.#log(`backend: unbound and unmapped (${this.#mapper.mapped} mapping(s) left)`);
  }
}
