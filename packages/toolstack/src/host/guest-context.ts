/**
 * What a guest's `main` is given: only what a real PV guest kernel has at boot — its domid
 * (from xenstore's `domid`, or start_info), hypercalls and memory (`guest`), its event
 * subsystem over its own shared_info (`events`), the start_info page and where it is
 * (`startInfoGfn`, the register a PV kernel is entered with), and its xenbus client over the
 * xenstore ring found through start_info. Nothing of the host, xenstored or other domains.
 */
import type { Guest } from "@pvkit/hypervisor-sim";
import type { StartInfo } from "@pvkit/hypervisor-sim/abi";
import type { EventChannels, XenbusClient } from "@pvkit/guest-sdk";

export interface GuestContext {
  readonly domid: number;
  /** The name the domain was created with (also at `name` in its xenstore home). */
  readonly name: string;
  /** Hypercalls and guest-physical memory. */
  readonly guest: Guest;
  /** The guest's event channels, with shared_info mapped where start_info says. */
  readonly events: EventChannels;
  /** GFN of the start_info page. */
  readonly startInfoGfn: number;
  /** start_info as the guest reads it from its own memory at boot. */
  readonly startInfo: StartInfo;
  /**
   * The guest's xenstore client over the ring start_info names (`XenbusClient.fromStartInfo`),
   * made on first use; it adopts the store port into `events`. Relative paths are under
   * `/local/domain/<domid>`.
   */
  readonly xenbus: XenbusClient;
  /** Aborted when the domain is destroyed or crashes: time for `main` to stop. */
  readonly signal: AbortSignal;
}

/** A guest program: runs once the domain is unpaused. A throw or rejection crashes the domain. */
export type GuestMain = (ctx: GuestContext) => void | Promise<void>;
