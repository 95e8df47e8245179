/**
 * What the framework needs of the domain it runs in: the kernel's services a Linux xenbus driver
 * gets from `drivers/xen` — xenstore, event channels, the grant table (granting side and mapping
 * side), a page allocator and timers. The same in a domU, in dom0 and in a driver domain.
 *
 * ```ts
 * const env = driverEnv({ guest: ctx.guest, events: ctx.events, xs: ctx.xenbus });        // domU
 * const env0 = driverEnv({ guest: host.dom0.guest, events: host.dom0.events,
 *                          xs: LocalXenbusTransport.open(host) });                          // dom0
 * ```
 */
import type { Guest } from "@pvkit/hypervisor-sim";
import type { EventChannels } from "../../events/event-channels.js";
import { GrantMapper } from "../../grants/grant-mapper.js";
import { GrantTableClient } from "../../grants/grant-table-client.js";
import { GuestPageAllocator } from "../../grants/page-allocator.js";
import { type DriverTimers, GuestTimers } from "./timers.js";
import type { XenbusTransport } from "./transport.js";

/** The domain's services, as drivers use them. */
export interface DriverEnv {
  readonly domid: number;
  readonly guest: Guest;
  readonly events: EventChannels;
  readonly xs: XenbusTransport;
  /** The granting side (frontends' rings and data pages). */
  readonly grants: GrantTableClient;
  /** Pages for `grants.grantPage`. */
  readonly allocator: GuestPageAllocator;
  /** The mapping side (backends). */
  readonly mapper: GrantMapper;
  readonly timers: DriverTimers;
}

/** Options of {@link driverEnv}: everything but `guest`, `events` and `xs` has a default. */
export interface DriverEnvOptions {
  readonly guest: Guest;
  readonly events: EventChannels;
  readonly xs: XenbusTransport;
  /** Default: a new allocator over the upper half of RAM (`defaultAllocatorRange`). */
  readonly allocator?: GuestPageAllocator;
  /** Default: `GrantTableClient.of(guest, { allocator })`; it must grant from `allocator`. */
  readonly grants?: GrantTableClient;
  /** Default: a new GrantMapper of the guest. */
  readonly mapper?: GrantMapper;
  /** Default: `GuestTimers.of(guest, events)` (VIRQ_TIMER and set_timer_op). */
  readonly timers?: DriverTimers;
}

/** One allocator per guest, shared by every env made for it without one. */
const allocators = new WeakMap<Guest, GuestPageAllocator>();

/**
 * The env of a domain, with defaults (see {@link DriverEnvOptions}). Envs made for one guest
 * share its default allocator and grant client, so several buses in one domain never hand out
 * the same page or ref.
 */
export function driverEnv(opts: DriverEnvOptions): DriverEnv {
  const { guest } = opts;
  let allocator = opts.allocator ?? allocators.get(guest);
  if (allocator === undefined) {
    allocator = new GuestPageAllocator(guest.memory);
    allocators.set(guest, allocator);
  }
  return {
    domid: guest.domid,
    guest,
    events: opts.events,
    xs: opts.xs,
    allocator,
    grants: opts.grants ?? GrantTableClient.of(guest, { allocator }),
    mapper: opts.mapper ?? new GrantMapper(guest),
    timers: opts.timers ?? GuestTimers.of(guest, opts.events),
  };
}
