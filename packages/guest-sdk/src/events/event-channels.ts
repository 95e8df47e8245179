/**
 * The event subsystem of one guest (Linux `drivers/xen/events/`): it maps the guest's
 * shared_info page, masks every port, sets up the event ABI (2-level by default, or FIFO with
 * its control blocks and event array), registers the upcall on every vCPU and hands out
 * `EventChannel` handles for each kind of binding.
 *
 * The upcall handler follows Linux's `__xen_evtchn_do_upcall` (`events_base.c`), with the
 * ABI's handling inside:
 *
 * ```
 * upcall(vcpu):                       Xen has set evtchn_upcall_mask = 1 for us
 *   repeat
 *     vcpu_info.evtchn_upcall_pending = 0        <- before the ABI looks at its state
 *     2-level: timer port first; sel = xchg(evtchn_pending_sel, 0); fair scan (two-level-scan.ts)
 *     FIFO:    ready = xchg(control.ready, 0); drain the queues, highest priority first (fifo-abi.ts)
 *   while vcpu_info.evtchn_upcall_pending == 1   <- an event raised meanwhile
 * ```
 *
 * For each active port: an ordinary port has its pending bit cleared BEFORE its handler runs
 * (edge semantics: a send during the handler raises a new event); a late-EOI port is masked
 * first and stays masked until its owner calls `eoi()` (`port-bindings.ts`). Unmasking is the
 * ABI's: 2-level unmasks locally on the port's own vCPU, FIFO whenever the port is not pending;
 * otherwise EVTCHNOP_unmask — as a Linux PV guest does.
 */
import { Observable, type Subscriber } from "rxjs";
import { ClosedError, PvkitError, type Guest, type Hypercalls } from "@pvkit/hypervisor-sim";
import { EVTCHNOP, VIRQ, XENVER, XEN_LEGACY_MAX_VCPUS } from "@pvkit/hypervisor-sim/abi";
import {
  type BindPirqOptions,
  evtchnAllocUnbound,
  evtchnBindInterdomain,
  evtchnBindIpi,
  evtchnBindPirq,
  evtchnBindVirq,
  evtchnStatus,
} from "../hypercall/evtchn-ops.js";
import type { GuestPageAllocator } from "../grants/page-allocator.js";
import type { EventAbi, EventAbiName, VcpuContext } from "./event-abi.js";
import { checkAbiChoice, makeEventAbi } from "./event-abi-choice.js";
import {
  type ChannelHost,
  type ChannelOptions,
  type EventChannel,
  type EventChannelKind,
  newEventChannel,
} from "./event-channel.js";
import { PortBindings } from "./port-bindings.js";
import { SharedInfoView } from "./shared-info-view.js";
import { mapSharedInfo } from "./shared-info-frame.js";

/** Options of `EventChannels.of`. */
export interface EventChannelsOptions {
  /**
   * Guest frame at which to map shared_info. Default: where the SDK already mapped it for this
   * guest (a `GuestClock.of` before, an earlier instance), else the highest hole below the
   * grant-table window (GNTTAB_GFN_BASE), above RAM.
   */
  sharedInfoGfn?: number;
  /** The vCPU that code outside upcalls runs on (issues hypercalls, decides local unmask). Default 0. */
  vcpu?: number;
  /**
   * The event-channel ABI: "2l" (default; shared_info bitmaps, up to 4096 ports) or "fifo"
   * (Xen's FIFO ABI: up to 2^17 ports, 16 priorities; `xen/include/public/event_channel.h`
   * `EVTCHN_FIFO_NR_CHANNELS`, `EVTCHN_FIFO_MAX_QUEUES`). "fifo" issues
   * EVTCHNOP_init_control for every vCPU at setup and needs `pages`.
   */
  abi?: EventAbiName;
  /**
   * Where FIFO takes guest RAM pages from: one control-block page per vCPU at setup, then one
   * event-array page per 1024 ports as bound ports need them (EVTCHNOP_expand_array). Xen keeps
   * using these pages, so they are never freed. Required with `abi: "fifo"`, unused otherwise.
   */
  pages?: GuestPageAllocator;
}

