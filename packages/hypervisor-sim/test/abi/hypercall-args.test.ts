// The hypercall-argument objects against their byte layouts: each interface (what a guest passes
// to Hypercalls) has exactly the top-level members of its C layout other than padding, so the
// object form and the C form cannot drift apart. The layouts themselves are pinned to the Xen
// 4.17 headers by `pnpm abi-check` and by the per-header layout tests.
import { describe, expect, expectTypeOf, it } from "vitest";
import * as abi from "@pvkit/hypervisor-sim/abi";
import type { Layout } from "@pvkit/hypervisor-sim/abi";

/** The top-level member of a layout field name (`u.foreign_domid` -> `u`). */
type Top<K> = K extends `${infer H}.${string}` ? H : K;
/** Padding members: explicit in C, absent from the object form. */
type Pad = "pad" | "_pad" | "_rsvd";
/** The members an object form must have: the layout's top-level names without padding. */
type Members<L> = Exclude<Top<keyof L>, Pad>;

/** Compile-time: `I` has exactly the members of layout `L`. */
function sameMembers<I, L extends Layout>(
  _layout: L,
  ..._check: [Exclude<keyof I, Members<L>>, Exclude<Members<L>, keyof I>] extends [never, never]
    ? []
    : [never]
): string[] {
  return [...new Set(Object.keys(_layout).map((k) => k.split(".")[0]!))]
    .filter((k) => !["pad", "_pad", "_rsvd"].includes(k))
    .sort();
}

