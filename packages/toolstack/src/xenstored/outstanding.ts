/**
 * XSA-326 accounting of a request's reply and the watch events it caused (cxenstored 4.17,
 * `send_reply`, `send_event` and `free_buffered_data` in `xenstored_core.c`).
 *
 * A request counts as outstanding for the connection that sent it from the moment its reply is
 * queued. It stops counting once the reply has left (written out, or dropped with its queue) AND
 * every watch event the request caused, on whatever connection, has left too (written out,
 * timed out, or dropped because its connection went away). Watch events are never outstanding
 * themselves. So a domain whose writes fire watches that a slow reader does not consume runs out
 * of its outstanding quota and stops being read, instead of flooding the reader.
 *
 * ```
 *  request in ─> process ─> reply queued (+1) ─┬─ reply written ─────────┐
 *                   └─> events queued elsewhere ┴─ each written/dropped ──┴─> all gone: -1
 * ```
 */

/** The connection side of the accounting: where a request's count is kept. */
export interface OutstandingOwner {
  /** @internal One more outstanding request (its reply was queued). */
  outstandingInc(): void;
  /** @internal One request fewer (its reply and all its events are gone). */
  outstandingDec(): void;
}

/** One request, from the moment it is read until its reply and its events are all gone. */
export class RequestCause {
  readonly #owner: OutstandingOwner;
  /** The request is still being processed: more events may attach to it. */
  #open = true;
  #replyPending = false;
  #counted = false;
  #events = 0;

  constructor(owner: OutstandingOwner) {
    this.#owner = owner;
  }

  /** Whether the request counts as outstanding for its connection now. */
  get counted(): boolean {
    return this.#counted;
  }

  /** Events caused by the request and not yet written or dropped. */
  get events(): number {
    return this.#events;
  }

  /** The request's reply (or error) was queued: it starts to count (`domain_outstanding_inc`). */
  replyQueued(): void {
    this.#replyPending = true;
    if (!this.#counted) {
      this.#counted = true;
      this.#owner.outstandingInc();
    }
  }

  /** The reply was written out or dropped. */
  replyGone(): void {
    this.#replyPending = false;
    this.#check();
  }

  /** A watch event caused by the request was queued (`req->pend.ref.event_cnt++`). */
  eventQueued(): void {
    this.#events++;
  }

  /** One of its watch events was written out, timed out or dropped. */
  eventGone(): void {
    if (this.#events > 0) this.#events--;
    this.#check();
  }

  /** Processing ended: no further event can attach. */
  seal(): void {
    this.#open = false;
    this.#check();
  }

  #check(): void {
    if (!this.#counted || this.#open || this.#replyPending || this.#events > 0) return;
    this.#counted = false;
    this.#owner.outstandingDec();
  }
}
