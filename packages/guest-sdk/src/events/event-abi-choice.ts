/**
 * Choosing and building a guest's event ABI for `EventChannels` (Linux `xen_init_IRQ`, which
 * tries FIFO and otherwise keeps 2-level; here the caller chooses). The checks run before
 * anything touches Xen, so a bad choice changes nothing; building FIFO issues
 * EVTCHNOP_init_control for every vCPU (`fifo-state.ts`).
 */
import type { Guest } from "@pvkit/hypervisor-sim";
import type { GuestPageAllocator } from "../grants/page-allocator.js";
import type { EventAbi, EventAbiName, VcpuContext } from "./event-abi.js";
import { FifoAbi } from "./fifo-abi.js";
import { FifoState } from "./fifo-state.js";
import type { SharedInfoView } from "./shared-info-view.js";
import { TwoLevelAbi } from "./two-level-abi.js";

/**
 * Validates the ABI asked for `guest` (default "2l") and returns it.
 * @throws RangeError for an unknown name, "fifo" without `pages`, or "2l" on a guest the SDK
 * switched to FIFO and Xen still runs on FIFO (Xen would keep queueing its events on FIFO
 * queues; after an EVTCHNOP_reset "2l" is fine again).
 * @internal
 */
export function checkAbiChoice(
  guest: Guest,
  abi: EventAbiName | undefined,
  pages: GuestPageAllocator | undefined,
): EventAbiName {
  const name = abi ?? "2l";
  if (name !== "2l" && name !== "fifo")
    throw new RangeError(`unknown event-channel ABI ${String(name)}; use "2l" or "fifo"`);
  if (name === "fifo" && pages === undefined) {
    throw new RangeError(
      "the FIFO event ABI needs guest pages for its control blocks and event array; pass pages (a GuestPageAllocator)",
    );
  }
  if (name === "2l" && FifoState.current(guest) !== undefined) {
    throw new RangeError(
      `d${guest.domid} was switched to the FIFO event ABI; pass abi: "fifo" and pages`,
    );
  }
  return name;
}

/**
 * The ABI implementation for a checked `name`: 2-level over shared_info, or FIFO over the
 * guest's FIFO state (set up now, with init_control issued from vCPU `ctx.current()`).
 * @throws XenError from EVTCHNOP_init_control; GrantError ERR_NO_PAGES when `pages` runs out.
 * @internal
 */
export function makeEventAbi(
  name: EventAbiName,
  guest: Guest,
  sh: SharedInfoView,
  pages: GuestPageAllocator | undefined,
  ctx: VcpuContext,
): EventAbi {
  if (name === "2l") return new TwoLevelAbi(sh, guest.nrVcpus, ctx);
  if (pages === undefined)
    throw new RangeError("the FIFO event ABI needs pages (see checkAbiChoice)");
  return new FifoAbi(FifoState.of(guest, pages, ctx.current()), sh, pages, ctx);
}
