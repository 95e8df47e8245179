/**
 * GNTTABOP_copy with a TypeScript-shaped op (`grant_table.c`: `gnttab_copy`): each side is
 * either a peer's grant ref (`{ ref, domid }`) or one of this guest's own frames (`{ gfn }`,
 * DOMID_SELF), plus a byte offset in the page. Xen checks the bounds (`offset + length > 4096`
 * is GNTST_bad_copy_arg) and the grants; the first failing element surfaces as
 * GrantStatusError with its batch index.
 *
 * ```
 * { from: { ref: 12, domid: 3 }, to: { gfn: 0x200 }, length: 4096 }   // peer's grant -> my page
 * { from: { gfn: 0x200, offset: 64 }, to: { ref: 13, domid: 3 }, length: 112 }
 * ```
 */
import {
  DOMID_SELF,
  GNTCOPY,
  type gnttab_copy,
  type gnttab_copy_ptr,
} from "@pvkit/hypervisor-sim/abi";
import { GrantStatusError } from "../errors.js";
import { copyGrants, type GnttabHypercalls } from "../hypercall/gnttab-ops.js";

/** A peer's grant: `ref` in `domid`'s grant table (GNTCOPY_*_gref). */
export interface GrantRefEnd {
  readonly ref: number;
  readonly domid: number;
  /** Byte offset in the page. Default 0. */
  readonly offset?: number;
}

/** One of the caller's own frames (DOMID_SELF). */
export interface LocalFrameEnd {
  readonly gfn: number;
  /** Byte offset in the page. Default 0. */
  readonly offset?: number;
}

/** One side of a copy. */
export type GrantCopyEnd = GrantRefEnd | LocalFrameEnd;

/** One element of a GNTTABOP_copy batch. */
export interface GrantCopyOp {
  readonly from: GrantCopyEnd;
  readonly to: GrantCopyEnd;
  /** Bytes to copy (u16; 0 is allowed). */
  readonly length: number;
}

function isRef(end: GrantCopyEnd): end is GrantRefEnd {
  return (end as GrantRefEnd).ref !== undefined;
}

function side(end: GrantCopyEnd): gnttab_copy_ptr {
  return isRef(end)
    ? { u: { ref: end.ref }, domid: end.domid, offset: end.offset ?? 0 }
    : { u: { gmfn: end.gfn }, domid: DOMID_SELF, offset: end.offset ?? 0 };
}

/** The `struct gnttab_copy` for `op`. */
export function toGnttabCopy(op: GrantCopyOp): gnttab_copy {
  const flags =
    (isRef(op.from) ? GNTCOPY.GNTCOPY_source_gref : 0) |
    (isRef(op.to) ? GNTCOPY.GNTCOPY_dest_gref : 0);
  return { source: side(op.from), dest: side(op.to), len: op.length, flags };
}

/**
 * Runs `ops` as one GNTTABOP_copy hypercall. Xen processes every element; on failure the
 * others may have been copied (see the error's `batch`).
 * @throws GrantStatusError for the first failing element (`index`): GNTST_bad_copy_arg,
 *   GNTST_bad_gntref, GNTST_general_error (wrong grantee, read-only dest), GNTST_bad_domain, ...
 * @throws XenError when the hypercall itself fails (EFAULT for a malformed op).
 */
export function copyGrantPages(hc: GnttabHypercalls, ops: readonly GrantCopyOp[]): void {
  copyGrants(hc, ops.map(toGnttabCopy));
}

/** A copy struct whose sides carry both union members, so one object serves either kind. */
interface CopySlot extends gnttab_copy {
  source: { u: { ref: number; gmfn: number }; domid: number; offset: number };
  dest: { u: { ref: number; gmfn: number }; domid: number; offset: number };
}

function slot(): CopySlot {
  return {
    source: { u: { ref: 0, gmfn: 0 }, domid: DOMID_SELF, offset: 0 },
    dest: { u: { ref: 0, gmfn: 0 }, domid: DOMID_SELF, offset: 0 },
    len: 0,
    flags: 0,
    status: 0,
  };
}

