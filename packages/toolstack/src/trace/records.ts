/**
 * The typed records a {@link TraceRecorder} keeps: the hypervisor's trace events
 * (`@pvkit/hypervisor-sim` trace/events.ts) as they were emitted, xenstored's requests, and the
 * spans and request-lifetime phases drivers add. Every record has `n`, its position in the
 * recording (0, 1, 2, … over everything observed, dropped records included), and `t`, the
 * virtual time in ns when it was recorded; hypervisor records also keep the hypervisor's `seq`.
 * Together (`n`, `t`) name a trace position; `seq` lets a finding point into the hypervisor's own
 * numbering.
 */
import type { ConnectionKind } from "../xenstored/connection.js";

interface RecordBase {
  /** Position in the recording, counting records that were dropped. */
  readonly n: number;
  /** Virtual time, ns since boot, when the record was made. */
  readonly t: number;
}

/** A hypercall on exit (`HypercallTrace`): `args` is the snapshot the hypervisor took. */
export interface HypercallRecord extends RecordBase {
  readonly kind: "hypercall";
  readonly seq: number;
  readonly domid: number;
  readonly vcpu: number;
  /** e.g. "event_channel_op". */
  readonly hypercall: string;
  /** e.g. "EVTCHNOP_send". */
  readonly cmd: string;
  readonly args: unknown;
  /** 0 or a negative Xen errno. */
  readonly result: number;
}

/** A port set pending (`RaiseTrace`: `evtchn_2l_set_pending` / `evtchn_fifo_set_pending`). */
export interface RaiseRecord extends RecordBase {
  readonly kind: "raise";
  readonly seq: number;
  readonly domid: number;
  readonly port: number;
  readonly vcpu: number;
  readonly outcome: string;
}

/** An upcall entered on a vCPU (`UpcallTrace`). */
export interface UpcallRecord extends RecordBase {
  readonly kind: "upcall";
  readonly seq: number;
  readonly domid: number;
  readonly vcpu: number;
}

/** A vCPU's single-shot timer fired (`TimerTrace`). */
export interface TimerRecord extends RecordBase {
  readonly kind: "timer";
  readonly seq: number;
  readonly domid: number;
  readonly vcpu: number;
}

/** A domain lifecycle change (`DomainTrace`), with the domain's name when it was known. */
export interface DomainRecordTrace extends RecordBase {
  readonly kind: "domain";
  readonly seq: number;
  readonly domid: number;
  readonly what: "created" | "paused" | "unpaused" | "dying" | "destroyed" | "shutdown";
  readonly reason?: number;
  readonly name: string;
}

/** A request xenstored received (its `request` event, before processing). */
export interface XenstoreRecord extends RecordBase {
  readonly kind: "xenstore";
  /** The requesting domain: the ring's domain, or 0 for dom0 tools (local and socket clients). */
  readonly domid: number;
  readonly conn: ConnectionKind;
  /** xs_wire type name, e.g. "WRITE" (`xsd_sockmsg_type`). */
  readonly type: string;
  readonly reqId: number;
  readonly txId: number;
  /** The first string of the payload as sent (the path for node ops; relative paths stay relative), at most 256 characters. */
  readonly path: string | undefined;
}

/** A span a driver added with {@link TraceRecorder.span}. */
export interface SpanRecord extends RecordBase {
  readonly kind: "span";
  readonly domid: number;
  /** The track (a thread in the domain's process), e.g. "blkback vbd-51712". */
  readonly track: string;
  readonly name: string;
  /** Virtual ns. */
  readonly startNs: number;
  /** Virtual ns, >= startNs. */
  readonly endNs: number;
  readonly args: Readonly<Record<string, unknown>> | undefined;
}

/**
 * The stages of one ring request's life, in order: the frontend queued it (pushed onto the
 * ring), notified the backend, the backend consumed it, pushed the response, and the frontend
 * completed it (consumed the response).
 */
export const REQUEST_PHASES = ["queued", "notified", "consumed", "responded", "completed"] as const;
export type RequestPhase = (typeof REQUEST_PHASES)[number];

/** One phase of a request's lifetime ({@link TraceRecorder.requestPhase}). */
export interface PhaseRecord extends RecordBase {
  readonly kind: "phase";
  readonly domid: number;
  readonly track: string;
  /** The request's id, unique on its track for its lifetime (e.g. the ring request id). */
  readonly id: string;
  readonly phase: RequestPhase;
  /** What the request is, e.g. "read 8 sectors"; shown as the slice's name. */
  readonly label: string | undefined;
  readonly args: Readonly<Record<string, unknown>> | undefined;
}

/** Every record kind. */
export type TraceRecord =
  | HypercallRecord
  | RaiseRecord
  | UpcallRecord
  | TimerRecord
  | DomainRecordTrace
  | XenstoreRecord
  | SpanRecord
  | PhaseRecord;
export type TraceRecordKind = TraceRecord["kind"];

/** All record kinds, in a fixed order (counts and summaries list them so). */
export const TRACE_RECORD_KINDS: readonly TraceRecordKind[] = [
  "hypercall",
  "raise",
  "upcall",
  "timer",
  "domain",
  "xenstore",
  "span",
  "phase",
];
