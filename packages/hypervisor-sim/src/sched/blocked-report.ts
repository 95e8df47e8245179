/**
 * What each domain is blocked on, for a {@link StallError}: the lines a developer reads when a
 * test's promise can never settle. Read-only: it looks at vCPU waits, the shared_info upcall
 * bits and the 2-level pending/mask words, and changes nothing.
 */
import { ECS_NAMES } from "../evtchn/port-table.js";
import { isMasked, isPending } from "../evtchn/two-level.js";
import { type Hypervisor, xenOf } from "../hypervisor.js";
import type { Domain } from "../domain/domain.js";

/** Ports listed per category before the list is cut short. */
const MAX_PORTS = 8;

function portList(ports: readonly (number | string)[]): string {
  const shown = ports.slice(0, MAX_PORTS).join(", ");
  return ports.length > MAX_PORTS ? `${shown}, … (${ports.length} in all)` : shown;
}

function describeDomain(d: Domain): string {
  const parts: string[] = [];
  if (d.state !== "running") parts.push(d.state);
  else if (d.isPaused) parts.push("paused");
  else if (d.shutdownCode !== undefined) parts.push(`shut down (code ${d.shutdownCode})`);
  for (const v of d.vcpus) {
    if (v.poll !== undefined) {
      const until = v.poll.timer ? ` until t=${v.poll.timer.at} ns` : " with no timeout";
      parts.push(
        `vcpu${v.id} in SCHEDOP_poll on port${v.poll.ports.length === 1 ? "" : "s"} ${portList(v.poll.ports)}${until}`,
      );
    } else if (v.blockWaiters.length > 0) {
      parts.push(`vcpu${v.id} in SCHEDOP_block`);
    }
    if (v.upcallMask !== 0 && v.upcallPending)
      parts.push(`vcpu${v.id} has an upcall pending with upcalls masked`);
  }
  const t = d.evtchn;
  const bound: number[] = [];
  const maskedPending: number[] = [];
  for (let port = 1; port < t.validEvtchns; port++) {
    if (!t.isUsable(port)) continue;
    bound.push(port);
    if (
      d.fifo === undefined &&
      isPending(d.sharedInfo.bytes, port) &&
      isMasked(d.sharedInfo.bytes, port)
    )
      maskedPending.push(port);
  }
  if (maskedPending.length > 0)
    parts.push(
      `masked with an event pending: port${maskedPending.length === 1 ? "" : "s"} ${portList(maskedPending)}`,
    );
  if (bound.length > 0) {
    const kinds = bound.map((p) => `${p}:${ECS_NAMES[t.state[p]!] ?? t.state[p]}`);
    parts.push(`ports ${portList(kinds)}`);
  } else {
    parts.push("no event channel bound");
  }
  return `d${d.domid} (${d.name}): ${parts.join("; ")}`;
}

/**
 * One line per domain Xen still knows: its state, vCPUs waiting in SCHEDOP_poll or
 * SCHEDOP_block, upcalls left masked with one pending, 2-level ports masked with an event
 * pending, and the ports bound (with their `ECS_*` state). Then the clock holds, if any.
 */
export function describeBlocked(hv: Hypervisor): string[] {
  const lines = xenOf(hv).domains.map(describeDomain);
  const holds = hv.scheduler.holds;
  if (holds.length > 0) lines.push(`clock held for: ${holds.join(", ")}`);
  return lines;
}
