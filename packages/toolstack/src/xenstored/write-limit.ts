/**
 * cxenstored 4.17's write rate limit (`wrl_*` in `xenstored_domain.c`), run on virtual time.
 *
 * Every introduced domain (dom0 included) has a credit in thousandths of a write. Writes by
 * unprivileged domains cost 1000 each (one per node written or deleted, `access_node`), but only
 * while some transaction is open on any connection: outside a transaction at once
 * (`wrl_apply_debit_direct`), inside one at its commit if another transaction is open too
 * (`wrl_apply_debit_trans_commit`). Credit flows back at 200 writes/s shared by all introduced
 * domains, in whole milliseconds; a domain holds at most 10 writes of it, the surplus goes to a
 * global reserve of at most 1000, which lends to domains in deficit. A new domain takes up to 10
 * from the reserve, which may go 50 into debt for that (`WRL_NEWDOMS` × `WRL_DBURST`). A domain
 * whose credit is negative is not read (`domain_can_read`) until the credit has come back to 0,
 * which {@link WriteRateLimiter.blockedFor} predicts as `wrl_check_timeout` does.
 *
 * ```
 *   reserve  [-50 000 .. 1 000 000]  <──surplus over 10 000── domain credit [.. 10 000]
 *                 └──lends while reserve > 0──> domain in deficit       ^ +200 000/ndoms per s
 *                                                                       └ -1000 per write
 * ```
 */
import type { DomainRecord } from "./domains.js";

/** `WRL_FACTOR`: fixed-point unit (credit per write). */
export const WRL_FACTOR = 1000;
/** `WRL_RATE`: writes per second, shared by all introduced domains. */
export const WRL_RATE = 200;
/** `WRL_DBURST`: writes a domain may bank. */
export const WRL_DBURST = 10;
/** `WRL_GBURST`: writes the global reserve may bank. */
export const WRL_GBURST = 1000;
/** `WRL_NEWDOMS`: new domains the reserve may go into debt for. */
export const WRL_NEWDOMS = 5;
/** `WRL_CREDIT_MAX`. */
export const WRL_CREDIT_MAX = 1000 * 1000 * 1000;

const WRITECOST = WRL_FACTOR;
const RATE = WRL_RATE * WRL_FACTOR;
const DBURST = WRL_DBURST * WRL_FACTOR;
const GBURST = WRL_GBURST * WRL_FACTOR;
const NEWDOMS_DBURST = WRL_DBURST * WRL_NEWDOMS * WRL_FACTOR;
const INT_MAX = 0x7fffffff;

/** A domain's limiter state (`wrl_credit`, `wrl_timestamp`). */
export interface WrlDomainState {
  credit: number;
  /** `struct wrl_timestampt`: whole seconds and the milliseconds within. */
  sec: number;
  msec: number;
}

interface Cell {
  v: number;
}

/** `wrl_xfer_credit`: moves as much as keeps `debit >= floor` and `credit <= ceil`. */
function xfer(debit: Cell, floor: number, credit: Cell, ceil: number): void {
  const n = Math.min(debit.v - floor, ceil - credit.v);
  if (n > 0) {
    debit.v -= n;
    credit.v += n;
  }
}

export class WriteRateLimiter {
  readonly #now: () => number;
  #ndomains = 0;
  readonly #reserve: Cell = { v: 0 };

  /** @param now virtual time in ns */
  constructor(now: () => number) {
    this.#now = now;
  }

  /** The global reserve (`wrl_reserve`), in thousandths of a write. */
  get reserve(): number {
    return this.#reserve.v;
  }

  /** Introduced domains sharing the rate (`wrl_ndomains`). */
  get domains(): number {
    return this.#ndomains;
  }

  #stamp(): { sec: number; msec: number } {
    const ns = this.#now();
    return { sec: Math.floor(ns / 1e9), msec: Math.floor((ns % 1e9) / 1e6) };
  }

  /** `wrl_domain_new`: a domain is introduced; it takes up to a burst from the reserve. */
  domainNew(d: DomainRecord): void {
    const t = this.#stamp();
    d.wrl = { credit: 0, sec: t.sec, msec: t.msec };
    this.#ndomains++;
    const c: Cell = { v: 0 };
    xfer(this.#reserve, -NEWDOMS_DBURST, c, DBURST);
    d.wrl.credit = c.v;
  }

  /** `wrl_domain_destroy`: an introduced domain goes; its credit returns to the reserve. */
  domainDestroy(d: DomainRecord): void {
    const w = d.wrl;
    if (!w) return;
    this.#ndomains--;
    const c: Cell = { v: w.credit };
    xfer(c, 0, this.#reserve, DBURST);
    w.credit = c.v;
    d.wrl = undefined;
  }

  /** `wrl_credit_update`: adds the credit earned since the last update, in whole ms. */
  creditUpdate(d: DomainRecord): void {
    const w = d.wrl;
    if (!w) return;
    const now = this.#stamp();
    const seconds = Math.min(now.sec - w.sec, 1000 * 1000);
    let msec = seconds * 1000 + (now.msec - w.msec);
    if (msec < 0) msec = 0;
    const earned = Math.floor((msec * RATE) / (this.#ndomains * 1000));
    const credit: Cell = { v: Math.min(w.credit + earned, WRL_CREDIT_MAX) };
    // Borrow from the reserve to get back to 0, then give any surplus over a burst back.
    xfer(this.#reserve, 0, credit, 0);
    const surplus: Cell = { v: 0 };
    xfer(credit, DBURST, surplus, WRL_CREDIT_MAX);
    xfer(surplus, 0, this.#reserve, GBURST);
    w.credit = credit.v;
    w.sec = now.sec;
    w.msec = now.msec;
  }

  /**
   * `wrl_check_timeout`: updates the credit; if it is negative, the milliseconds until it is
   * earned back (at least 1: the real daemon would spin until its clock ticks), else undefined.
   */
  blockedFor(d: DomainRecord): number | undefined {
    const w = d.wrl;
    if (!w) return undefined;
    this.creditUpdate(d);
    if (w.credit >= 0) return undefined;
    const wakeup = Math.min(Math.floor((-w.credit * 1000 * this.#ndomains) / RATE), INT_MAX);
    return Math.max(wakeup, 1);
  }

  /** `wrl_apply_debit_actual`: an unprivileged domain pays for one write. */
  debit(d: DomainRecord | undefined, unprivileged: boolean): void {
    if (!d?.wrl || !unprivileged) return;
    this.creditUpdate(d);
    d.wrl.credit -= WRITECOST;
  }
}
