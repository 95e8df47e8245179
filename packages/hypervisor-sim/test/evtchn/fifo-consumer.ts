// A test-only FIFO guest, following Linux's consume_one_event and evtchn_fifo_unmask
// (drivers/xen/events/events_fifo.c): it registers control blocks, adds event-array pages
// (every word MASKED first, as Linux does), masks and unmasks, and drains its queues.
import type { Guest, Page } from "@pvkit/hypervisor-sim";
import { EVTCHNOP, VCPU_INFO_SIZE, VCPU_INFO_UPCALL_PENDING } from "@pvkit/hypervisor-sim/abi";

export const PENDING = 0x8000_0000;
export const MASKED = 0x4000_0000;
export const LINKED = 0x2000_0000;
export const BUSY = 0x1000_0000;
export const LINK_MASK = 0x1ffff;

/** Control block layout (`event_channel.h`): ready u32 @0, _rsvd u32 @4, head[16] u32 @8. */
export const CB_READY = 0;
export const CB_HEAD = 8;

/** RAM GFNs the tests use: one control-block page per vCPU, then event-array pages. */
export const CONTROL_GFN = 0x80;
export const ARRAY_GFN = 0xa0;

export interface FifoGuestOptions {
  /** Byte offset of each control block in its page (default 0). */
  offset?: number;
  /** Set MASKED on every word of a new array page before expand_array, as Linux does (default true). */
  maskNewPages?: boolean;
}

/** The guest side of the FIFO ABI for one domain. */
export class FifoGuest {
  readonly offset: number;
  readonly #maskNewPages: boolean;
  /** Array pages added so far, in slot order. */
  readonly arrayPages: Page[] = [];
  /** Per vCPU: the private copy of each queue's head (Linux `cpu_queue.head`). */
  readonly #heads: number[][];

  constructor(
    readonly g: Guest,
    opts: FifoGuestOptions = {},
  ) {
    this.offset = opts.offset ?? 0;
    this.#maskNewPages = opts.maskNewPages ?? true;
    this.#heads = Array.from({ length: g.nrVcpus }, () => new Array<number>(16).fill(0));
  }

  /** EVTCHNOP_init_control for `vcpu`, with its control block in page CONTROL_GFN + vcpu. */
  initControl(vcpu: number): number {
    const a = { control_gfn: CONTROL_GFN + vcpu, offset: this.offset, vcpu, link_bits: 0 };
    return this.g.vcpu(vcpu).event_channel_op(EVTCHNOP.EVTCHNOP_init_control, a);
  }

  /** EVTCHNOP_expand_array with the next page at ARRAY_GFN + n (its words MASKED first, unless told not to). */
  expand(): number {
    const gfn = ARRAY_GFN + this.arrayPages.length;
    const page = this.g.memory.writablePage(gfn);
    if (this.#maskNewPages) for (let i = 0; i < 1024; i++) page.setU32(i * 4, MASKED);
    const rc = this.g.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_expand_array, {
      array_gfn: gfn,
    });
    if (rc === 0) this.arrayPages.push(page);
    return rc;
  }

  /** init_control on every vCPU and one array page; throws on failure. */
  setup(): this {
    for (let v = 0; v < this.g.nrVcpus; v++) {
      const rc = this.initControl(v);
      if (rc !== 0) throw new Error(`init_control(${v}) = ${rc}`);
    }
    const rc = this.expand();
    if (rc !== 0) throw new Error(`expand_array = ${rc}`);
    return this;
  }

  /** The control-block page of `vcpu`. */
  cb(vcpu: number): Page {
    return this.g.memory.writablePage(CONTROL_GFN + vcpu);
  }

  ready(vcpu: number): number {
    return this.cb(vcpu).getU32(this.offset + CB_READY);
  }

  head(vcpu: number, q: number): number {
    return this.cb(vcpu).getU32(this.offset + CB_HEAD + 4 * q);
  }

  word(port: number): number {
    return this.arrayPages[port >>> 10]!.getU32((port & 1023) * 4) >>> 0;
  }

  setWord(port: number, w: number): void {
    this.arrayPages[port >>> 10]!.setU32((port & 1023) * 4, w >>> 0);
  }

  hasPage(port: number): boolean {
    return port >>> 10 < this.arrayPages.length;
  }

  /** Linux `evtchn_fifo_mask`: set MASKED. */
  mask(port: number): void {
    this.setWord(port, this.word(port) | MASKED);
  }

  /** Unmask the Linux way: clear MASKED locally unless PENDING, else EVTCHNOP_unmask. Returns the hypercall rc or 0. */
  unmask(port: number, vcpu = 0): number {
    const w = this.word(port);
    if ((w & MASKED) === 0) return 0;
    if ((w & PENDING) !== 0)
      return this.g.vcpu(vcpu).event_channel_op(EVTCHNOP.EVTCHNOP_unmask, { port });
    // Linux's cmpxchg expects BUSY clear and spins while Xen holds it; one thread cannot spin.
    if ((w & BUSY) !== 0) throw new Error(`port ${port}: BUSY left set by Xen`);
    this.setWord(port, w & ~MASKED);
    return 0;
  }

  /**
   * The upcall: clear upcall_pending (when given the shared_info page), then drain the vCPU's queues highest priority first
   * (`__xen_evtchn_fifo_handle_events`). Each port found PENDING and not MASKED is "handled":
   * its PENDING bit is cleared (the edge-IRQ ack) and it is reported. Returns the ports in
   * handling order.
   */
  consume(vcpu: number, sh?: Page): number[] {
    sh?.setU8(vcpu * VCPU_INFO_SIZE + VCPU_INFO_UPCALL_PENDING, 0);
    const handled: number[] = [];
    let ready = this.#xchgReady(vcpu);
    let guard = 0;
    while (ready !== 0) {
      if (++guard > 200_000) throw new Error("consume: queue does not terminate");
      const q = 31 - Math.clz32(ready & -ready);
      ready = this.#consumeOne(vcpu, q, ready, handled);
      ready |= this.#xchgReady(vcpu);
    }
    return handled;
  }

  #xchgReady(vcpu: number): number {
    const cb = this.cb(vcpu);
    const r = cb.getU32(this.offset + CB_READY);
    cb.setU32(this.offset + CB_READY, 0);
    return r;
  }

  /** Linux `consume_one_event`. */
  #consumeOne(vcpu: number, q: number, ready: number, handled: number[]): number {
    let head = this.#heads[vcpu]![q]!;
    if (head === 0) head = this.head(vcpu, q);
    const port = head;
    // clear_linked(): atomically drop LINKED and LINK, keeping the old LINK as the next head.
    const w = this.word(port);
    this.setWord(port, w & ~(LINKED | LINK_MASK));
    head = w & LINK_MASK;
    if (head === 0) ready &= ~(1 << q);
    const now = this.word(port);
    if ((now & PENDING) !== 0 && (now & MASKED) === 0) {
      this.setWord(port, now & ~PENDING);
      handled.push(port);
    }
    this.#heads[vcpu]![q] = head;
    return ready;
  }

  /** The guest's queue q of `vcpu` as bytes show it (with empty private heads): head, then LINKs. */
  queue(vcpu: number, q: number): number[] {
    if ((this.ready(vcpu) & (1 << q)) === 0) return [];
    const out: number[] = [];
    for (let p = this.head(vcpu, q); p !== 0; p = this.word(p) & LINK_MASK) {
      out.push(p);
      if (out.length > 1 << 17) throw new Error("queue: cycle");
    }
    return out;
  }
}
