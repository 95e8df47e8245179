/**
 * The FIFO event ABI on the guest side (Linux `drivers/xen/events/events_fifo.c`:
 * `consume_one_event`, `evtchn_fifo_unmask`). Xen links each raised, unmasked port at the tail
 * of the queue of its priority on its notify vCPU; the guest drains those queues.
 *
 * One round for a vCPU (`__evtchn_fifo_handle_events` / `consume_one_event`):
 *
 * ```
 * ready = carried | xchg(control.ready, 0)
 * while ready != 0:
 *   q    = lowest set bit of ready                     <- priority 0 is the highest
 *   port = private head[q], or control.head[q] when the private head is 0
 *   next = LINK(word[port]); word[port] &= ~(LINKED | LINK)   <- one atomic step in Linux
 *   if next == 0: clear q in ready                     <- that queue is empty for now
 *   if word[port] has PENDING and not MASKED: handle(port)
 *   private head[q] = next
 *   ready |= xchg(control.ready, 0)                    <- queues Xen refilled meanwhile
 * ```
 *
 * The private head matters: Xen writes `head[q]` only into a queue it sees empty, so once the
 * guest is inside a queue the control block's head is stale and the next port is the LINK of
 * the one just taken.
 *
 * Unmask (`evtchn_fifo_unmask`): clear MASKED locally only while PENDING is clear; a pending
 * port needs EVTCHNOP_unmask so that Xen links it. Linux retries its cmpxchg while Xen holds
 * BUSY; one thread cannot wait for Xen, so a BUSY word is handed to the hypercall as well.
 */
import {
  EVTCHN_FIFO_BUSY,
  EVTCHN_FIFO_LINK_MASK,
  EVTCHN_FIFO_LINKED,
  EVTCHN_FIFO_MASKED,
  EVTCHN_FIFO_MAX_QUEUES,
  EVTCHN_FIFO_PENDING,
  evtchn_fifo_control_block_layout,
} from "@pvkit/hypervisor-sim/abi";
import type { GuestPageAllocator } from "../grants/page-allocator.js";
import { evtchnUnmask } from "../hypercall/evtchn-ops.js";
import type { EventAbi, PortHandler, VcpuContext } from "./event-abi.js";
import type { FifoState } from "./fifo-state.js";
import type { SharedInfoView } from "./shared-info-view.js";

const PENDING = 1 << EVTCHN_FIFO_PENDING; // negative as an int32: compare with !== 0
const MASKED = 1 << EVTCHN_FIFO_MASKED;
const LINKED = 1 << EVTCHN_FIFO_LINKED;
const BUSY = 1 << EVTCHN_FIFO_BUSY;

/** `evtchn_fifo_control_block.ready`: byte offset in the block. */
const CB_READY = evtchn_fifo_control_block_layout.ready[0];
/** The ready bits of the 16 queues (`EVTCHN_FIFO_MAX_QUEUES`). */
const ALL_QUEUES = (1 << EVTCHN_FIFO_MAX_QUEUES) - 1;
/** `evtchn_fifo_control_block.head[0]`: byte offset in the block. */
const CB_HEAD = evtchn_fifo_control_block_layout.head[0];

/**
 * Ports one round consumes at most. Linux drains until `ready` stays 0, which never happens when
 * a handler re-raises its own port; past this budget the round keeps its ready bits for the next
 * round and sets upcall_pending, so the upcall loop (and its MAX_UPCALL_ROUNDS) decides.
 */
export const FIFO_EVENTS_PER_ROUND = 64;

function lowestBit(x: number): number {
  return 31 - Math.clz32(x & -x);
}

/** The FIFO ABI over a guest's `FifoState`. @internal */
export class FifoAbi implements EventAbi {
  /** The ABI's name. */
  readonly name = "fifo" as const;
  readonly #st: FifoState;
  readonly #sh: SharedInfoView;
  readonly #ctx: VcpuContext;
  readonly #pages: GuestPageAllocator;

  /**
   * @param sh the guest's shared_info: `evtchn_upcall_pending` stays in vcpu_info under FIFO.
   * @param pages where new event-array pages come from.
   */
  constructor(st: FifoState, sh: SharedInfoView, pages: GuestPageAllocator, ctx: VcpuContext) {
    this.#st = st;
    this.#sh = sh;
    this.#pages = pages;
    this.#ctx = ctx;
  }

