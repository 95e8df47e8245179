/**
 * A minimal split device without xenstore, showing the guest SDK bare:
 *
 * ```
 *  frontend domU                                    backend dom0
 *  ------------                                     ------------
 *  allocate + grant ring page, FrontRing.init
 *  bindUnbound(dom0) -> port
 *  hand-off page: ring-ref, port, then go=1  --->   map hand-off (read-only), wait for go
 *  (its grant ref is passed by hand)                map ring-ref, BackRing.attach
 *                                                   bindInterdomain(domU, port)
 *  per message: grant in (ro) + out (rw) pages,
 *  produceRequest, pushRequestsAndCheckNotify -> notify   --->   consume, copy in -> bounce page -> out,
 *                                           <---   produceResponse, pushResponsesAndCheckNotify -> notify
 *  consume responses, read the out pages, end grants
 *  end ring/hand-off grants: DEFERRED while mapped (XSA-396)
 *                                                   unbind, unmap
 *  retry: ended; close
 * ```
 */
import { Hypervisor } from "@pvkit/hypervisor-sim";
import { EchoBackend } from "./backend.js";
import { EchoFrontend } from "./frontend.js";

export { echoSpec, HANDOFF, MAX_LEN, type EchoRequest, type EchoResponse } from "./protocol.js";
export { EchoFrontend } from "./frontend.js";
export { EchoBackend, GO_POLL_NS, GO_TIMEOUT_NS, type ConnectOptions } from "./backend.js";

/** What a run of the echo device did. */
export interface EchoRun {
  /** The bytes that came back, one per message sent. */
  replies: Uint8Array[];
  /** Requests the backend answered. */
  answered: number;
  /** Grants whose end was deferred at disconnect because the backend still mapped them. */
  deferredAtDisconnect: number;
  /** Deferred grants left once the backend had unmapped and the frontend retried (0 if all is well). */
  deferredAtClose: number;
  /** Grants leaked at close. */
  leaked: number;
}

/** Runs the device once: connects, echoes `messages`, and tears down. `log` receives each step. */
export async function runEcho(
  messages: readonly Uint8Array[],
  log: (line: string) => void = console.log,
): Promise<EchoRun> {
  const hv = new Hypervisor(); // auto mode: the scheduler pumps itself
  const dom0 = hv.guest(hv.createDomain({ name: "Domain-0" }).domid);
  const domU = hv.guest(hv.createDomain({ name: "echo-frontend", nrPages: 256 }).domid);

  const front = new EchoFrontend(domU, dom0.domid, log);
  const back = new EchoBackend(dom0, domU.domid, log);
  await back.connect(front.handoffRef);

  const replies = await front.echo(messages);

  const deferredAtDisconnect = front.disconnect(); // the backend still maps the ring: deferred
  back.close();
  const { stillDeferred, leaked } = front.close();
  await hv.settle();
  return {
    replies,
    answered: back.answered,
    deferredAtDisconnect,
    deferredAtClose: stillDeferred,
    leaked,
  };
}
