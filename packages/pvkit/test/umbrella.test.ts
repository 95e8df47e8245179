// The umbrella: every value each package exports is exported by "pvkit" as the same binding
// (no two packages export one name), and the subpaths are the packages' own.
import { describe, expect, it } from "vitest";
import * as hv from "@pvkit/hypervisor-sim";
import * as sdk from "@pvkit/guest-sdk";
import * as sdkHypercall from "@pvkit/guest-sdk/hypercall";
import * as sdkWire from "@pvkit/guest-sdk/wire";
import * as toolstack from "@pvkit/toolstack";
import * as drivers from "@pvkit/split-drivers";
import * as toolstackTesting from "@pvkit/toolstack/testing";
import * as hvAbi from "@pvkit/hypervisor-sim/abi";
import * as pvkit from "pvkit";
import * as pvkitTesting from "pvkit/testing";
import * as pvkitAbi from "pvkit/abi";

const RENAMED: Record<string, Record<string, string>> = {};

describe("pvkit", () => {
  const packages: [string, Record<string, unknown>][] = [
    ["@pvkit/hypervisor-sim", hv],
    ["@pvkit/guest-sdk", sdk],
    ["@pvkit/guest-sdk/hypercall", sdkHypercall],
    ["@pvkit/guest-sdk/wire", sdkWire],
    ["@pvkit/toolstack", toolstack],
    ["@pvkit/split-drivers", drivers],
  ];
  for (const [name, mod] of packages) {
    it(`re-exports every value of ${name} (run \`pnpm --filter pvkit gen-umbrella\` when this fails)`, () => {
      const missing: string[] = [];
      for (const [k, v] of Object.entries(mod)) {
        const as = RENAMED[name]?.[k] ?? k;
        if ((pvkit as Record<string, unknown>)[as] !== v) missing.push(k);
      }
      expect(missing).toEqual([]);
    });
  }

  it("means guest-sdk's highestHoles by highestHoles and toolstack's by guestHighestHoles", () => {
    expect(pvkit.highestHoles).toBe(sdkWire.highestHoles);
    expect(pvkit.guestHighestHoles).toBe(toolstack.guestHighestHoles);
  });

  it("has pvkit/testing as @pvkit/toolstack/testing and pvkit/abi as @pvkit/hypervisor-sim/abi", () => {
    expect(Object.keys(pvkitTesting).sort()).toEqual(Object.keys(toolstackTesting).sort());
    for (const [k, v] of Object.entries(toolstackTesting))
      expect((pvkitTesting as Record<string, unknown>)[k], k).toBe(v);
    expect(Object.keys(pvkitAbi).sort()).toEqual(Object.keys(hvAbi).sort());
    expect(pvkit.abi.EVTCHNOP).toBe(pvkitAbi.EVTCHNOP);
  });
});
