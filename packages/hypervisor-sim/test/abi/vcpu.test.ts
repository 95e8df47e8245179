// Expected numbers: /usr/include/xen/vcpu.h, Xen 4.17 x86_64 (offsetof/sizeof as gcc computes
// them; the VCPUOP_* and RUNSTATE_* macros).
import { describe, expect, it } from "vitest";
import {
  RUNSTATE,
  VCPUOP,
  VCPU_REGISTER_RUNSTATE_MEMORY_AREA_SIZE,
  VCPU_RUNSTATE_INFO_SIZE,
  vcpu_register_runstate_memory_area_layout,
  vcpu_runstate_info_layout,
} from "@pvkit/hypervisor-sim/abi";
import { expectLayout } from "./expect-layout.js";

describe("vcpu.h", () => {
  it("lays out vcpu_runstate_info as {state int @0, state_entry_time u64 @8, time[4] u64 @16} in 48 bytes", () => {
    expectLayout(vcpu_runstate_info_layout, VCPU_RUNSTATE_INFO_SIZE, 48, {
      state: [0, 4],
      state_entry_time: [8, 8],
      time: [16, 32],
    });
  });

  it("lays out vcpu_register_runstate_memory_area as the 8-byte addr union", () => {
    expectLayout(
      vcpu_register_runstate_memory_area_layout,
      VCPU_REGISTER_RUNSTATE_MEMORY_AREA_SIZE,
      8,
      { addr: [0, 8], "addr.p": [0, 8] },
    );
  });

  it("numbers the timer and runstate commands and the runstates as vcpu.h does", () => {
    expect([VCPUOP.VCPUOP_get_runstate_info, VCPUOP.VCPUOP_register_runstate_memory_area]).toEqual([
      4, 5,
    ]);
    expect([VCPUOP.VCPUOP_set_singleshot_timer, VCPUOP.VCPUOP_stop_singleshot_timer]).toEqual([
      8, 9,
    ]);
    expect([
      RUNSTATE.RUNSTATE_running,
      RUNSTATE.RUNSTATE_runnable,
      RUNSTATE.RUNSTATE_blocked,
      RUNSTATE.RUNSTATE_offline,
    ]).toEqual([0, 1, 2, 3]);
  });
});
