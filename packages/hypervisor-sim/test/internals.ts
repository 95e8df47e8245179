/**
 * White-box access for the simulator's own tests: the machine's domain behind a public
 * `DomainInfo` (the event-channel and grant tables, the physmap, pause counts) and behind a
 * `Guest`. Outside this package the same state is only visible read-only, through
 * `@pvkit/hypervisor-sim/inspect`.
 */
import type { DomainInfo, Guest } from "@pvkit/hypervisor-sim";
import { Domain } from "../src/domain/domain.js";
import { guestDomain } from "../src/guest.js";

/** The simulator's domain object behind `d` (what `createDomain` / `domainById` returned). */
export function internal(d: DomainInfo): Domain {
  if (!(d instanceof Domain)) throw new TypeError(`d${d.domid} is not a domain of this simulator`);
  return d;
}

/** The simulator's domain object behind a guest view. */
export function domainOfGuest(g: Guest): Domain {
  return guestDomain(g);
}
