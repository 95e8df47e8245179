// The "Events" example of README.md, run as written (console.log replaced by `log`).
import { describe, expect, it } from "vitest";
import { switchMap } from "rxjs";
import { Hypervisor } from "@pvkit/hypervisor-sim";
import { VIRQ } from "@pvkit/hypervisor-sim/abi";
import { EventChannels, XenError } from "@pvkit/guest-sdk";

describe("README events example", () => {
  it("runs and prints what the README says", async () => {
    const out: unknown[] = [];
    const log = (...a: unknown[]): void => {
      out.push(a.length === 1 ? a[0] : a.join(" "));
    };

    const hv = new Hypervisor();
    const dom0 = hv.createDomain();
    const domU = hv.createDomain({ vcpus: 2 });
    const ev0 = EventChannels.of(hv.guest(dom0.domid));
    const evU = EventChannels.of(hv.guest(domU.domid));

    const front = evU.bindUnbound(dom0.domid, {
      onEvent: (e) => log(`domU: event ${e.count} on vCPU ${e.vcpu}`),
    });
    const back = ev0.bindInterdomain(domU.domid, front.port, { lateEoi: true, onEvent: (_e, ch) => ch.eoi() });

    let seen = await back.waitFor(0);
    front.notify();
    seen = await back.waitFor(seen);
    log(`dom0: ${seen} events`);
    back.notify();

    const sub = evU
      .ipi$(1)
      .pipe(switchMap((ipi) => (ipi.notify(), ipi.events$)))
      .subscribe((e) => log(`IPI on vCPU ${e.vcpu}`));
    await front.waitFor(0);
    await hv.settle();
    sub.unsubscribe();

    try {
      evU.bindVirq(VIRQ.VIRQ_DOM_EXC, 1);
    } catch (err) {
      if (err instanceof XenError) log(err.code, err.op);
    }

    front.close();
    log(back.status());

    expect(out).toEqual([
      "dom0: 2 events",
      "domU: event 1 on vCPU 0",
      "IPI on vCPU 1",
      "EINVAL EVTCHNOP_bind_virq",
      { state: "unbound", vcpu: 0, remoteDom: 1 },
    ]);
  });
});
