/**
 * The echo frontend (a domU): allocates and grants its pages, initialises the ring, offers an
 * event channel, publishes both in the hand-off page, and sends data to be echoed.
 */
import type { Guest } from "@pvkit/hypervisor-sim";
import {
  type EventChannel,
  EventChannels,
  FrontRing,
  type GrantedPage,
  GrantTableClient,
  GuestPageAllocator,
} from "@pvkit/guest-sdk";
import { type EchoRequest, type EchoResponse, HANDOFF, MAX_LEN, echoSpec } from "./protocol.js";

type Log = (line: string) => void;

interface Pending {
  id: number;
  in: GrantedPage;
  out: GrantedPage;
  resolve: (rsp: EchoResponse) => void;
}

export class EchoFrontend {
  readonly #log: Log;
  readonly #backend: number;
  readonly #alloc: GuestPageAllocator;
  readonly #grants: GrantTableClient;
  readonly #ring: FrontRing<EchoRequest, EchoResponse>;
  readonly #ringPage: GrantedPage;
  readonly #handoff: GrantedPage;
  readonly #channel: EventChannel;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;

  constructor(guest: Guest, backend: number, log: Log) {
    this.#log = log;
    this.#backend = backend;
    const d = `frontend d${guest.domid}`;
    this.#alloc = new GuestPageAllocator(guest.memory);
    this.#grants = GrantTableClient.of(guest, { allocator: this.#alloc });
    // Only the frontend initialises the shared ring, and before granting it.
    this.#ringPage = this.#grants.grantPage(backend);
    this.#ring = FrontRing.init([this.#ringPage.page], echoSpec, { name: "echo ring" });
    this.#channel = EventChannels.of(guest).bindUnbound(backend, { onEvent: () => this.#onResponses() });
    log(`${d}: ring (${this.#ring.size} slots) granted as ref ${this.#ringPage.ref}, unbound port ${this.#channel.port} offered to d${backend}`);

    // The hand-off page: ring-ref and port first, "go" last (the backend trusts nothing before it).
    this.#handoff = this.#grants.grantPage(backend, { readonly: true });
    const p = this.#handoff.page;
    p.setU32(HANDOFF.ringRef, this.#ringPage.ref);
    p.setU32(HANDOFF.port, this.#channel.port);
    p.setU8(HANDOFF.go, 1);
    log(`${d}: hand-off page granted read-only as ref ${this.#handoff.ref} (ring-ref, port, then "go")`);
  }

  /** The grant ref of the hand-off page (passed "by hand": real drivers use xenstore). */
  get handoffRef(): number {
    return this.#handoff.ref;
  }

  /**
   * Sends each message in its own request (a read-only page holding it, and a writable page
   * for the echo) and resolves with what came back, in order.
   */
  async echo(messages: readonly Uint8Array[]): Promise<Uint8Array[]> {
    const waits: Promise<Uint8Array>[] = [];
    for (const data of messages) {
      if (data.length > MAX_LEN) throw new RangeError(`a message holds at most ${MAX_LEN} bytes`);
      const input = this.#grants.grantPage(this.#backend, { readonly: true });
      input.page.write(0, data);
      const output = this.#grants.grantPage(this.#backend); // zeroed by the allocator (XSA-403)
      const id = this.#nextId++;
      this.#ring.produceRequest({ id, in: input.ref, out: output.ref, len: data.length });
      waits.push(
        new Promise<EchoResponse>((resolve) => this.#pending.set(id, { id, in: input, out: output, resolve })).then((rsp) => {
          const echoed = rsp.status === 0 ? output.page.read(0, rsp.len) : new Uint8Array(0);
          // The backend only copied (never mapped) these pages, so both end at once.
          input.end();
          output.end();
          return echoed;
        }),
      );
    }
    const notify = this.#ring.pushRequests();
    this.#log(`frontend: pushed ${messages.length} request(s)${notify ? ", notifying the backend" : " (backend busy: no notification needed)"}`);
    if (notify) this.#channel.notify();
    return Promise.all(waits);
  }

  /** Inside the upcall: take every response, then re-arm rsp_event and look once more. */
  #onResponses(): void {
    do {
      for (let rsp = this.#ring.consumeResponse(); rsp !== undefined; rsp = this.#ring.consumeResponse()) {
        const p = this.#pending.get(rsp.id);
        if (p === undefined) {
          this.#log(`frontend: response for unknown id ${rsp.id} ignored`);
          continue;
        }
        this.#pending.delete(rsp.id);
        this.#log(`frontend: response ${rsp.id}: status ${rsp.status}, ${rsp.len} byte(s)`);
        p.resolve(rsp);
      }
    } while (this.#ring.finalCheckForResponses());
  }

  /**
   * Ends the ring and hand-off grants. While the backend still maps them the end is deferred
   * (XSA-396): their refs and pages stay out of use. Returns how many were deferred.
   */
  disconnect(): number {
    const results = [this.#ringPage.end(), this.#handoff.end()];
    const deferred = results.filter((r) => r === "deferred").length;
    this.#log(`frontend: ended ring and hand-off grants: ${results.join(", ")}` +
      (deferred > 0 ? ` (still mapped by d${this.#backend}: pages quarantined until released)` : ""));
    return deferred;
  }

  /**
   * Retries deferred ends (call once the backend has unmapped), then closes everything.
   * Returns the grants still deferred after the retry and the grants leaked by the close.
   */
  close(): { stillDeferred: number; leaked: number } {
    const ended = this.#grants.retryDeferred();
    const stillDeferred = this.#grants.deferred;
    this.#log(`frontend: retried deferred grants: ${ended} ended, ${stillDeferred} still in use`);
    this.#channel.close();
    const report = this.#grants.close();
    this.#alloc.close();
    this.#log(`frontend: closed (${report.inUse.length} grant(s) leaked, ${this.#alloc.quarantined} page(s) quarantined)`);
    return { stillDeferred, leaked: this.#grants.leaked };
  }
}
