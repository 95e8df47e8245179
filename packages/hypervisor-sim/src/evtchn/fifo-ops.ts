/**
 * The FIFO hypercalls (4.17 `event_fifo.c` and `event_channel.c`): EVTCHNOP_init_control,
 * EVTCHNOP_expand_array and EVTCHNOP_set_priority with every check in Xen's order, plus the
 * switch to FIFO (`setup_ports`) and the teardown back to 2-level (`evtchn_fifo_destroy` +
 * `evtchn_2l_init`), after `xen/common/event_fifo.c` and `event_channel.c`.
 */
import { XEN_ERRNO } from "../abi/errno.js";
import { isU32 } from "../abi/struct.js";
import type * as A from "../abi/event-channel.js";
import {
  EVTCHN_2L_NR_CHANNELS,
  EVTCHN_FIFO_EVENT_WORDS_PER_PAGE,
  EVTCHN_FIFO_LINK_BITS,
  EVTCHN_FIFO_MAX_EVENT_ARRAY_PAGES,
  EVTCHN_FIFO_NR_CHANNELS,
  EVTCHN_FIFO_PRIORITY_DEFAULT,
  EVTCHN_FIFO_PRIORITY_MIN,
} from "../abi/event-channel.js";
import { XEN_PAGE_SIZE } from "../abi/xen.js";
import type { Domain } from "../domain/domain.js";
import type { Vcpu } from "../domain/vcpu.js";
import type { XenContext } from "../xen-context.js";
import { setPending } from "./delivery.js";
import type { Frame } from "../memory/frame.js";
import { FIFO_CB_SIZE, FifoEvents } from "./fifo.js";
import { isPending } from "./two-level.js";

const { EINVAL, ENOENT, ENOSPC, ENOSYS, EACCES, EOPNOTSUPP } = XEN_ERRNO;

/**
 * `map_guest_page()`: the Frame behind GFN `gfn` of `d` when `get_page_from_gfn(d, gfn,
 * P2M_ALLOC)` and `get_page_type(PGT_writable_page)` accept it — a page `d` owns in its physmap:
 * its RAM (populated on first touch) or a Xen page it placed with add_to_physmap (shared_info, a
 * grant-table frame), all `p2m_ram_rw` in Xen. Undefined (-EINVAL) for a hole, a grant mapping
 * and a gmfn_foreign mapping.
 */
function mapGuestPage(d: Domain, gfn: unknown): Frame | undefined {
  if (typeof gfn !== "number") return undefined;
  return d.physmap.ownFrame(gfn);
}

/**
 * EVTCHNOP_init_control (`evtchn_fifo_init_control`). Checks, first failure wins: -ENOENT no
 * such vCPU; -EINVAL `offset` > 4096 − 72 (4024) or not 8-byte aligned; -EINVAL the vCPU already
 * has a control block; -EINVAL `control_gfn` is not a page the domain owns (a hole, a grant or
 * foreign mapping; shared_info and grant-table frames are accepted, as in Xen). `link_bits`
 * (17) is written back only on success. The first success for a domain switches it to FIFO: every vCPU
 * gets its queues, an empty event array is set up, ports pending under 2-level are remembered
 * (raised again once their array page exists) and every valid port gets priority 7. A failing
 * first call leaves the domain on 2-level.
 */
export function initControl(_hv: XenContext, caller: Vcpu, a: A.evtchn_init_control): number {
  const d = caller.domain;
  const v = d.vcpu(a.vcpu);
  if (v === undefined) return -ENOENT;
  const offset = a.offset;
  if (!isU32(offset) || offset > XEN_PAGE_SIZE - FIFO_CB_SIZE) return -EINVAL;
  if ((offset & 7) !== 0) return -EINVAL;
  let fifo = d.fifo;
  const first = fifo === undefined;
  if (fifo === undefined) fifo = new FifoEvents(d.evtchn, d.vcpus.length);
  const fv = fifo.vcpus[v.id]!;
  if (fv.control !== undefined) return -EINVAL;
  const frame = mapGuestPage(d, a.control_gfn);
  // On a first call Xen frees the fresh FIFO state again (evtchn_fifo_destroy): nothing changed.
  if (frame === undefined) return -EINVAL;
  fv.control = frame;
  fv.offset = offset;
  if (first) switchToFifo(d, fifo);
  a.link_bits = EVTCHN_FIFO_LINK_BITS;
  return 0;
}

