/**
 * What a guest kernel has of Xen: hypercalls on each of its vCPUs, its own guest-physical memory,
 * and an upcall registration per vCPU. Nothing here reaches other domains except through Xen.
 */
import type { Domain } from "./domain/domain.js";
import type { UpcallHandler } from "./domain/vcpu.js";
import { Hypercalls } from "./hypercalls.js";
import type { Hypervisor } from "./hypervisor.js";
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

export class Guest {
  readonly #vcpus: Hypercalls[];
  readonly #hv: Hypervisor;

  constructor(
    hv: Hypervisor,
    /** @internal */
    readonly domain: Domain,
  ) {
    this.#hv = hv;
    this.#vcpus = domain.vcpus.map((v) => new Hypercalls(hv, v));
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
    return this.domain.domid;
  }

  /** Number of vCPUs. */
  get nrVcpus(): number {
    return this.#vcpus.length;
  }

  /** Guest-physical memory. */
  get memory(): GuestMemory {
    return this.domain.physmap;
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