  /** False once the guest's memory is gone (shared_info stands for every page). */
  get alive(): boolean {
    return this.#sh.alive;
  }

  /** Adds event-array pages (EVTCHNOP_expand_array) until `port` has a word. */
  setupPort(port: number): void {
    this.#st.ensurePort(port, this.#pages, this.#ctx.hypercalls(this.#ctx.current()));
  }

  /** Nothing per vCPU: Xen queues a port on its notify vCPU (Linux's `bind_to_cpu` is empty too). */
  addPort(_port: number, _vcpu: number): void {}

  /** Nothing per vCPU (see `addPort`). */
  removePort(_port: number, _vcpu: number): void {}

  /** FIFO has no timer-first rule: priorities order the queues instead. */
  setTimerPort(_vcpu: number, _port: number): void {}

  /** Sets MASKED (Linux's `evtchn_fifo_mask`); returns whether it was set already. */
  mask(port: number): boolean {
    const st = this.#st;
    const w = st.word(port);
    st.setWord(port, w | MASKED);
    return (w & MASKED) !== 0;
  }

  /** `evtchn_fifo_unmask` (see the file comment); the port's vCPU does not matter. */
  unmask(port: number, _vcpu: number): void {
    const st = this.#st;
    const w = st.word(port);
    if ((w & MASKED) === 0) return;
    if ((w & (PENDING | BUSY)) === 0) {
      st.setWord(port, w & ~MASKED);
      return;
    }
    evtchnUnmask(this.#ctx.hypercalls(this.#ctx.current()), port);
  }

  /** Clears PENDING (Linux's `evtchn_fifo_clear_pending`); a LINKED word stays on its queue. */
  clearPending(port: number): void {
    const st = this.#st;
    st.setWord(port, st.word(port) & ~PENDING);
  }

  /** The PENDING bit. */
  isPending(port: number): boolean {
    return (this.#st.word(port) & PENDING) !== 0;
  }

  /** The MASKED bit. */
  isMasked(port: number): boolean {
    return (this.#st.word(port) & MASKED) !== 0;
  }

  /** One round of queue consumption for `cpu` (see the file comment). */
  handleEvents(cpu: number, handle: PortHandler): void {
    const st = this.#st;
    let ready = st.carried[cpu]! | this.#takeReady(cpu);
    st.carried[cpu] = 0;
    for (let budget = FIFO_EVENTS_PER_ROUND; ready !== 0; budget--) {
      if (budget === 0) {
        st.carried[cpu] = ready;
        this.#sh.setUpcallPending(cpu, 1);
        return;
      }
      const q = lowestBit(ready);
      ready = this.#consumeOne(cpu, q, ready, handle);
      ready |= this.#takeReady(cpu);
    }
  }

  /**
   * `xchg(&control->ready, 0)`, keeping the bits of the 16 queues only: the guest can write its
   * own control block, and a stray higher bit must not send the loop to a queue that does not
   * exist.
   */
  #takeReady(cpu: number): number {
    const cb = this.#st.controls[cpu]!;
    const r = cb.getU32(CB_READY);
    if (r !== 0) cb.setU32(CB_READY, 0);
    return r & ALL_QUEUES;
  }

  /**
   * Linux's `consume_one_event` for queue `q` of `cpu`: the head is the private one, or `head[q]`
   * of the control block when that is 0. Returns the updated local ready bits.
   */
  #consumeOne(cpu: number, q: number, ready: number, handle: PortHandler): number {
    const st = this.#st;
    const heads = st.heads[cpu]!;
    let port = heads[q]!;
    if (port === 0) port = st.controls[cpu]!.getU32(CB_HEAD + 4 * q);
    // A head outside the array (or 0) can only come from a corrupt queue: treat it as its end.
    if (port === 0 || port >= st.nrPorts) {
      heads[q] = 0;
      return ready & ~(1 << q);
    }
    // clear_linked(): LINKED and LINK go in one step; the old LINK is the next head.
    const w = st.word(port);
    const now = w & ~(LINKED | EVTCHN_FIFO_LINK_MASK);
    st.setWord(port, now);
    const next = w & EVTCHN_FIFO_LINK_MASK;
    if (next === 0) ready &= ~(1 << q);
    if ((now & PENDING) !== 0 && (now & MASKED) === 0) handle(port);
    heads[q] = next;
    return ready;
  }
}