/** A user callback (`onEvent`) threw while handling an event. */
export interface EventHandlerError {
  readonly port: number;
  readonly vcpu: number;
  readonly error: unknown;
}

/**
 * Upcall rounds before the handler gives the vCPU back. Linux loops without bound; a handler
 * that re-raises its own port on every event would then spin forever in this single thread, so
 * after this many rounds the handler returns with upcall_pending still set. If Xen set it, Xen
 * has already queued the next upcall; if only the guest did (a local unmask), a hypercall from a
 * microtask makes Xen see it and deliver again.
 */
export const MAX_UPCALL_ROUNDS = 1024;

/**
 * The event-channel subsystem of one guest, over the 2-level or the FIFO ABI (Linux
 * `drivers/xen/events/`): maps shared_info, owns every vCPU's upcall and binds ports
 * (`bindInterdomain`, `bindVirq`, ...) with EVTCHNOP_* hypercalls, returning an `EventChannel`
 * for each. One per guest: get it with `of(guest)`. Hypercall failures throw XenError; binds
 * after `close()` throw ClosedError before any hypercall.
 */
export class EventChannels implements Disposable {
  static readonly #registry = new WeakMap<Guest, EventChannels>();

  /**
   * The event subsystem of `guest`, set up on first use (one per guest: it owns the upcalls).
   * Later calls return the same instance; an option they give must then match the instance's
   * (`abi`, `sharedInfoGfn`, `vcpu`, `pages`), else they throw instead of silently handing back
   * a subsystem set up differently. To change the set-up, `close()` the instance first (its
   * channels are closed) and call `of()` again. With `abi: "fifo"` the guest
   * switches to the FIFO ABI until an EVTCHNOP_reset: a later `of()` after `close()` takes over
   * the same control blocks and event array if Xen still runs FIFO, and starts afresh if not.
   * @throws RangeError for `abi: "fifo"` without `pages`, an unknown `abi`, or "2l" on a guest
   * Xen runs on FIFO; PvkitError ERR_BAD_OPTION for an option that conflicts with the instance
   * already set up.
   * @throws XenError if shared_info cannot be mapped at the chosen frame, or from
   * EVTCHNOP_init_control (e.g. ENOSYS from a hypervisor without FIFO).
   */
  static of(guest: Guest, opts: EventChannelsOptions = {}): EventChannels {
    let ev = EventChannels.#registry.get(guest);
    if (ev === undefined || ev.#closed) {
      ev = new EventChannels(guest, opts);
      EventChannels.#registry.set(guest, ev);
    } else {
      ev.#checkSameSetUp(opts);
    }
    return ev;
  }

  /**
   * The open event subsystem of `guest`, if `of()` set one up and it is not closed. Sets up
   * nothing (unlike `of()`).
   */
  static existing(guest: Guest): EventChannels | undefined {
    const ev = EventChannels.#registry.get(guest);
    return ev === undefined || ev.#closed ? undefined : ev;
  }

