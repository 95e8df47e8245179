/**
 * The guest memory of the FIFO event ABI (Linux `events_fifo.c`: `evtchn_fifo_init`,
 * `evtchn_fifo_alloc_control_block`, `evtchn_fifo_setup`; Xen's `event_fifo.c`:
 * `evtchn_fifo_init_control`, `evtchn_fifo_expand_array`):
 *
 * ```
 * control block, one page per vCPU (offset 0):  +0 ready u32   +4 _rsvd u32   +8 head[16] u32
 * event array, page n = ports n*1024 .. n*1024+1023, one u32 event word each:
 *   bit 31 PENDING | 30 MASKED | 29 LINKED | 28 BUSY | 16..0 LINK (next port in the queue)
 * ```
 *
 * Pages come from the guest's `GuestPageAllocator`. Once registered with EVTCHNOP_init_control
 * or EVTCHNOP_expand_array they belong to Xen as much as to the guest: Xen writes them until
 * EVTCHNOP_reset or the domain's destruction, so they are not given back while Xen may use
 * them. For the same reason the state outlives one `EventChannels`: a new one for the same
 * guest (after `close()`) takes it over, private queue heads included, as Linux keeps its pages
 * across a resume — unless Xen has left FIFO meanwhile (a toolstack's EVTCHNOP_reset), which the
 * SDK asks Xen before trusting what it remembers (`xenUsesFifo`); then the pages are freed.
 */
import type { Guest, Hypercalls, Page } from "@pvkit/hypervisor-sim";
import {
  EVTCHNOP,
  EVTCHN_FIFO_EVENT_WORDS_PER_PAGE,
  EVTCHN_FIFO_MASKED,
  EVTCHN_FIFO_MAX_QUEUES,
  EVTCHN_FIFO_PRIORITY_DEFAULT,
  XEN_ERRNO,
} from "@pvkit/hypervisor-sim/abi";
import type { AllocatedPage, GuestPageAllocator } from "../grants/page-allocator.js";
import { evtchnExpandArray, evtchnInitControl } from "../hypercall/evtchn-ops.js";

/** Byte offset of each control block in its page (Linux uses a whole page per vCPU). */
export const FIFO_CONTROL_OFFSET = 0;

/**
 * Whether Xen runs `hc`'s domain on the FIFO ABI. EVTCHNOP_set_priority of port 0 changes
 * nothing and tells: port 0 is always valid and never usable, so FIFO answers -EACCES, while
 * 2-level answers -ENOSYS first (Xen's check order). @internal
 */
export function xenUsesFifo(hc: Hypercalls): boolean {
  return (
    hc.event_channel_op(EVTCHNOP.EVTCHNOP_set_priority, {
      port: 0,
      priority: EVTCHN_FIFO_PRIORITY_DEFAULT,
    }) === -XEN_ERRNO.EACCES
  );
}

/**
 * One guest's FIFO pages and private queue state. Made by `FifoState.of`, which issues
 * EVTCHNOP_init_control for every vCPU the first time. @internal
 */
export class FifoState {
  static readonly #registry = new WeakMap<Guest, FifoState>();

