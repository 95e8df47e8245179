/**
 * Every trace event the hypervisor emits, in one place. Each carries `t`, the virtual time in
 * nanoseconds, and `seq`, a per-hypervisor sequence number that orders events at equal times.
 */
import { EventEmitter } from "eventemitter3";

export interface TraceBase {
  /** Virtual time, ns since boot. */
  t: number;
  /** Monotonic sequence number across all trace events of one Hypervisor. */
  seq: number;
}

/** A hypercall with its arguments (as passed, output fields included) and its result. */
export interface HypercallTrace extends TraceBase {
  domid: number;
  vcpu: number;
  /** e.g. "event_channel_op", "grant_table_op". */
  hypercall: string;
  /** The sub-command name, e.g. "EVTCHNOP_send". */
  cmd: string;
  /** A snapshot of the argument(s) after the call, output fields included. */
  args: unknown;
  /** 0 or a negative Xen errno. */
  result: number;
}

/** An event channel port set pending (2-level: the `evtchn_2l_set_pending` path). */
export interface RaiseTrace extends TraceBase {
  domid: number;
  port: number;
  vcpu: number;
  /** What the raise did: "coalesced" (already pending), "masked", "selector" (sel bit was set already), "upcall" (upcall_pending 0→1). */
  outcome: "coalesced" | "masked" | "selector" | "upcall";
}

/** An upcall delivered to a vCPU's registered callback. */
export interface UpcallTrace extends TraceBase {
  domid: number;
  vcpu: number;
}

/** Domain lifecycle changes. */
export interface DomainTrace extends TraceBase {
  domid: number;
  what: "created" | "paused" | "unpaused" | "dying" | "destroyed" | "shutdown";
  reason?: number;
}

/** A vCPU's one-shot timer fired. */
export interface TimerTrace extends TraceBase {
  domid: number;
  vcpu: number;
}

/** Typed event map for `Hypervisor.trace`. */
export interface TraceEvents {
  hypercall: (e: HypercallTrace) => void;
  raise: (e: RaiseTrace) => void;
  upcall: (e: UpcallTrace) => void;
  domain: (e: DomainTrace) => void;
  timer: (e: TimerTrace) => void;
}
export type TraceEventName = keyof TraceEvents;

/** The trace bus: a typed eventemitter3 emitter. Emitting is skipped when nobody listens. */
export class TraceBus extends EventEmitter<TraceEvents> {}
