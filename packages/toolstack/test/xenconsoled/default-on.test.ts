// xenconsoled runs by default, as on a real host (console 0 mapped and bound, no real pty unless
// asked), and `xenconsoled: false` turns it off.
import { describe, expect, it } from "vitest";
import { ECS_NAMES } from "@pvkit/hypervisor-sim";
import { createTestHost } from "@pvkit/toolstack/testing";
import { inspectDomain } from "@pvkit/hypervisor-sim/inspect";

describe("xenconsoled in createHost", () => {
  it("serves console 0 by default, without a terminal, so tty stays empty", async () => {
    await using t = await createTestHost();
    const host = t.host;
    const d = await host.createDomain({ name: "dflt" });
    await host.until(d.done, "main");
    const xc = host.xenconsoled!.console(d.domid)!;
    expect(ECS_NAMES[inspectDomain(host.hv, d.domid)!.evtchn.state[d.consolePort]!]).toBe(
      "INTERDOMAIN",
    );
    expect(host.xenconsoled!.ports).toEqual([xc.localPort]);
    expect(xc.ttyPath).toBeUndefined();
    expect(xc.counters.terminals).toBe(0);
    expect(host.openXenstore().readString(`/local/domain/${d.domid}/console/tty`)).toBe("");
    // Dom0 maps reserved grant ref 0: GTF_permit_access | GTF_reading | GTF_writing.
    expect(inspectDomain(host.hv, d.domid)!.gnttab.entryFlags(0)).toBe(1 | 0x8 | 0x10);
    await t.finish();
  });

  it("leaves grant ref 0 unmapped and the console port unbound with xenconsoled: false", async () => {
    await using t = await createTestHost({ xenconsoled: false });
    const host = t.host;
    const d = await host.createDomain({ name: "off" });
    await host.until(d.done, "main");
    expect(host.xenconsoled).toBeUndefined();
    expect(inspectDomain(host.hv, d.domid)!.gnttab.entryFlags(0)).toBe(1);
    expect(ECS_NAMES[inspectDomain(host.hv, d.domid)!.evtchn.state[d.consolePort]!]).toBe(
      "UNBOUND",
    );
    await t.finish();
  });
});
