/**
 * The guest's end of its xenstore ring (what Linux's `xenbus_comms.c` and Mini-OS's `xenbus.c`
 * do): requests are written into `req` as far as there is room, replies and watch events are read
 * from `rsp` and reassembled, and replies are matched to their requests by `req_id`, so several
 * requests may be in flight. Both directions continue whenever xenstored notifies; the guest
 * notifies after every pass that wrote or consumed bytes.
 *
 * Never a hang: a ring that fails (the `error` field set by xenstored, impossible indices, a
 * reply over 4096 bytes) or a `close()` rejects every pending request with a XenbusError, and
 * later requests fail at once.
 */
import type { Subscription } from "rxjs";
import type { Page } from "@pvkit/hypervisor-sim";
import {
  XS,
  XENSTORE_ERROR,
  XENSTORE_RING_SIZE,
  XS_OVERSIZE,
  XsMessageParser,
  encodeXsMessage,
  nulSplit,
  xenstore_domain_interface,
  type XsMessage,
} from "@pvkit/hypervisor-sim/abi";
import type { EventChannel } from "../events/event-channel.js";
import {
  ByteRingReader,
  ByteRingWriter,
  xenstoreRequestRing,
  xenstoreResponseRing,
} from "../ring/byte-ring.js";
import { RingProtocolError } from "../ring/ring-error.js";
import { XenbusError, type XenbusErrorInit } from "./xenbus-error.js";

/** A watch event as xenstored sent it. */
export interface XsWatchEvent {
  readonly path: string;
  readonly token: string;
}

interface PendingRequest {
  readonly type: number;
  readonly path: string | undefined;
  readonly resolve: (m: XsMessage) => void;
  readonly reject: (e: XenbusError) => void;
}

/** What a connection can be asked to send. */
export interface XsRequest {
  readonly type: number;
  readonly payload: Uint8Array;
  readonly tx_id?: number;
  /** For error messages: the path or first argument. */
  readonly path?: string | undefined;
}

export class XsRingConnection {
  readonly #page: Page;
  readonly #channel: EventChannel;
  readonly #req: ByteRingWriter;
  readonly #rsp: ByteRingReader;
  readonly #assembler = new XsMessageParser();
  readonly #pending = new Map<number, PendingRequest>();
  readonly #watchListeners = new Set<(e: XsWatchEvent) => void>();
  readonly #failureListeners = new Set<(e: XenbusError) => void>();
  #events: Subscription | undefined;
  #out: Uint8Array[] = [];
  /** What one pass copies out of `rsp` before the parser takes it (the parser copies it). */
  readonly #scratch = new Uint8Array(XENSTORE_RING_SIZE);
  #nextReqId = 1;
  #failure: XenbusError | undefined;
  #pumping = false;
  #again = false;
  #unmatched = 0;

  /**
   * Serves the ring in `page` notified through `channel` (the store port). The connection
   * listens to the channel's events; `close()` stops listening (the channel stays open).
   */
  constructor(page: Page, channel: EventChannel) {
    this.#page = page;
    this.#channel = channel;
    this.#req = new ByteRingWriter(page, xenstoreRequestRing);
    this.#rsp = new ByteRingReader(page, xenstoreResponseRing);
    const events = channel.events$.subscribe({
      next: () => this.pump(),
      complete: () => this.#fail({ reason: "closed", detail: "store event channel closed" }),
    });
    if (this.#failure !== undefined) events.unsubscribe();
    else this.#events = events;
    this.pump();
  }

  /** Requests sent and not yet answered. */
  get inFlight(): number {
    return this.#pending.size;
  }

  /** Replies whose req_id matched no pending request (dropped, as Linux does). */
  get unmatchedReplies(): number {
    return this.#unmatched;
  }

  /** The failure that stopped the connection, if any. */
  get failure(): XenbusError | undefined {
    return this.#failure;
  }

  /** Registers a listener for every WATCH_EVENT; returns its removal. */
  onWatchEvent(listener: (e: XsWatchEvent) => void): () => void {
    this.#watchListeners.add(listener);
    return () => this.#watchListeners.delete(listener);
  }

  /** Registers a listener called once if the connection fails or closes; returns its removal. */
  onFailure(listener: (e: XenbusError) => void): () => void {
    this.#failureListeners.add(listener);
    return () => this.#failureListeners.delete(listener);
  }

  /**
   * Sends one request; resolves with the reply (type = request type), rejects with a
   * XenbusError for XS_ERROR replies and ring failures.
   */
  request(r: XsRequest): Promise<XsMessage> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    const req_id = this.#allocReqId();
    let bytes: Uint8Array;
    try {
      bytes = encodeXsMessage({ type: r.type, req_id, tx_id: r.tx_id ?? 0, payload: r.payload });
    } catch {
      return Promise.reject(
        new XenbusError({ reason: "request-too-large", type: r.type, path: r.path }),
      );
    }
    return new Promise<XsMessage>((resolve, reject) => {
      this.#pending.set(req_id, { type: r.type, path: r.path, resolve, reject });
      this.#out.push(bytes);
      this.pump();
    });
  }

