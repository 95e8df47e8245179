/**
 * What a guest kernel has of Xen: hypercalls on each of its vCPUs, its own guest-physical memory,
 * and an upcall registration per vCPU. Nothing here reaches other domains except through Xen.
 */
import type { Domain } from "./domain/domain.js";
import type { UpcallHandler } from "./domain/vcpu.js";
import { type Hypercalls, newHypercalls } from "./hypercalls.js";
import type { XenContext } from "./xen-context.js";
import type { Page, ReadonlyPage } from "./memory/page.js";

/** A guest's view of its own physical memory (its p2m), by GFN. */
export interface GuestMemory {
  /** RAM size in 4 KiB pages; RAM GFNs are 0..nrPages-1. */
  readonly nrPages: number;
  /** The page at `gfn` (RAM, a Xen page or a grant mapping). @throws RangeError for a hole. */
  page(gfn: number): Page | ReadonlyPage;
  /** A writable page at `gfn`. @throws RangeError for a hole or a read-only mapping. */
  writablePage(gfn: number): Page;
  /** Whether nothing is mapped at `gfn` (a place for a grant mapping or add_to_physmap). */
  isHole(gfn: number): boolean;
}

let make: (xen: XenContext, d: Domain) => Guest;
let domainOf: (g: Guest) => Domain;

/**
 * What a guest kernel has of Xen, from `Hypervisor.guest(domid)`: hypercalls on each of its vCPUs
 * (`vcpu(id)`, `hypercall` for vCPU 0), its own guest-physical memory (`memory`), an upcall
 * registration per vCPU and the TSC. Nothing here reaches other domains except through Xen.
 */
export class Guest {
  readonly #vcpus: Hypercalls[];
  readonly #hv: XenContext;
  readonly #domain: Domain;

  static {
    make = (xen, d) => new Guest(xen, d);
    domainOf = (g) => g.#domain;
  }

  private constructor(hv: XenContext, domain: Domain) {
    this.#hv = hv;
    this.#domain = domain;
    this.#vcpus = domain.vcpus.map((v) => newHypercalls(hv, v));
  }

  /**
   * The RDTSC instruction: this host's virtual TSC, which counts nanoseconds of virtual time
   * (every vCPU's `vcpu_time_info` scales it 1:1: `tsc_to_system_mul` 2^31, `tsc_shift` 1). A
   * kernel turns it into system time with the pvclock formula over `vcpu_time_info`.
   */
  rdtsc(): number {
    return this.#hv.now;
  }

  /** This guest's domid. */
  get domid(): number {
    return this.#domain.domid;
  }

  /** Number of vCPUs. */
  get nrVcpus(): number {
    return this.#vcpus.length;
  }

  /** Guest-physical memory. */
  get memory(): GuestMemory {
    return this.#domain.physmap;
  }

  /** Hypercalls issued from vCPU `id`. @throws RangeError for a vCPU the domain lacks. */
  vcpu(id: number): Hypercalls {
    const h = this.#vcpus[id];
    if (h === undefined) throw new RangeError(`d${this.domid} has no vcpu ${id}`);
    return h;
  }

  /** Hypercalls issued from vCPU 0. */
  get hypercall(): Hypercalls {
    return this.vcpu(0);
  }

  /**
   * Registers the event upcall of vCPU `id` (what HVMOP_set_evtchn_upcall_vector or a PV
   * CALLBACKOP_register does). Xen masks upcalls (`evtchn_upcall_mask` = 1) while it runs.
   */
  registerUpcall(id: number, handler: UpcallHandler | undefined): void {
    this.vcpu(id).registerUpcall(handler);
  }
}

/** Creates the guest view of `d` (for `Xen.guest`). */
export function newGuest(xen: XenContext, d: Domain): Guest {
  return make(xen, d);
}

/** The domain behind a guest view (for `Xen.guest`, which caches one view per domain). */
export function guestDomain(g: Guest): Domain {
  return domainOf(g);
}
