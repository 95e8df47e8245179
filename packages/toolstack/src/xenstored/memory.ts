/**
 * The per-domain memory quota of cxenstored 4.17 (`domain_memory_add`, `domain_chk_quota` in
 * `xenstored_domain.c`; the charges in `do_tdb_write`, `do_tdb_delete`, `send_reply`,
 * `send_event`, `free_buffered_data` of `xenstored_core.c` and `add_watch` of
 * `xenstored_watch.c`). A domain is charged, in bytes:
 *
 * | what | charged to | size |
 * |---|---|---|
 * | a committed node | its owner (`perms[0].id`) | TDB record + path length |
 * | a transaction's private copy of a node | the transaction's connection | TDB record + length of `<txn generation>/<path>` |
 * | a watch | the watching connection | path + token lengths (no NULs) |
 * | a queued reply or watch event | the receiving connection | 16-byte header + payload |
 *
 * Socket and in-process clients are charged to domain 0. Only an unprivileged domain (not 0, not
 * the privileged domain) whose connection is not ignored is ever refused: a charge that would
 * bring its total to `quota_memory_per_domain_hard` or beyond fails, unless it is made without
 * the check (releases, undo paths, and the charges cxenstored makes unchecked). Reaching the soft
 * level only logs in cxenstored; nothing is refused.
 */
import type { DomainRecord, DomainTable } from "./domains.js";
import type { XenstoredQuotas } from "./options.js";
import { recordSize, type NodeRecord } from "./tree.js";
import { XSD_SOCKMSG_SIZE } from "@pvkit/hypervisor-sim/abi";

/** `DEFAULT_BUFFER_SIZE`: replies up to this many payload bytes are charged without a check. */
export const DEFAULT_BUFFER_SIZE = 16;

/** Bytes a committed node costs its owner: TDB record + key (the path, no NUL). */
export function nodeMemory(n: NodeRecord): number {
  return recordSize(n) + n.name.length;
}

/** Bytes a transaction's private copy costs: TDB record + key `<generation>/<path>`. */
export function txnNodeMemory(n: NodeRecord, txnGeneration: number): number {
  return recordSize(n) + String(txnGeneration).length + 1 + n.name.length;
}

/** Bytes a queued message costs its connection: `sizeof(hdr)` + payload. */
export function messageMemory(payloadLength: number): number {
  return XSD_SOCKMSG_SIZE + payloadLength;
}

/** Bytes a watch costs: `strlen(path) + strlen(token)`. */
export function watchMemory(path: string, token: string): number {
  return path.length + token.length;
}

/** The accounting over the domain table. */
export class MemoryAccounting {
  readonly #domains: DomainTable;
  readonly #quotas: XenstoredQuotas;
  readonly #privDomid: number;

  constructor(domains: DomainTable, quotas: XenstoredQuotas, privDomid: number) {
    this.#domains = domains;
    this.#quotas = quotas;
    this.#privDomid = privDomid;
  }

  /**
   * `domain_memory_add`: charges `mem` bytes (negative to release) to `domid`. With the check, a
   * charge bringing an unprivileged domain to the hard quota or beyond is refused: nothing is
   * charged and false is returned (cxenstored's ENOMEM; callers turn it into their errno). A
   * domid without a record is not charged (cxenstored reports store corruption).
   */
  add(domid: number, mem: number, noQuotaCheck = false): boolean {
    const d = this.#domains.find(domid);
    if (!d) return true;
    if (this.overQuota(d, d.memory + mem) && !noQuotaCheck) return false;
    const wasBlocked = this.blocked(d);
    d.memory += mem;
    // cxenstored's main loop re-checks every ring on each pass; ours needs a nudge.
    if (wasBlocked && !this.blocked(d)) d.connection?.emit("readable");
    return true;
  }

  /** `domain_chk_quota`: whether `mem` bytes reach the hard quota of a checked domain. */
  overQuota(d: DomainRecord, mem: number): boolean {
    if (d.domid === 0 || d.domid === this.#privDomid) return false;
    if (d.connection?.closed) return false;
    return mem >= this.#quotas.memoryPerDomain;
  }

  /** The memory part of `domain_can_read`: the domain's ring is not read while this holds. */
  blocked(d: DomainRecord): boolean {
    return d.memory >= this.#quotas.memoryPerDomain;
  }
}
