// Device ids and paths as libxl and xen-vbd-interface(7) define them.
import { describe, expect, it } from "vitest";
import { devicePaths, HostError, vbdDevid } from "@pvkit/toolstack";

describe("vbdDevid", () => {
  it("encodes the xen-vbd-interface(7) examples", () => {
    const table: [string, number][] = [
      ["xvda", 51712],
      ["xvda1", 51713],
      ["xvdb", 51728],
      ["xvdp", 51952],
      ["xvdq", 268439552],
      ["hda", 768],
      ["hdc", 5632],
      ["sda", 2048],
    ];
    expect(table.map(([n]) => [n, vbdDevid(n)])).toEqual(table);
  });

  it("takes a decimal devid as it is and refuses names it cannot encode", () => {
    expect(vbdDevid("51712")).toBe(51712);
    for (const bad of ["fd0", "xvd", "hde", "sdq", "xvda256", ""])
      expect(() => vbdDevid(bad), bad).toThrow(HostError);
  });
});

describe("devicePaths", () => {
  it("puts console 0 at the domain's console directory and every other device under device/", () => {
    expect(
      devicePaths({ kind: "console", backendKind: "console", devid: 0, domid: 3, backendDomid: 0 }),
    ).toEqual({
      frontend: "/local/domain/3/console",
      backend: "/local/domain/0/backend/console/3/0",
      libxl: "/libxl/3/device/console/0",
    });
    expect(
      devicePaths({ kind: "vbd", backendKind: "qdisk", devid: 51712, domid: 3, backendDomid: 2 }),
    ).toEqual({
      frontend: "/local/domain/3/device/vbd/51712",
      backend: "/local/domain/2/backend/qdisk/3/51712",
      libxl: "/libxl/3/device/vbd/51712",
    });
  });
});