/**
 * The switch (`d->evtchn_port_ops = &evtchn_port_ops_fifo` then `setup_ports`): the ABI limit
 * becomes 2^17 with the busy check on, and for every valid port below the old limit its 2-level
 * pending bit is saved as `evtchn->pending` and its priority set to 7.
 */
function switchToFifo(d: Domain, fifo: FifoEvents): void {
  const t = d.evtchn;
  const prev = t.maxEvtchns;
  d.fifo = fifo;
  t.setAbiLimit(EVTCHN_FIFO_NR_CHANNELS, (port) => fifo.isBusy(port));
  const shinfo = d.sharedInfo.bytes;
  for (let port = 1; port < prev && t.isValid(port); port++) {
    if (isPending(shinfo, port)) t.fifoPending[port] = 1;
    t.priority[port] = EVTCHN_FIFO_PRIORITY_DEFAULT;
  }
}

/**
 * `evtchn_fifo_destroy()` + `evtchn_2l_init()`: drop the FIFO state (Xen's page references go
 * with it) and go back to the 2-level ABI and its 4096-port limit. Ports already valid stay valid.
 * Called by EVTCHNOP_reset and on domain destruction; nothing happens on a 2-level domain.
 */
export function teardownFifo(d: Domain): void {
  if (d.fifo === undefined) return;
  d.fifo = undefined;
  d.evtchn.setAbiLimit(EVTCHN_2L_NR_CHANNELS, undefined);
}

/**
 * EVTCHNOP_expand_array (`evtchn_fifo_expand_array` / `add_page_to_event_array`): -EOPNOTSUPP
 * before init_control; -ENOSPC once the array has 128 pages (2^17 ports); -EINVAL when
 * `array_gfn` is not a page the domain owns (as for init_control). The page becomes the next
 * 1024 event words, and every valid port in that range that was raised while its page was
 * missing is raised again on its notify vCPU.
 */
export function expandArray(hv: XenContext, caller: Vcpu, a: A.evtchn_expand_array): number {
  const d = caller.domain;
  const fifo = d.fifo;
  if (fifo === undefined) return -EOPNOTSUPP;
  const slot = fifo.numEvtchns / EVTCHN_FIFO_EVENT_WORDS_PER_PAGE;
  if (slot >= EVTCHN_FIFO_MAX_EVENT_ARRAY_PAGES) return -ENOSPC;
  const frame = mapGuestPage(d, a.array_gfn);
  if (frame === undefined) return -EINVAL;
  const first = fifo.numEvtchns;
  fifo.pages.push(frame);
  fifo.numEvtchns += EVTCHN_FIFO_EVENT_WORDS_PER_PAGE;
  const t = d.evtchn;
  for (let port = first; port < fifo.numEvtchns && t.isValid(port); port++) {
    // Xen calls evtchn_fifo_set_pending directly here, whatever the port's state.
    if (t.fifoPending[port] !== 0) setPending(hv, d, port);
  }
  return 0;
}

/**
 * EVTCHNOP_set_priority (`evtchn_set_priority` / `evtchn_port_set_priority`): -EINVAL port not
 * valid; -ENOSYS on the 2-level ABI; -EACCES port not usable (FREE, RESERVED, Xen consumer);
 * -EINVAL priority > 15 (EVTCHN_FIFO_PRIORITY_MIN). The new priority applies to future queueing
 * only: a port already linked stays on its queue.
 */
export function setPriority(_hv: XenContext, v: Vcpu, a: A.evtchn_set_priority): number {
  const d = v.domain;
  const t = d.evtchn;
  if (!isU32(a.port) || !t.isValid(a.port)) return -EINVAL;
  if (d.fifo === undefined) return -ENOSYS;
  if (!t.isUsable(a.port)) return -EACCES;
  if (!isU32(a.priority) || a.priority > EVTCHN_FIFO_PRIORITY_MIN) return -EINVAL;
  t.priority[a.port] = a.priority;
  return 0;
}
