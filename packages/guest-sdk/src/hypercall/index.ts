/**
 * `@pvkit/guest-sdk/hypercall`: the thin typed wrappers over single hypercalls that the SDK's
 * classes are built on — `HYPERVISOR_event_channel_op` (`event_channel.h`),
 * `HYPERVISOR_grant_table_op` (`grant_table.h`), `HYPERVISOR_memory_op` (`memory.h`) and
 * `HYPERVISOR_xen_version` (`version.h`). Each issues one hypercall and throws `XenError` (or
 * `GrantStatusError` for a failed batch element) instead of returning `-errno`.
 *
 * A driver normally needs none of them: `EventChannels`, `GrantTableClient` and `GrantMapper`
 * (the package root) do the bookkeeping around these calls. They are here for tests, tools
 * and code that speaks to Xen directly, as Linux's `HYPERVISOR_*` inlines are.
 *
 * @module @pvkit/guest-sdk/hypercall
 */
export {
  evtchnAllocUnbound,
  evtchnBindInterdomain,
  evtchnBindVirq,
  evtchnBindIpi,
  evtchnBindPirq,
  evtchnClose,
  evtchnSend,
  evtchnBindVcpu,
  evtchnUnmask,
  evtchnReset,
  evtchnStatus,
  evtchnInitControl,
  evtchnExpandArray,
  evtchnSetPriority,
  type EvtchnHypercalls,
} from "./evtchn-ops.js";
export {
  mapGrantRefs,
  unmapGrantRefs,
  copyGrants,
  setupTable,
  querySize,
  type GrantTableSize,
  type GnttabHypercalls,
} from "./gnttab-ops.js";
export {
  addSharedInfoToPhysmap,
  addGrantFrameToPhysmap,
  xenVersion,
  type MemoryHypercalls,
} from "./memory-ops.js";
export { toGnttabCopy } from "../grants/grant-copy.js";
