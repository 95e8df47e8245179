// Expected numbers: /usr/include/xen/sched.h, Xen 4.17 x86_64 (offsetof/sizeof as gcc computes
// them; the SCHEDOP_* and SHUTDOWN_* macros).
import { describe, expect, it } from "vitest";
import {
  SCHEDOP,
  SCHED_REMOTE_SHUTDOWN_SIZE,
  SCHED_SHUTDOWN_SIZE,
  SHUTDOWN,
  sched_remote_shutdown_layout,
  sched_shutdown_layout,
} from "@pvkit/hypervisor-sim/abi";
import { expectLayout } from "./expect-layout.js";

describe("sched.h", () => {
  it("lays out sched_shutdown as {reason u32 @0} in 4 bytes", () => {
    expectLayout(sched_shutdown_layout, SCHED_SHUTDOWN_SIZE, 4, { reason: [0, 4] });
  });

  it("lays out sched_remote_shutdown as {domain_id u16 @0, reason u32 @4} in 8 bytes", () => {
    expectLayout(sched_remote_shutdown_layout, SCHED_REMOTE_SHUTDOWN_SIZE, 8, {
      domain_id: [0, 2],
      reason: [4, 4],
    });
  });

  it("numbers the commands and shutdown reasons as sched.h does", () => {
    expect([
      SCHEDOP.SCHEDOP_yield,
      SCHEDOP.SCHEDOP_block,
      SCHEDOP.SCHEDOP_shutdown,
      SCHEDOP.SCHEDOP_poll,
    ]).toEqual([0, 1, 2, 3]);
    expect([
      SCHEDOP.SCHEDOP_remote_shutdown,
      SCHEDOP.SCHEDOP_shutdown_code,
      SCHEDOP.SCHEDOP_watchdog,
      SCHEDOP.SCHEDOP_pin_override,
    ]).toEqual([4, 5, 6, 7]);
    expect([
      SHUTDOWN.SHUTDOWN_poweroff,
      SHUTDOWN.SHUTDOWN_reboot,
      SHUTDOWN.SHUTDOWN_suspend,
      SHUTDOWN.SHUTDOWN_crash,
    ]).toEqual([0, 1, 2, 3]);
    expect([SHUTDOWN.SHUTDOWN_watchdog, SHUTDOWN.SHUTDOWN_soft_reset]).toEqual([4, 5]);
  });
});
