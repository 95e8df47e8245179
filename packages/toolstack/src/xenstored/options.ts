/**
 * xenstored settings: cxenstored 4.17's quota defaults (`xenstored_core.c`, options `-E -S -W
 * -t -A -M -Q -q`), the watch-event timeout (`-w watch-event=<s>`) and the privileged domain.
 * Dom0, the privileged domain and socket clients are exempt from every quota and timeout (the
 * memory quota is charged to a node's owner, so a privileged writer can hit it on a node an
 * unprivileged domain owns, as in cxenstored).
 */
import type { XenstoredDomainHooks } from "./domains.js";
import { XENSTORE_REL_PATH_MAX } from "@pvkit/hypervisor-sim/abi";

/** Per-domain limits. Each hit gives the error named in its doc. */
export interface XenstoredQuotas {
  /** Nodes a domain may own (`-E`, 1000): creating more gives ENOSPC. */
  nodesPerDomain: number;
  /** Node record size in bytes, header + perms + value + child names (`-S`, 2048): ENOSPC at >=. */
  nodeSize: number;
  /** Watches (`-W`, 128): checked as `existing > quota` before adding, so E2BIG from the 130th. */
  watchesPerDomain: number;
  /** Open transactions (`-t`, 10): checked as `open > quota`, so ENOSPC from the 12th. */
  transactionsPerDomain: number;
  /** Entries in a SET_PERMS list (`-A`, 5): more gives ENOSPC. */
  permsPerNode: number;
  /** Path length in bytes (`-M`, 2048, capped at 2048): longer gives EINVAL. */
  pathMax: number;
  /** Distinct nodes one transaction may touch (`-Q transaction-nodes`, 1024): ENOSPC. */
  transactionNodes: number;
  /**
   * Requests outstanding (XSA-326, `-Q outstanding`, 20) before an unprivileged domain's ring is
   * no longer read (a ring transport's `outstandingLimit` overrides it).
   */
  outstandingPerDomain: number;
  /**
   * Memory a domain may use (`-Q memory`, `quota_memory_per_domain_hard`, 2.5 MiB), in bytes as
   * `domain_memory_add` counts them: each node it owns (TDB record + path length), its
   * transactions' private node copies, its watches (path + token) and its queued messages
   * (16-byte header + payload). A node write that would reach it fails with EIO, a watch with
   * ENOMEM, a reply over 16 bytes becomes ENOMEM, a watch event is dropped, and the domain's
   * ring is not read while it is reached.
   */
  memoryPerDomain: number;
  /** The warning level (`-q memory`, `quota_memory_per_domain_soft`, 2 MiB): nothing is refused. */
  memoryPerDomainSoft: number;
}

/** cxenstored 4.17 defaults. */
export const DEFAULT_QUOTAS: Readonly<XenstoredQuotas> = Object.freeze({
  nodesPerDomain: 1000,
  nodeSize: 2048,
  watchesPerDomain: 128,
  transactionsPerDomain: 10,
  permsPerNode: 5,
  pathMax: XENSTORE_REL_PATH_MAX,
  transactionNodes: 1024,
  outstandingPerDomain: 20,
  memoryPerDomain: 2 * 1024 * 1024 + 512 * 1024,
  memoryPerDomainSoft: 2 * 1024 * 1024,
});

/** cxenstored 4.17's `timeout_watch_event_msec` default: 20 s. */
export const DEFAULT_WATCH_EVENT_TIMEOUT_MS = 20_000;

/**
 * A virtual clock with one-shot timers, in nanoseconds. The simulator's scheduler fits as is
 * (`hv.scheduler`); xenstored never reads real time.
 */
export interface XenstoredScheduler {
  /** Virtual time now, in ns. */
  readonly now: number;
  /** Runs `run` at absolute virtual time `at` (ns). */
  at(at: number, run: () => void): { cancel(): void };
}

/**
 * Options of `new Xenstored(options)`, each a cxenstored 4.17 command-line setting or what the
 * host provides: quotas (`-Q`), the extra privileged domain (`--priv-domid`), the host hooks
 * (domain existence, ring connection on INTRODUCE), the virtual clock and the watch-event
 * timeout (`-w watch-event`). All optional: an empty object is cxenstored's defaults with no
 * host.
 */
export interface XenstoredOptions {
  /** Quota overrides; the rest keep cxenstored's defaults. */
  quotas?: Partial<XenstoredQuotas>;
  /** The privileged domain besides dom0 (`--priv-domid`); default 0 (none besides dom0). */
  privDomid?: number;
  /** What the host provides: domain existence and ring connection. */
  hooks?: XenstoredDomainHooks;
  /**
   * The virtual clock that times out watch events and refills the write rate limit's credit.
   * Without one, events never time out and writes are not rate limited (every other rule,
   * outstanding accounting included, still holds).
   */
  scheduler?: XenstoredScheduler;
  /**
   * `-w watch-event=<seconds>`, in ms: a watch event queued for an unprivileged domain and not
   * yet partly written after this long is dropped. 0 disables. Default 20000.
   * @throws RangeError (from the constructor) unless a non-negative integer.
   */
  watchEventTimeoutMs?: number;
}

/** Fills in defaults, validating values (RangeError for a non-positive quota). */
export function resolveQuotas(q: Partial<XenstoredQuotas> | undefined): XenstoredQuotas {
  const out: XenstoredQuotas = { ...DEFAULT_QUOTAS, ...q };
  for (const [k, v] of Object.entries(out)) {
    if (!Number.isInteger(v) || v < 1)
      throw new RangeError(`quota ${k} must be a positive integer, got ${v}`);
  }
  out.pathMax = Math.min(out.pathMax, XENSTORE_REL_PATH_MAX);
  return out;
}
