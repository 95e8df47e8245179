// XS_CONTROL as cxenstored 4.17 answers it (xenstored_control.c: do_control and cmds[]).
import { describe, expect, it } from "vitest";
import { expectCode, setup } from "./helpers.js";
import { XS } from "@pvkit/hypervisor-sim/abi";

const control = (c: ReturnType<typeof setup>["dom0"], ...args: string[]) =>
  Buffer.from(c.request(XS.XS_CONTROL, args.map((a) => `${a}\0`).join(""))).toString("latin1");

describe("CONTROL", () => {
  it("help lists 4.17's cmds[] in order, each `name\\tpars\\n`", () => {
    const { dom0 } = setup();
    expect(control(dom0, "help")).toBe(
      "check\t\n" +
        "log\ton|off\n" +
        "live-update\t[-c <cmdline>] [-F] [-t <timeout>] <file>\n    Default timeout is 60 seconds.\n" +
        "logfile\t<file>\n" +
        "memreport\t[<file>]\n" +
        "print\t<string>\n" +
        "quota\t[set <name> <val>|<domid>]\n" +
        "quota-soft\t[set <name> <val>]\n" +
        "help\t\n\0",
    );
    expectCode(() => control(dom0, "help", "x"), "EINVAL");
  });

  it("quota-soft shows and sets the soft memory quota, and answers EINVAL otherwise", () => {
    const { xs, dom0 } = setup();
    expect(control(dom0, "quota-soft")).toBe(
      "Quota settings:\nmemory           :  2097152 Total Xenstore memory per domain (warning level)\n\0",
    );
    expect(control(dom0, "quota-soft", "set", "memory", "4096")).toBe("OK\0");
    expect(xs.quotas.memoryPerDomainSoft).toBe(4096);
    expect(xs.quotas.memoryPerDomain).toBe(2621440); // the hard one is untouched
    expectCode(() => control(dom0, "quota-soft", "set", "nodes", "5"), "EINVAL");
    expectCode(() => control(dom0, "quota-soft", "set", "memory", "0"), "EINVAL");
    expectCode(() => control(dom0, "quota-soft", "3"), "EINVAL");
  });

  it("quota shows every hard quota and a domain's memory, and set changes outstanding too", () => {
    const { xs, dom0, domU } = setup();
    const shown = control(dom0, "quota");
    expect(shown).toContain("outstanding      :       20 Outstanding requests per domain\n");
    expect(shown).toContain(
      "memory           :  2621440 Total Xenstore memory per domain (error level)\n",
    );
    expect(control(dom0, "quota", "set", "outstanding", "3")).toBe("OK\0");
    expect(xs.quotas.outstandingPerDomain).toBe(3);
    dom0.mkdir("/local/domain/3");
    dom0.setPerms("/local/domain/3", ["n3"]);
    domU(3);
    expect(control(dom0, "quota", "3")).toContain(
      `memory          : ${String(xs.memoryUsage(3)).padStart(8)}\n`,
    );
    expect(xs.memoryUsage(3)).toBe(24 + 8 + "/local/domain/3".length);
  });

  it("live-update answers as with no session, logfile and memreport are accepted", () => {
    const { dom0 } = setup();
    expect(control(dom0, "live-update", "-a")).toBe("No live-update session active.\0");
    expect(control(dom0, "live-update", "-s", "-F", "-t", "10")).toBe(
      "Not in live-update session.\0",
    );
    expectCode(() => control(dom0, "live-update"), "EINVAL");
    expect(control(dom0, "logfile", "/tmp/x")).toBe("OK\0");
    expectCode(() => control(dom0, "logfile"), "EINVAL");
    expect(control(dom0, "memreport")).toBe("OK\0");
    expectCode(() => control(dom0, "memreport", "a", "b"), "EINVAL");
  });
});