  /**
   * The FIFO state of `guest`: the one set up earlier if Xen still runs the guest on FIFO, or a
   * new one — a control-block page per vCPU from `pages` (all taken before the first hypercall,
   * so running out of pages changes nothing in Xen) and EVTCHNOP_init_control for each, issued
   * on vCPU `vcpu`. A state whose init_control failed part-way (Xen switched with the first
   * vCPU) is remembered, and the next call registers the vCPUs still missing. The event array
   * starts empty (`ensurePort` adds pages).
   * @throws XenError from init_control (ENOSYS without FIFO support; EINVAL if a control block
   *   was registered behind the SDK's back). A failure on the first vCPU leaves the guest on
   *   2-level and gives the pages back.
   * @throws GrantError ERR_NO_PAGES when `pages` has too few pages left.
   */
  static of(guest: Guest, pages: GuestPageAllocator, vcpu: number): FifoState {
    const hc = guest.vcpu(vcpu);
    let st = FifoState.current(guest, hc);
    if (st === undefined) {
      const taken: AllocatedPage[] = [];
      try {
        for (let v = 0; v < guest.nrVcpus; v++) taken.push(pages.alloc());
      } catch (err) {
        for (const p of taken) pages.free(p);
        throw err;
      }
      st = new FifoState(taken, pages);
    }
    for (let v = 0; v < st.controls.length; v++) {
      if (st.#registered[v]) continue;
      try {
        evtchnInitControl(hc, st.#controlGfns[v]!, FIFO_CONTROL_OFFSET, v);
      } catch (err) {
        if (!st.#registered.includes(true)) st.#freePages(); // Xen is still on 2-level
        throw err;
      }
      st.#registered[v] = true;
      FifoState.#registry.set(guest, st); // from the first success on, Xen is on FIFO
    }
    return st;
  }

  /**
   * The state the SDK keeps for `guest`, if Xen still runs it on FIFO; a state Xen has dropped
   * (EVTCHNOP_reset took the guest back to 2-level) is forgotten and its pages freed.
   */
  static current(guest: Guest, hc: Hypercalls = guest.vcpu(0)): FifoState | undefined {
    const st = FifoState.#registry.get(guest);
    if (st === undefined || xenUsesFifo(hc)) return st;
    FifoState.#registry.delete(guest);
    st.#freePages();
    return undefined;
  }

  /** Control-block page of each vCPU. */
  readonly controls: readonly Page[];
  readonly #controlGfns: readonly number[];
  /** Whether init_control registered each vCPU's control block. */
  readonly #registered: boolean[];
  readonly #pages: GuestPageAllocator;
  /** Event-array pages in slot order: port p is word p % 1024 of page p / 1024. */
  readonly array: Page[] = [];
  readonly #arrayGfns: number[] = [];
  /** Linux's per-vCPU `cpu_queue.head`: the guest's private head of each of the 16 queues. */
  readonly heads: Uint32Array[];
  /** Ready bits a round left unconsumed (its budget ran out), per vCPU; taken by the next round. */
  readonly carried: Uint32Array;

  private constructor(controls: AllocatedPage[], pages: GuestPageAllocator) {
    this.controls = controls.map((p) => p.page);
    this.#controlGfns = controls.map((p) => p.gfn);
    this.#registered = controls.map(() => false);
    this.#pages = pages;
    this.heads = controls.map(() => new Uint32Array(EVTCHN_FIFO_MAX_QUEUES));
    this.carried = new Uint32Array(controls.length);
  }

  /** Gives every page back to the allocator (only once Xen no longer uses them). */
  #freePages(): void {
    for (const gfn of [...this.#controlGfns, ...this.#arrayGfns]) this.#pages.free(gfn);
    this.#arrayGfns.length = 0;
    this.array.length = 0;
  }

  /** Ports that have an event word (array pages × 1024). */
  get nrPorts(): number {
    return this.array.length * EVTCHN_FIFO_EVENT_WORDS_PER_PAGE;
  }

  /**
   * Linux's `evtchn_fifo_setup`: adds array pages until `port` has a word. Each new page gets
   * MASKED in every word before EVTCHNOP_expand_array, so a port Xen re-raises on expansion (one
   * raised while its page was missing) is held pending until the guest unmasks it.
   * @throws XenError from expand_array; GrantError ERR_NO_PAGES when `pages` has no page left.
   */
  ensurePort(port: number, pages: GuestPageAllocator, hc: Hypercalls): void {
    const need = Math.floor(port / EVTCHN_FIFO_EVENT_WORDS_PER_PAGE) + 1;
    while (this.array.length < need) {
      const p = pages.alloc();
      for (let i = 0; i < EVTCHN_FIFO_EVENT_WORDS_PER_PAGE; i++)
        p.page.setU32(i * 4, 1 << EVTCHN_FIFO_MASKED);
      try {
        evtchnExpandArray(hc, p.gfn);
      } catch (err) {
        pages.free(p);
        throw err;
      }
      this.array.push(p.page);
      this.#arrayGfns.push(p.gfn);
    }
  }

  /** The event word of `port` (unsigned); the port must have a page. */
  word(port: number): number {
    return this.array[port >>> 10]!.getU32((port & 1023) << 2);
  }

  /** Stores the event word of `port`. */
  setWord(port: number, w: number): void {
    this.array[port >>> 10]!.setU32((port & 1023) << 2, w >>> 0);
  }
}