describe("hypercall argument objects have their layout's members", () => {
  it("sched.h: sched_poll, sched_shutdown, sched_remote_shutdown", () => {
    expect(
      sameMembers<abi.sched_poll, typeof abi.sched_poll_layout>(abi.sched_poll_layout),
    ).toEqual(["nr_ports", "ports", "timeout"]);
    expect(
      sameMembers<abi.sched_shutdown, typeof abi.sched_shutdown_layout>(abi.sched_shutdown_layout),
    ).toEqual(["reason"]);
    expect(
      sameMembers<abi.sched_remote_shutdown, typeof abi.sched_remote_shutdown_layout>(
        abi.sched_remote_shutdown_layout,
      ),
    ).toEqual(["domain_id", "reason"]);
  });

  it("vcpu.h: vcpu_set_singleshot_timer, vcpu_runstate_info, vcpu_register_runstate_memory_area", () => {
    expect(
      sameMembers<abi.vcpu_set_singleshot_timer, typeof abi.vcpu_set_singleshot_timer_layout>(
        abi.vcpu_set_singleshot_timer_layout,
      ),
    ).toEqual(["flags", "timeout_abs_ns"]);
    expect(
      sameMembers<abi.vcpu_runstate_info, typeof abi.vcpu_runstate_info_layout>(
        abi.vcpu_runstate_info_layout,
      ),
    ).toEqual(["state", "state_entry_time", "time"]);
    expect(
      sameMembers<
        abi.vcpu_register_runstate_memory_area,
        typeof abi.vcpu_register_runstate_memory_area_layout
      >(abi.vcpu_register_runstate_memory_area_layout),
    ).toEqual(["addr"]);
  });

  it("memory.h: xen_add_to_physmap, xen_add_to_physmap_batch, xen_remove_from_physmap", () => {
    expect(
      sameMembers<abi.xen_add_to_physmap, typeof abi.xen_add_to_physmap_layout>(
        abi.xen_add_to_physmap_layout,
      ),
    ).toEqual(["domid", "gpfn", "idx", "size", "space"]);
    expect(
      sameMembers<abi.xen_add_to_physmap_batch, typeof abi.xen_add_to_physmap_batch_layout>(
        abi.xen_add_to_physmap_batch_layout,
      ),
    ).toEqual(["domid", "errs", "gpfns", "idxs", "size", "space", "u"]);
    expect(
      sameMembers<abi.xen_remove_from_physmap, typeof abi.xen_remove_from_physmap_layout>(
        abi.xen_remove_from_physmap_layout,
      ),
    ).toEqual(["domid", "gpfn"]);
  });

  it("domctl.h: xen_domctl, xen_domctl_irq_permission", () => {
    expect(
      sameMembers<abi.xen_domctl, typeof abi.xen_domctl_layout>(abi.xen_domctl_layout),
    ).toEqual(["cmd", "domain", "interface_version", "u"]);
    expect(
      sameMembers<abi.xen_domctl_irq_permission, typeof abi.xen_domctl_irq_permission_layout>(
        abi.xen_domctl_irq_permission_layout,
      ),
    ).toEqual(["allow_access", "pirq"]);
  });

  it("event_channel.h: every EVTCHNOP argument and the compat evtchn_op", () => {
    expect(
      sameMembers<abi.evtchn_alloc_unbound, typeof abi.evtchn_alloc_unbound_layout>(
        abi.evtchn_alloc_unbound_layout,
      ),
    ).toEqual(["dom", "port", "remote_dom"]);
    sameMembers<abi.evtchn_bind_interdomain, typeof abi.evtchn_bind_interdomain_layout>(
      abi.evtchn_bind_interdomain_layout,
    );
    sameMembers<abi.evtchn_bind_virq, typeof abi.evtchn_bind_virq_layout>(
      abi.evtchn_bind_virq_layout,
    );
    sameMembers<abi.evtchn_bind_pirq, typeof abi.evtchn_bind_pirq_layout>(
      abi.evtchn_bind_pirq_layout,
    );
    sameMembers<abi.evtchn_bind_ipi, typeof abi.evtchn_bind_ipi_layout>(abi.evtchn_bind_ipi_layout);
    sameMembers<abi.evtchn_close, typeof abi.evtchn_close_layout>(abi.evtchn_close_layout);
    sameMembers<abi.evtchn_send, typeof abi.evtchn_send_layout>(abi.evtchn_send_layout);
    sameMembers<abi.evtchn_unmask, typeof abi.evtchn_unmask_layout>(abi.evtchn_unmask_layout);
    sameMembers<abi.evtchn_bind_vcpu, typeof abi.evtchn_bind_vcpu_layout>(
      abi.evtchn_bind_vcpu_layout,
    );
    sameMembers<abi.evtchn_reset, typeof abi.evtchn_reset_layout>(abi.evtchn_reset_layout);
    sameMembers<abi.evtchn_status, typeof abi.evtchn_status_layout>(abi.evtchn_status_layout);
    sameMembers<abi.evtchn_init_control, typeof abi.evtchn_init_control_layout>(
      abi.evtchn_init_control_layout,
    );
    sameMembers<abi.evtchn_expand_array, typeof abi.evtchn_expand_array_layout>(
      abi.evtchn_expand_array_layout,
    );
    sameMembers<abi.evtchn_set_priority, typeof abi.evtchn_set_priority_layout>(
      abi.evtchn_set_priority_layout,
    );
    expect(sameMembers<abi.evtchn_op, typeof abi.evtchn_op_layout>(abi.evtchn_op_layout)).toEqual([
      "cmd",
      "u",
    ]);
  });

  it("grant_table.h: every GNTTABOP argument", () => {
    expect(
      sameMembers<abi.gnttab_copy, typeof abi.gnttab_copy_layout>(abi.gnttab_copy_layout),
    ).toEqual(["dest", "flags", "len", "source", "status"]);
    sameMembers<abi.gnttab_map_grant_ref, typeof abi.gnttab_map_grant_ref_layout>(
      abi.gnttab_map_grant_ref_layout,
    );
    sameMembers<abi.gnttab_unmap_grant_ref, typeof abi.gnttab_unmap_grant_ref_layout>(
      abi.gnttab_unmap_grant_ref_layout,
    );
    sameMembers<abi.gnttab_setup_table, typeof abi.gnttab_setup_table_layout>(
      abi.gnttab_setup_table_layout,
    );
    sameMembers<abi.gnttab_dump_table, typeof abi.gnttab_dump_table_layout>(
      abi.gnttab_dump_table_layout,
    );
    sameMembers<abi.gnttab_transfer, typeof abi.gnttab_transfer_layout>(abi.gnttab_transfer_layout);
    sameMembers<abi.gnttab_query_size, typeof abi.gnttab_query_size_layout>(
      abi.gnttab_query_size_layout,
    );
    sameMembers<abi.gnttab_unmap_and_replace, typeof abi.gnttab_unmap_and_replace_layout>(
      abi.gnttab_unmap_and_replace_layout,
    );
    sameMembers<abi.gnttab_set_version, typeof abi.gnttab_set_version_layout>(
      abi.gnttab_set_version_layout,
    );
    sameMembers<abi.gnttab_get_status_frames, typeof abi.gnttab_get_status_frames_layout>(
      abi.gnttab_get_status_frames_layout,
    );
    sameMembers<abi.gnttab_get_version, typeof abi.gnttab_get_version_layout>(
      abi.gnttab_get_version_layout,
    );
    sameMembers<abi.gnttab_swap_grant_ref, typeof abi.gnttab_swap_grant_ref_layout>(
      abi.gnttab_swap_grant_ref_layout,
    );
    sameMembers<abi.gnttab_cache_flush, typeof abi.gnttab_cache_flush_layout>(
      abi.gnttab_cache_flush_layout,
    );
  });

  it("the check itself rejects an interface with a member its layout lacks", () => {
    // @ts-expect-error: `extra` is not a member of struct sched_shutdown.
    sameMembers<{ reason: number; extra: number }, typeof abi.sched_shutdown_layout>(
      abi.sched_shutdown_layout,
    );
    // @ts-expect-error: `nr_ports` of struct sched_poll is missing.
    sameMembers<{ ports: number[]; timeout: number }, typeof abi.sched_poll_layout>(
      abi.sched_poll_layout,
    );
    expectTypeOf<Members<typeof abi.xen_domctl_layout>>().toEqualTypeOf<
      "cmd" | "interface_version" | "domain" | "u"
    >();
  });
});

describe("isU32 and isU64, the ABI's range checks", () => {
  it("isU32 accepts exactly the integers 0..2^32-1", () => {
    expect([0, 1, 0xffffffff].map(abi.isU32)).toEqual([true, true, true]);
    expect([-1, 2 ** 32, 1.5, Number.NaN, "1", null, undefined].map(abi.isU32)).toEqual([
      false,
      false,
      false,
      false,
      false,
      false,
      false,
    ]);
    expect(abi.U32_MAX).toBe(4294967295);
  });
  it("isU64 accepts the non-negative safe integers", () => {
    expect([0, 2 ** 32, Number.MAX_SAFE_INTEGER].map(abi.isU64)).toEqual([true, true, true]);
    expect([-1, 2 ** 53, 0.5, "3"].map(abi.isU64)).toEqual([false, false, false, false]);
  });
});