  /** `of()` on a live instance: every option given must be the one it was set up with. */
  #checkSameSetUp(opts: EventChannelsOptions): void {
    const clash: string[] = [];
    if (opts.abi !== undefined && opts.abi !== this.#abi.name)
      clash.push(`abi "${opts.abi}" (it runs "${this.#abi.name}")`);
    if (opts.sharedInfoGfn !== undefined && opts.sharedInfoGfn !== this.#gfn) {
      clash.push(
        `sharedInfoGfn 0x${opts.sharedInfoGfn.toString(16)} (shared_info is at 0x${this.#gfn.toString(16)})`,
      );
    }
    if (opts.vcpu !== undefined && opts.vcpu !== this.#homeVcpu)
      clash.push(`vcpu ${opts.vcpu} (it runs on ${this.#homeVcpu})`);
    if (opts.pages !== undefined && this.#pages !== undefined && opts.pages !== this.#pages)
      clash.push("another pages allocator");
    if (clash.length === 0) return;
    throw new PvkitError(
      "ERR_BAD_OPTION",
      `EventChannels.of(d${this.domid}): the guest's event channels are already set up, and this call asks for ${clash.join(", ")}; ` +
        "pass the same options (or none), or close() the existing instance first (its channels are closed) to set them up anew",
    );
  }

  readonly #guest: Guest;
  readonly #gfn: number;
  readonly #sh: SharedInfoView;
  readonly #abi: EventAbi;
  readonly #inUpcall: boolean[] = [];
  readonly #ports: PortBindings;
  readonly #errorListeners = new Set<Subscriber<EventHandlerError>>();
  readonly #host: ChannelHost;
  readonly #homeVcpu: number;
  readonly #pages: GuestPageAllocator | undefined;
  #current: number;
  #closed = false;
  #unobservedErrors = 0;

  private constructor(guest: Guest, opts: EventChannelsOptions) {
    this.#guest = guest;
    this.#current = opts.vcpu ?? 0;
    this.#homeVcpu = this.#current;
    this.#pages = opts.pages;
    const abiName = checkAbiChoice(guest, opts.abi, opts.pages);
    guest.vcpu(this.#current); // RangeError for a vCPU the guest lacks
    if (guest.nrVcpus > XEN_LEGACY_MAX_VCPUS) {
      // vCPUs 32 and up need VCPUOP_register_vcpu_info, which is not built.
      throw new RangeError(
        `d${guest.domid} has ${guest.nrVcpus} vCPUs; shared_info has vcpu_info for ${XEN_LEGACY_MAX_VCPUS}`,
      );
    }
    this.#gfn = mapSharedInfo(guest, opts.sharedInfoGfn, this.#current);
    this.#sh = new SharedInfoView(guest.memory.writablePage(this.#gfn));
    // Nothing is delivered until it is bound here (Linux masks every port at boot).
    this.#sh.maskAll();
    for (let v = 0; v < guest.nrVcpus; v++) this.#inUpcall.push(false);
    const ctx: VcpuContext = {
      current: () => this.#current,
      inUpcall: (v) => this.#inUpcall[v] ?? false,
      hypercalls: (v) => guest.vcpu(v),
    };
    this.#abi = makeEventAbi(abiName, guest, this.#sh, opts.pages, ctx);
    this.#ports = new PortBindings(this.#abi, ctx);
    this.#host = this.#makeHost();
    for (let v = 0; v < guest.nrVcpus; v++) guest.registerUpcall(v, (cpu) => this.#upcall(cpu));
  }

  /** The guest's domid. */
  get domid(): number {
    return this.#guest.domid;
  }

  /** The event-channel ABI in use: "2l" or "fifo". */
  get abi(): EventAbiName {
    return this.#abi.name;
  }

  /** The guest frame where shared_info is mapped. */
  get sharedInfoGfn(): number {
    return this.#gfn;
  }

  /** The channel bound to `port` here, if any. */
  channel(port: number): EventChannel | undefined {
    return this.#ports.get(port)?.channel;
  }

  /** Handler errors that occurred while nobody subscribed to `errors$`. */
  get unobservedErrors(): number {
    return this.#unobservedErrors;
  }

  /**
   * Errors thrown by `onEvent` callbacks, with the port and vCPU. The upcall carries on with the
   * other ports. Errors while nobody listens are only counted (`unobservedErrors`).
   */
  readonly errors$: Observable<EventHandlerError> = new Observable<EventHandlerError>(
    (subscriber) => {
      this.#errorListeners.add(subscriber);
      return () => {
        this.#errorListeners.delete(subscriber);
      };
    },
  );

  // ---- binding ------------------------------------------------------------------------------

  /**
   * EVTCHNOP_alloc_unbound: a port that `remoteDom` may bind (pass it the port number, e.g.
   * through xenstore). Events arrive once the peer has bound and sends.
   * @throws XenError (see `evtchnAllocUnbound`).
   */
  bindUnbound(remoteDom: number, opts: ChannelOptions = {}): EventChannel {
    const port = evtchnAllocUnbound(this.#bindHc(), remoteDom);
    return this.#register(port, "unbound", 0, opts);
  }

  /**
   * EVTCHNOP_bind_interdomain to `remotePort` of `remoteDom`. Xen marks the new port pending, so
   * the first event arrives right away (it stands for any send made before the bind).
   * @throws XenError ESRCH, EINVAL (the remote port is not unbound for us), ENOSPC.
   */
  bindInterdomain(remoteDom: number, remotePort: number, opts: ChannelOptions = {}): EventChannel {
    const port = evtchnBindInterdomain(this.#bindHc(), remoteDom, remotePort);
    return this.#register(port, "interdomain", 0, opts);
  }

  /**
   * EVTCHNOP_bind_virq: VIRQ `virq` on `vcpu` (global VIRQs only on vCPU 0; move them later
   * with `bindToVcpu`). A VIRQ_TIMER port is handled first in its vCPU's upcall.
   * @throws XenError EINVAL, ENOENT, EEXIST.
   */
  bindVirq(virq: number, vcpu = 0, opts: ChannelOptions = {}): EventChannel {
    const port = evtchnBindVirq(this.#bindHc(), virq, vcpu);
    const ch = this.#register(port, "virq", vcpu, opts, () => {
      if (virq === VIRQ.VIRQ_TIMER) this.#abi.setTimerPort(vcpu, port);
    });
    return ch;
  }

  /** EVTCHNOP_bind_ipi: `notify()` raises an event on `vcpu` of this guest. @throws XenError ENOENT. */
  bindIpi(vcpu: number, opts: ChannelOptions = {}): EventChannel {
    const port = evtchnBindIpi(this.#bindHc(), vcpu);
    return this.#register(port, "ipi", vcpu, opts);
  }

  /** EVTCHNOP_bind_pirq: physical IRQ `pirq`. @throws XenError EINVAL, EPERM, EEXIST, EBUSY. */
  bindPirq(pirq: number, opts: ChannelOptions & BindPirqOptions = {}): EventChannel {
    const port = evtchnBindPirq(this.#bindHc(), pirq, opts);
    return this.#register(port, "pirq", 0, opts);
  }

  /**
   * Takes over a port that is already bound in Xen (for example the xenstore or console port
   * the toolstack set up for this guest). The channel's vCPU is Xen's notify vCPU.
   * @throws XenError from EVTCHNOP_status; RangeError if the port is closed or already taken here.
   */
  adopt(port: number, opts: ChannelOptions = {}): EventChannel {
    const st = evtchnStatus(this.#bindHc(), port);
    if (st.state === "closed") throw new RangeError(`port ${port} of d${this.domid} is not bound`);
    if (this.#ports.get(port) !== undefined)
      throw new RangeError(`port ${port} of d${this.domid} already has a channel`);
    return this.#register(port, "adopted", st.vcpu, opts);
  }

  // ---- cold observables: bind on subscribe, close on unsubscribe ----------------------------

  /** `bindUnbound` on subscribe; emits the channel; closes it on unsubscribe. */
  unbound$(remoteDom: number, opts: ChannelOptions = {}): Observable<EventChannel> {
    return this.#bound$(() => this.bindUnbound(remoteDom, opts));
  }

  /** `bindInterdomain` on subscribe; emits the channel; closes it on unsubscribe. */
  interdomain$(
    remoteDom: number,
    remotePort: number,
    opts: ChannelOptions = {},
  ): Observable<EventChannel> {
    return this.#bound$(() => this.bindInterdomain(remoteDom, remotePort, opts));
  }

  /** `bindVirq` on subscribe; emits the channel; closes it on unsubscribe. */
  virq$(virq: number, vcpu = 0, opts: ChannelOptions = {}): Observable<EventChannel> {
    return this.#bound$(() => this.bindVirq(virq, vcpu, opts));
  }

  /** `bindIpi` on subscribe; emits the channel; closes it on unsubscribe. */
  ipi$(vcpu: number, opts: ChannelOptions = {}): Observable<EventChannel> {
    return this.#bound$(() => this.bindIpi(vcpu, opts));
  }

  /** `bindPirq` on subscribe; emits the channel; closes it on unsubscribe. */
  pirq$(pirq: number, opts: ChannelOptions & BindPirqOptions = {}): Observable<EventChannel> {
    return this.#bound$(() => this.bindPirq(pirq, opts));
  }

  /**
   * Each is cold: nothing is bound until subscribe. A bind failure errors the stream with the
   * XenError; closing the channel directly completes it.
   */
  #bound$(bind: () => EventChannel): Observable<EventChannel> {
    return new Observable<EventChannel>((subscriber) => {
      let ch: EventChannel;
      try {
        ch = bind();
      } catch (err) {
        subscriber.error(err);
        return undefined;
      }
      const closed = ch.events$.subscribe({ complete: () => subscriber.complete() });
      subscriber.next(ch);
      return () => {
        closed.unsubscribe();
        ch.close();
      };
    });
  }

  /** Closes every channel and unregisters the upcalls. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const rec of this.#ports.records().reverse()) rec.channel.close();
    for (let v = 0; v < this.#guest.nrVcpus; v++) this.#guest.registerUpcall(v, undefined);
    for (const l of [...this.#errorListeners]) l.complete();
    this.#errorListeners.clear();
  }

  /** Same as `close()`. */
  [Symbol.dispose](): void {
    this.close();
  }

  // ---- internals ----------------------------------------------------------------------------

  #hc(): Hypercalls {
    return this.#guest.vcpu(this.#current);
  }

  /** `#hc()` for a bind: refused before the hypercall once closed, so no port is bound for nothing. */
  #bindHc(): Hypercalls {
    if (this.#closed) closedChannels(this.domid, "bind");
    return this.#hc();
  }

  #register(
    port: number,
    kind: EventChannelKind,
    vcpu: number,
    opts: ChannelOptions,
    extra?: () => void,
  ): EventChannel {
    if (this.#closed) closedChannels(this.domid, "bind");
    const channel = newEventChannel(this.#host, port, kind, opts);
    let rec;
    try {
      rec = this.#ports.add(port, channel, vcpu);
    } catch (err) {
      // The ABI could not make the port usable (FIFO: no event-array page): give it back to Xen.
      if (kind !== "adopted") this.#hc().event_channel_op(EVTCHNOP.EVTCHNOP_close, { port });
      throw err;
    }
    extra?.();
    this.#ports.unmask(port, rec);
    return channel;
  }

  #makeHost(): ChannelHost {
    const ports = this.#ports;
    return {
      hypercalls: () => this.#hc(),
      addMaskReason: (port, reason) => ports.addMaskReason(port, reason),
      clearMaskReason: (port, reason) => ports.clearMaskReason(port, reason),
      maskReasons: (port) => ports.get(port)?.reasons ?? 0,
      vcpuOf: (port) => ports.get(port)?.vcpu ?? 0,
      moveToVcpu: (port, vcpu) => ports.moveToVcpu(port, vcpu),
      release: (port) => ports.release(port),
      reportError: (port, vcpu, error) => this.#reportError({ port, vcpu, error }),
    };
  }

  #reportError(e: EventHandlerError): void {
    if (this.#errorListeners.size === 0) {
      this.#unobservedErrors++;
      return;
    }
    for (const l of [...this.#errorListeners]) l.next(e);
  }

  /** The registered upcall of every vCPU (Xen has set evtchn_upcall_mask = 1). */
  #upcall(cpu: number): void {
    if (this.#closed) return;
    const prev = this.#current;
    this.#current = cpu;
    this.#inUpcall[cpu] = true;
    const sh = this.#sh;
    const abi = this.#abi;
    const handle = (port: number): void => this.#ports.handle(cpu, port);
    try {
      for (let round = 1; ; round++) {
        // Cleared before the ABI takes its selector or ready word: a raise after this sets it again.
        sh.setUpcallPending(cpu, 0);
        abi.handleEvents(cpu, handle);
        if (sh.upcallPending(cpu) === 0) break;
        if (round >= MAX_UPCALL_ROUNDS) {
          queueMicrotask(() => {
            if (!this.#closed) this.#guest.vcpu(cpu).xen_version(XENVER.XENVER_version);
          });
          break;
        }
      }
    } finally {
      this.#inUpcall[cpu] = false;
      this.#current = prev;
    }
  }
}

function closedChannels(domid: number, op: string): never {
  throw new ClosedError(`the event channels of d${domid}`, op);
}
