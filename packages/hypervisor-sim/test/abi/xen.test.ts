// Expected numbers: /usr/include/xen/xen.h, Xen 4.17 (page size, hypercall numbers, special
// domids, VIRQ numbers and their V/G scope), vcpu.h and memory.h (the vcpu_op / memory_op numbers).
import { describe, expect, it } from "vitest";
import {
  DOMID_COW,
  DOMID_FIRST_RESERVED,
  DOMID_IDLE,
  DOMID_INVALID,
  DOMID_IO,
  DOMID_MASK,
  DOMID_SELF,
  DOMID_XEN,
  HYPERCALL,
  NR_VIRQS,
  VCPUOP,
  VIRQ,
  VIRQ_MCA,
  XENMAPSPACE,
  XENMEM,
  XEN_PAGE_SHIFT,
  XEN_PAGE_SIZE,
  virqIsPerVcpu,
} from "@pvkit/hypervisor-sim/abi";

describe("hypercall numbers (xen.h)", () => {
  it("numbers the hypercalls the doc lists", () => {
    expect(HYPERCALL).toMatchObject({
      __HYPERVISOR_memory_op: 12,
      __HYPERVISOR_event_channel_op_compat: 16,
      __HYPERVISOR_xen_version: 17,
      __HYPERVISOR_console_io: 18,
      __HYPERVISOR_grant_table_op: 20,
      __HYPERVISOR_vcpu_op: 24,
      __HYPERVISOR_sched_op: 29,
      __HYPERVISOR_event_channel_op: 32,
      __HYPERVISOR_hvm_op: 34,
    });
  });

  it("uses 4 KiB Xen pages", () => {
    expect(XEN_PAGE_SHIFT).toBe(12);
    expect(XEN_PAGE_SIZE).toBe(4096);
  });
});

describe("special domain ids (xen.h)", () => {
  it("defines the reserved domids", () => {
    expect({
      DOMID_FIRST_RESERVED,
      DOMID_SELF,
      DOMID_IO,
      DOMID_XEN,
      DOMID_COW,
      DOMID_INVALID,
      DOMID_IDLE,
      DOMID_MASK,
    }).toStrictEqual({
      DOMID_FIRST_RESERVED: 0x7ff0,
      DOMID_SELF: 0x7ff0,
      DOMID_IO: 0x7ff1,
      DOMID_XEN: 0x7ff2,
      DOMID_COW: 0x7ff3,
      DOMID_INVALID: 0x7ff4,
      DOMID_IDLE: 0x7fff,
      DOMID_MASK: 0x7fff,
    });
  });
});

describe("VIRQs (xen.h)", () => {
  it("numbers exactly the documented VIRQs, leaving 5, 14 and 15 unused", () => {
    expect(VIRQ).toStrictEqual({
      VIRQ_TIMER: 0,
      VIRQ_DEBUG: 1,
      VIRQ_CONSOLE: 2,
      VIRQ_DOM_EXC: 3,
      VIRQ_TBUF: 4,
      VIRQ_DEBUGGER: 6,
      VIRQ_XENOPROF: 7,
      VIRQ_CON_RING: 8,
      VIRQ_PCPU_STATE: 9,
      VIRQ_MEM_EVENT: 10,
      VIRQ_ARGO: 11,
      VIRQ_ENOMEM: 12,
      VIRQ_XENPMU: 13,
      VIRQ_ARCH_0: 16,
      VIRQ_ARCH_1: 17,
      VIRQ_ARCH_2: 18,
      VIRQ_ARCH_3: 19,
      VIRQ_ARCH_4: 20,
      VIRQ_ARCH_5: 21,
      VIRQ_ARCH_6: 22,
      VIRQ_ARCH_7: 23,
    });
    expect(NR_VIRQS).toBe(24);
    expect(VIRQ_MCA).toBe(16);
  });

  it("treats exactly TIMER, DEBUG, XENOPROF and XENPMU as per-vCPU", () => {
    const perVcpu = Array.from({ length: NR_VIRQS }, (_, v) => v).filter((v) => virqIsPerVcpu(v));
    expect(perVcpu).toStrictEqual([0, 1, 7, 13]);
  });
});

describe("vcpu_op and memory_op numbers (vcpu.h, memory.h)", () => {
  it("numbers VCPUOP_register_vcpu_info 10, XENMEM_add_to_physmap 7, XENMAPSPACE_shared_info 0", () => {
    expect(VCPUOP.VCPUOP_register_vcpu_info).toBe(10);
    expect(XENMEM.XENMEM_add_to_physmap).toBe(7);
    expect(XENMAPSPACE.XENMAPSPACE_shared_info).toBe(0);
  });
});