  /** Fails every pending request with reason `closed` and stops serving the ring. Idempotent. */
  close(): void {
    this.#fail({ reason: "closed" });
  }

  /** One pass over both rings (the channel's events run this). */
  pump(): void {
    if (this.#failure !== undefined) return;
    if (this.#pumping) {
      this.#again = true;
      return;
    }
    this.#pumping = true;
    let moved = false;
    try {
      do {
        this.#again = false;
        const err = this.#page.getU32(xenstore_domain_interface.error[0]);
        if (err !== XENSTORE_ERROR.XENSTORE_ERROR_NONE) {
          this.#fail({ reason: "ring-error", ringError: err });
          return;
        }
        moved = this.#write() || moved;
        moved = this.#read() || moved;
      } while (this.#again && this.#failure === undefined);
    } catch (e) {
      if (!(e instanceof RingProtocolError)) throw e;
      this.#fail({ reason: "ring-corrupt", detail: e.message });
    } finally {
      this.#pumping = false;
    }
    if (moved && this.#failure === undefined) {
      try {
        this.#channel.notify();
      } catch {
        this.#fail({ reason: "closed", detail: "store event channel closed" });
      }
    }
  }

  #allocReqId(): number {
    for (;;) {
      const id = this.#nextReqId;
      this.#nextReqId = (this.#nextReqId + 1) >>> 0;
      if (!this.#pending.has(id)) return id;
    }
  }

  /** Copies queued request bytes into `req`. True if any were written. */
  #write(): boolean {
    let any = false;
    while (this.#out.length > 0) {
      const head = this.#out[0]!;
      const n = this.#req.write(head);
      if (n === 0) break;
      any = true;
      if (n < head.length) {
        this.#out[0] = head.subarray(n);
        break;
      }
      this.#out.shift();
    }
    return any;
  }

  /** Consumes `rsp` and dispatches every complete message. True if any byte was consumed. */
  #read(): boolean {
    let any = false;
    const scratch = this.#scratch;
    for (;;) {
      const n = this.#rsp.readInto(scratch, 0, scratch.length);
      if (n === 0) break;
      any = true;
      this.#assembler.push(scratch.subarray(0, n));
      for (;;) {
        const m = this.#assembler.next();
        if (m === undefined) break;
        if (m === XS_OVERSIZE) {
          this.#fail({
            reason: "protocol",
            detail: `a reply header announced more than 4096 bytes`,
          });
          return any;
        }
        this.#dispatch(m);
        if (this.#failure !== undefined) return any;
      }
    }
    return any;
  }

  #dispatch(m: XsMessage): void {
    if (m.type === XS.XS_WATCH_EVENT) {
      const [path = "", token = ""] = nulSplit(m.payload);
      for (const l of [...this.#watchListeners]) l({ path, token });
      return;
    }
    const p = this.#pending.get(m.req_id);
    if (p === undefined) {
      this.#unmatched++;
      return;
    }
    this.#pending.delete(m.req_id);
    if (m.type === XS.XS_ERROR) {
      const [name = ""] = nulSplit(m.payload);
      p.reject(
        new XenbusError({ reason: "error-reply", type: p.type, path: p.path, serverName: name }),
      );
    } else if (m.type !== p.type) {
      p.reject(
        new XenbusError({
          reason: "protocol",
          type: p.type,
          path: p.path,
          detail: `reply of type ${m.type}`,
        }),
      );
    } else {
      p.resolve(m);
    }
  }

  #fail(init: XenbusErrorInit): void {
    if (this.#failure !== undefined) return;
    const failure = new XenbusError(init);
    this.#failure = failure;
    this.#events?.unsubscribe();
    this.#events = undefined;
    this.#out = [];
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) p.reject(new XenbusError({ ...init, type: p.type, path: p.path }));
    const listeners = [...this.#failureListeners];
    this.#failureListeners.clear();
    this.#watchListeners.clear();
    for (const l of listeners) l(failure);
  }
}
