/**
 * The 2-level event ABI on the guest side (Linux `drivers/xen/events/events_2l.c`): one pending
 * and one mask bit per port in shared_info, a selector word per vCPU, and Linux's fair scan
 * (`two-level-scan.ts`). This is the ABI every guest starts with; `EventChannels` uses it
 * unless asked for FIFO.
 *
 * Unmasking is local when the port belongs to the vCPU the code runs on — clear the mask bit,
 * and if the port is pending set its selector bit and upcall_pending, then outside the upcall a
 * cheap hypercall so Xen re-checks (`evtchn_2l_unmask`) — and EVTCHNOP_unmask otherwise, with
 * the mask bit left set because Xen re-raises only a port it finds masked (`event_2l.c`:
 * `evtchn_2l_unmask`).
 */
import { XENVER } from "@pvkit/hypervisor-sim/abi";
import { evtchnUnmask } from "../hypercall/evtchn-ops.js";
import type { EventAbi, PortHandler, VcpuContext } from "./event-abi.js";
import type { SharedInfoView } from "./shared-info-view.js";
import { VcpuScanState, scanRound } from "./two-level-scan.js";

/** The 2-level ABI over a guest's mapped shared_info page. @internal */
export class TwoLevelAbi implements EventAbi {
  /** The ABI's name. */
  readonly name = "2l" as const;
  readonly #sh: SharedInfoView;
  readonly #scan: VcpuScanState[] = [];
  readonly #ctx: VcpuContext;

  /** Masks every port (Linux's `xen_evtchn_mask_all` at boot): nothing is delivered until bound. */
  constructor(sh: SharedInfoView, nrVcpus: number, ctx: VcpuContext) {
    this.#sh = sh;
    this.#ctx = ctx;
    for (let v = 0; v < nrVcpus; v++) this.#scan.push(new VcpuScanState());
  }

  /** False once the shared_info mapping is gone. */
  get alive(): boolean {
    return this.#sh.alive;
  }

  /** Nothing to prepare: every 2-level port has its bits in shared_info. */
  setupPort(_port: number): void {}

  /** Adds the port to `vcpu`'s scan mask. */
  addPort(port: number, vcpu: number): void {
    this.#scan[vcpu]!.add(port);
  }

  /** Removes the port from `vcpu`'s scan mask (and forgets it as that vCPU's timer port). */
  removePort(port: number, vcpu: number): void {
    const st = this.#scan[vcpu]!;
    st.remove(port);
    if (st.timerPort === port) st.timerPort = 0;
  }

  /** The port handled first in `vcpu`'s rounds. */
  setTimerPort(vcpu: number, port: number): void {
    this.#scan[vcpu]!.timerPort = port;
  }

  /** test_and_set of the shared_info mask bit. */
  mask(port: number): boolean {
    return this.#sh.setMask(port);
  }

  /** Linux's `evtchn_2l_unmask` (see the file comment). */
  unmask(port: number, vcpu: number): void {
    const cur = this.#ctx.current();
    if (vcpu !== cur) {
      evtchnUnmask(this.#ctx.hypercalls(cur), port);
      return;
    }
    const sh = this.#sh;
    sh.clearMask(port); // before testing pending: a raise in between is then not lost
    if (sh.isPending(port) && !sh.setSelectorBit(cur, port >>> 6)) {
      sh.setUpcallPending(cur, 1);
      // Inside this vCPU's upcall the handler loop sees upcall_pending; outside, ask Xen.
      if (!this.#ctx.inUpcall(cur)) this.#ctx.hypercalls(cur).xen_version(XENVER.XENVER_version);
    }
  }

  /** Clears the shared_info pending bit. */
  clearPending(port: number): void {
    this.#sh.clearPending(port);
  }

  /** The shared_info pending bit. */
  isPending(port: number): boolean {
    return this.#sh.isPending(port);
  }

  /** The shared_info mask bit. */
  isMasked(port: number): boolean {
    return this.#sh.isMasked(port);
  }

  /** One round of Linux's 2-level scan for `cpu` (`scanRound`). */
  handleEvents(cpu: number, handle: PortHandler): void {
    scanRound(this.#sh, cpu, this.#scan[cpu]!, handle);
  }
}
