/**
 * The guest memory of the FIFO event ABI (Linux `events_fifo.c`: `evtchn_fifo_init`,
 * `evtchn_fifo_alloc_control_block`, `evtchn_fifo_setup`; xen-abi.md §1.3 and §1.8):
 *
 * ```
 * control block, one page per vCPU (offset 0):  +0 ready u32   +4 _rsvd u32   +8 head[16] u32
 * event array, page n = ports n*1024 .. n*1024+1023, one u32 event word each:
 *   bit 31 PENDING | 30 MASKED | 29 LINKED | 28 BUSY | 16..0 LINK (next port in the queue)
 * ```
 *
 * Pages come from the guest's `GuestPageAllocator`. Once registered with EVTCHNOP_init_control
 * or EVTCHNOP_expand_array they belong to Xen as much as to the guest: Xen writes them until
 * EVTCHNOP_reset or the domain's destruction, so they are never given back. For the same
 * reason the state outlives one `EventChannels`: a new one for the same guest (after `close()`)
 * takes it over, private queue heads included, as Linux keeps its pages across a resume.
 */
import type { Guest, Hypercalls, Page } from "@pvkit/hypervisor-sim";
import {
  EVTCHN_FIFO_EVENT_WORDS_PER_PAGE,
  EVTCHN_FIFO_MASKED,
  EVTCHN_FIFO_MAX_QUEUES,
} from "@pvkit/hypervisor-sim/abi";
import type { GuestPageAllocator } from "../grants/page-allocator.js";
import { evtchnExpandArray, evtchnInitControl } from "../hypercall/evtchn-ops.js";

/** Byte offset of each control block in its page (Linux uses a whole page per vCPU). */
export const FIFO_CONTROL_OFFSET = 0;

/**
 * One guest's FIFO pages and private queue state. Made by `FifoState.of`, which issues
 * EVTCHNOP_init_control for every vCPU the first time. @internal
 */
export class FifoState {
  static readonly #registry = new WeakMap<Guest, FifoState>();

  /**
   * The FIFO state of `guest`: the one set up earlier, or a new one — a control-block page per
   * vCPU from `pages` and EVTCHNOP_init_control for each, issued on vCPU `vcpu`. The event array
   * starts empty (`ensurePort` adds pages).
   * @throws XenError from init_control (ENOSYS without FIFO support; EINVAL if a control block
   * was registered behind the SDK's back). A failure on vCPU 0 leaves the guest on 2-level; on a
   * later vCPU the guest has switched and the earlier control pages stay Xen's.
   * @throws GrantError ENOPAGES when `pages` has no page left.
   */
  static of(guest: Guest, pages: GuestPageAllocator, vcpu: number): FifoState {
    const known = FifoState.#registry.get(guest);
    if (known !== undefined) return known;
    const hc = guest.vcpu(vcpu);
    const controls: Page[] = [];
    for (let v = 0; v < guest.nrVcpus; v++) {
      const p = pages.alloc();
      try {
        evtchnInitControl(hc, p.gfn, FIFO_CONTROL_OFFSET, v);
      } catch (err) {
        pages.free(p);
        throw err;
      }
      controls.push(p.page);
    }
    const st = new FifoState(controls);
    FifoState.#registry.set(guest, st);
    return st;
  }

  /** Whether `guest` has FIFO state (it switched to FIFO through the SDK). */
  static has(guest: Guest): boolean {
    return FifoState.#registry.has(guest);
  }

  /** Control-block page of each vCPU. */
  readonly controls: readonly Page[];
  /** Event-array pages in slot order: port p is word p % 1024 of page p / 1024. */
  readonly array: Page[] = [];
  /** Linux's per-vCPU `cpu_queue.head`: the guest's private head of each of the 16 queues. */
  readonly heads: Uint32Array[];
  /** Ready bits a round left unconsumed (its budget ran out), per vCPU; taken by the next round. */
  readonly carried: Uint32Array;

  private constructor(controls: Page[]) {
    this.controls = controls;
    this.heads = controls.map(() => new Uint32Array(EVTCHN_FIFO_MAX_QUEUES));
    this.carried = new Uint32Array(controls.length);
  }

  /** Ports that have an event word (array pages × 1024). */
  get nrPorts(): number {
    return this.array.length * EVTCHN_FIFO_EVENT_WORDS_PER_PAGE;
  }

  /**
   * Linux's `evtchn_fifo_setup`: adds array pages until `port` has a word. Each new page gets
   * MASKED in every word before EVTCHNOP_expand_array, so a port Xen re-raises on expansion (one
   * raised while its page was missing) is held pending until the guest unmasks it.
   * @throws XenError from expand_array; GrantError ENOPAGES when `pages` has no page left.
   */
  ensurePort(port: number, pages: GuestPageAllocator, hc: Hypercalls): void {
    const need = Math.floor(port / EVTCHN_FIFO_EVENT_WORDS_PER_PAGE) + 1;
    while (this.array.length < need) {
      const p = pages.alloc();
      for (let i = 0; i < EVTCHN_FIFO_EVENT_WORDS_PER_PAGE; i++) p.page.setU32(i * 4, 1 << EVTCHN_FIFO_MASKED);
      try {
        evtchnExpandArray(hc, p.gfn);
      } catch (err) {
        pages.free(p);
        throw err;
      }
      this.array.push(p.page);
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