/**
 * A reusable GNTTABOP_copy batch for hot paths (a backend copying every request's data): the
 * `struct gnttab_copy` objects are allocated once and refilled, so a batch costs no garbage.
 *
 * ```ts
 * const batch = mapper.copyBatch();
 * for (const req of requests) batch.fromGrant(req.gref, frontDomid, 0, localGfn, 0, req.len);
 * batch.run(); // one hypercall; then the batch is empty again
 * ```
 */
export class GrantCopyBatch {
  readonly #hc: GnttabHypercalls;
  readonly #slots: CopySlot[] = [];
  readonly #batch: CopySlot[] = [];

  /** @param hc the hypercalls of the vCPU issuing the copies. */
  constructor(hc: GnttabHypercalls) {
    this.#hc = hc;
  }

  /** Copies queued. */
  get length(): number {
    return this.#batch.length;
  }

  #next(): CopySlot {
    const i = this.#batch.length;
    let s = this.#slots[i];
    if (s === undefined) this.#slots.push((s = slot()));
    this.#batch.push(s);
    return s;
  }

  /** Queues `length` bytes from a peer's grant (`ref` of `domid`, at `srcOffset`) into local frame `gfn` at `dstOffset`. */
  fromGrant(
    ref: number,
    domid: number,
    srcOffset: number,
    gfn: number,
    dstOffset: number,
    length: number,
  ): this {
    const s = this.#next();
    s.source.u.ref = ref;
    s.source.domid = domid;
    s.source.offset = srcOffset;
    s.dest.u.gmfn = gfn;
    s.dest.domid = DOMID_SELF;
    s.dest.offset = dstOffset;
    s.len = length;
    s.flags = GNTCOPY.GNTCOPY_source_gref;
    return this;
  }

  /** Queues `length` bytes from local frame `gfn` (at `srcOffset`) into a peer's grant (`ref` of `domid`, at `dstOffset`). */
  toGrant(
    gfn: number,
    srcOffset: number,
    ref: number,
    domid: number,
    dstOffset: number,
    length: number,
  ): this {
    const s = this.#next();
    s.source.u.gmfn = gfn;
    s.source.domid = DOMID_SELF;
    s.source.offset = srcOffset;
    s.dest.u.ref = ref;
    s.dest.domid = domid;
    s.dest.offset = dstOffset;
    s.len = length;
    s.flags = GNTCOPY.GNTCOPY_dest_gref;
    return this;
  }

  /** Queues a friendly op (see `GrantCopyOp`). */
  add(op: GrantCopyOp): this {
    const s = this.#next();
    const c = toGnttabCopy(op);
    s.source.u.ref = c.source.u.ref ?? 0;
    s.source.u.gmfn = c.source.u.gmfn ?? 0;
    s.source.domid = c.source.domid;
    s.source.offset = c.source.offset;
    s.dest.u.ref = c.dest.u.ref ?? 0;
    s.dest.u.gmfn = c.dest.u.gmfn ?? 0;
    s.dest.domid = c.dest.domid;
    s.dest.offset = c.dest.offset;
    s.len = c.len;
    s.flags = c.flags;
    return this;
  }

  /** Drops the queued copies without running them. */
  clear(): void {
    this.#batch.length = 0;
  }

  /**
   * Runs the queued copies as one GNTTABOP_copy hypercall and empties the batch (also when it
   * throws). A batch of 0 copies issues no hypercall.
   * @throws GrantStatusError for the first failing element (`index` = its position in the batch;
   *   `batch` is a copy of the structs as Xen wrote them back, unaffected by later batches).
   * @throws XenError when the hypercall itself fails.
   */
  run(): void {
    if (this.#batch.length === 0) return;
    try {
      copyGrants(this.#hc, this.#batch);
    } catch (e) {
      // The structs are refilled by the next batch: the error keeps a copy of what Xen answered.
      if (e instanceof GrantStatusError)
        throw new GrantStatusError(e.op, e.index, e.status, structuredClone(this.#batch));
      throw e;
    } finally {
      this.#batch.length = 0;
    }
  }
}
