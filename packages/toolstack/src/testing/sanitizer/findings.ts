/**
 * What the sanitizer reports: one {@link Finding} per problem, each naming the domain (id and
 * name), the device (its xenbus path), the ring or port, the trace position (the hypervisor's
 * TraceBus `seq` of the last event seen and the virtual time) and the host's chaos seed, with a
 * one-line hint at the usual cause.
 */
import { PvkitError } from "@pvkit/hypervisor-sim";

/** Every kind of finding. */
export type FindingKind =
  // Leaks, at device disconnect (both ends) and at teardown.
  | "leaked-grant"
  | "ring-grant-not-ended"
  | "leaked-mapping"
  | "ring-mapped-after-close"
  | "leaked-port"
  | "leaked-watch"
  | "open-transaction"
  | "dom0-leak"
  // Found the moment the host goes quiescent.
  | "lost-wakeup"
  | "masked-pending"
  // Counted from EVTCHNOP_send against the ring's indices.
  | "notify-storm"
  // Protocol.
  | "ring-halted"
  | "unknown-response-id"
  | "bad-response"
  | "unexpected-state"
  | "device-stuck"
  | "teardown-timeout";

/** The usual cause of each kind, one line. */
export const FINDING_HINTS: Readonly<Record<FindingKind, string>> = {
  "leaked-grant":
    "a data grant was made with env.grants directly and never ended; grant through dev.grantPage() or end it when the request completes",
  "ring-grant-not-ended":
    "the ring was granted outside dev.grantRing() and never ended; use dev.grantRing(), which ends it on disconnect",
  "leaked-mapping":
    "a grant was mapped outside dev.mapGrants() and never unmapped; unmap it when the request completes",
  "ring-mapped-after-close":
    "the backend mapped the ring outside dev.mapRing() and did not unmap it before Closed; the frontend cannot end its ring grant (XSA-396)",
  "leaked-port":
    "an event channel was bound outside dev.allocEvtchn()/bindEvtchn() and never closed",
  "leaked-watch":
    "a watch was set with env.xs.watch() and never unsubscribed; use dev.watch(), which closes it on disconnect",
  "open-transaction":
    "a transaction was started and neither committed nor aborted (an exception between start and end?)",
  "dom0-leak": "dom0 kept something of a dead domain; see the message",
  "lost-wakeup":
    "work is on the ring and nobody will look at it; see the message for which side skipped its notify or final check",
  "masked-pending":
    "a port was masked and never unmasked while events arrived; unmask after handling (or the handler threw)",
  "notify-storm":
    "the producer notifies without checking the push's notify flag (RING_PUSH_*_AND_CHECK_NOTIFY); notify only when pushRequestsAndCheckNotify()/pushResponsesAndCheckNotify() says so",
  "ring-halted": "the peer broke the ring protocol; the reason says how",
  "unknown-response-id":
    "the backend answered an id the frontend never issued (a stale or corrupted id, or an answer sent twice)",
  "bad-response":
    "a response does not match its request (the protocol check says how); a short copy, say",
  "unexpected-state":
    "a xenbus state was written that the other end's walk does not expect from the previous one",
  "device-stuck":
    "the device never reached Connected or Closed: an initialise/connect hook waiting on something that never comes",
  "teardown-timeout":
    "the backend did not reach Closed when the toolstack removed the device (a disconnect hook that never returns?)",
};

/** Where in the trace a finding was made. */
export interface TracePosition {
  /** The hypervisor's TraceBus `seq` of the last event seen (-1 before any). */
  readonly seq: number;
  /** Virtual time, ns since boot. */
  readonly t: number;
}

/** One problem the sanitizer found. */
export interface Finding {
  readonly kind: FindingKind;
  /** The domain at fault (or whose resource it is). */
  readonly domid: number;
  readonly domain: string;
  /** The device's xenbus path at that end, when known. */
  readonly device: string | undefined;
  /** The ring, port, grant or path involved: "port 5", "ring (grant ref 8 of d1)". */
  readonly what: string;
  readonly at: TracePosition;
  /** The host's chaos seed, if it has one. */
  readonly seed: number | undefined;
  /** What happened, without the decorations. */
  readonly detail: string;
  readonly hint: string;
  /** The whole one-paragraph message: see {@link formatFinding}. */
  readonly message: string;
}

/** What a finding is made from. */
export interface FindingInit {
  readonly kind: FindingKind;
  readonly domid: number;
  readonly domain: string;
  readonly device?: string | undefined;
  readonly what: string;
  readonly detail: string;
  readonly at: TracePosition;
  readonly seed: number | undefined;
  /** A hint more precise than the kind's default. */
  readonly hint?: string;
}

/**
 * `[kind] d1 (rng-user) /local/domain/1/device/pvrng/0 port 5: <detail> (trace seq 812, t=1234 ns[, seed 7]). Hint: ...`
 */
export function formatFinding(f: FindingInit, hint: string): string {
  const dev = f.device !== undefined ? ` ${f.device}` : "";
  const seed = f.seed !== undefined ? `, seed ${f.seed}` : "";
  return `[${f.kind}] d${f.domid} (${f.domain})${dev} ${f.what}: ${f.detail} (trace seq ${f.at.seq}, t=${f.at.t} ns${seed}). Hint: ${hint}`;
}

/** Builds a finding with its hint and message. */
export function makeFinding(init: FindingInit): Finding {
  const hint = init.hint ?? FINDING_HINTS[init.kind];
  return { ...init, device: init.device, hint, message: formatFinding(init, hint) };
}

/**
 * Thrown at teardown (and by `withHost`/`useHost`/`hostTest`) when the sanitizer found
 * something the test did not expect. `findings` is the list; when the test itself failed too,
 * `cause` is its error and the message ends with it.
 */
export class SanitizerError extends PvkitError {
  override readonly name: string = "SanitizerError";
  declare readonly code: "ERR_SANITIZER";
  readonly findings: readonly Finding[];

  constructor(findings: readonly Finding[], testError?: unknown) {
    const head = [
      `pvkit sanitizer: ${findings.length} finding${findings.length === 1 ? "" : "s"}`,
      ...findings.map((f) => `  - ${f.message}`),
    ].join("\n");
    const tail =
      testError === undefined
        ? ""
        : `\nthe test itself failed with: ${testError instanceof Error ? `${testError.name}: ${testError.message}` : String(testError)}`;
    super("ERR_SANITIZER", head + tail, testError === undefined ? undefined : { cause: testError });
    this.findings = findings;
  }
}
