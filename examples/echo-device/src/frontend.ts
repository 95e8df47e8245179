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
  /** Replies not yet settled (of every `echo` call): what a full ring waits on. */
  readonly #inFlight = new Set<Promise<Uint8Array>>();
  #nextId = 1;

  constructor(guest: Guest, backend: number, log: Log) {
    this.#log = log;
    this.#backend = backend;
    const d = `frontend d${guest.domid}`;
    this.#alloc = new GuestPageAllocator(guest.memory);
    this.#grants = GrantTableClient.of(guest, { allocator: this.#alloc });
    // Only the frontend initialises the shared ring. grantPage() grants the page as it allocates
    // it, so the ring is initialised just after granting — but before the backend can know the
    // ref, which reaches it only through the hand-off page, written below and marked "go" last.
    this.#ringPage = this.#grants.grantPage(backend);
    this.#ring = FrontRing.init([this.#ringPage.page], echoSpec, { name: "echo ring" });
    this.#channel = EventChannels.of(guest).bindUnbound(backend, {
      onEvent: () => this.#onResponses(),
    });
    log(
      `${d}: ring (${this.#ring.size} slots) granted as ref ${this.#ringPage.ref}, unbound port ${this.#channel.port} offered to d${backend}`,
    );

    // The hand-off page: ring-ref and port first, "go" last (the backend trusts nothing before it).
    this.#handoff = this.#grants.grantPage(backend, { readonly: true });
    const p = this.#handoff.page;
    p.setU32(HANDOFF.ringRef, this.#ringPage.ref);
    p.setU32(HANDOFF.port, this.#channel.port);
    p.setU8(HANDOFF.go, 1);
    log(
      `${d}: hand-off page granted read-only as ref ${this.#handoff.ref} (ring-ref, port, then "go")`,
    );
  }

  /** The grant ref of the hand-off page (passed "by hand": real drivers use xenstore). */
  get handoffRef(): number {
    return this.#handoff.ref;
  }

  /**
   * Sends each message in its own request (a read-only page holding it, and a writable page
   * for the echo) and resolves with what came back, in order. When the ring is full, or the
   * allocator has no two pages left, it pushes what it has produced and waits for a reply to
   * free a slot and its pages, so any number of messages can be sent.
   * @throws RangeError for a message over MAX_LEN bytes (before anything is granted), or when
   *   the allocator cannot hold even one request's pages; GrantError / RingProtocolError from
   *   the SDK. On a throw every request already produced is pushed, so its grants end when the
   *   backend answers (on a halted ring they stay until `close()` ends them); the failing
   *   message's own grants are ended at once.
   */
  async echo(messages: readonly Uint8Array[]): Promise<Uint8Array[]> {
    for (const data of messages) {
      if (data.length > MAX_LEN)
        throw new RangeError(`a message holds at most ${MAX_LEN} bytes, got ${data.length}`);
    }
    const replies: Promise<Uint8Array>[] = [];
    let unpushed = 0;
    try {
      for (const data of messages) {
        // Room for one request: a ring slot, and two pages (in + out).
        while (this.#ring.full || this.#alloc.available < 2) {
          if (this.#inFlight.size === 0) {
            throw new RangeError(
              `no room for a request: ${this.#alloc.available} free page(s), none in flight to wait for`,
            );
          }
          if (unpushed > 0) this.#push(unpushed);
          unpushed = 0;
          this.#log(
            `frontend: ${this.#ring.full ? "ring full" : "out of pages"}: waiting for a reply`,
          );
          await Promise.race(this.#inFlight); // a reply ends its grants and frees its slot first
        }
        const reply = this.#send(data);
        this.#inFlight.add(reply);
        const done = (): void => void this.#inFlight.delete(reply);
        reply.then(done, done);
        replies.push(reply);
        unpushed++;
      }
    } catch (e) {
      // Requests produced but not pushed would never be answered, and their grants never ended.
      if (unpushed > 0 && this.#ring.halted === undefined) this.#push(unpushed);
      throw e;
    }
    if (unpushed > 0) this.#push(unpushed);
    return Promise.all(replies);
  }

  /**
   * Grants one message's pages and produces its request (unpublished). Resolves with the echo
   * once the response came and both grants are ended. If granting or producing throws, the
   * grants made so far are ended before the error propagates.
   */
  #send(data: Uint8Array): Promise<Uint8Array> {
    const input = this.#grants.grantPage(this.#backend, { readonly: true });
    let output: GrantedPage | undefined;
    let id: number;
    try {
      input.page.write(0, data);
      output = this.#grants.grantPage(this.#backend); // zeroed by the allocator (XSA-403)
      id = this.#nextId++;
      this.#ring.produceRequest({ id, in: input.ref, out: output.ref, len: data.length });
    } catch (e) {
      // The backend never saw these refs: both end at once.
      input.end();
      output?.end();
      throw e;
    }
    const out = output;
    return new Promise<EchoResponse>((resolve) =>
      this.#pending.set(id, { id, in: input, out, resolve }),
    ).then((rsp) => {
      const echoed = rsp.status === 0 ? out.page.read(0, rsp.len) : new Uint8Array(0);
      // The backend only copied (never mapped) these pages, so both end at once.
      input.end();
      out.end();
      return echoed;
    });
  }

  /** RING_PUSH_REQUESTS_AND_CHECK_NOTIFY, and the notification if the backend asked for one. */
  #push(count: number): void {
    const notify = this.#ring.pushRequestsAndCheckNotify();
    this.#log(
      `frontend: pushed ${count} request(s)${notify ? ", notifying the backend" : " (backend busy: no notification needed)"}`,
    );
    if (notify) this.#channel.notify();
  }

  /** Inside the upcall: take every response, then re-arm rsp_event and look once more. */
  #onResponses(): void {
    do {
      for (
        let rsp = this.#ring.consumeResponse();
        rsp !== undefined;
        rsp = this.#ring.consumeResponse()
      ) {
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
    this.#log(
      `frontend: ended ring and hand-off grants: ${results.join(", ")}` +
        (deferred > 0
          ? ` (still mapped by d${this.#backend}: pages quarantined until released)`
          : ""),
    );
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
    this.#log(
      `frontend: closed (${report.inUse.length} grant(s) leaked, ${this.#alloc.quarantined} page(s) quarantined)`,
    );
    return { stillDeferred, leaked: this.#grants.leaked };
  }
}
