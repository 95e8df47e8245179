// xl disk specs, as xl-disk-configuration(5) writes them and libxlu_disk_l.l parses them.
import { describe, expect, it } from "vitest";
import { DiskSpecError, parseDiskSpec, parseSize } from "pvkit/config";

const rw = { format: "raw", access: "w", cdrom: false, overlay: false } as const;

describe("parseDiskSpec", () => {
  it("reads the deprecated prefix form 'file:disk.img,xvda,w' with the format slot skipped", () => {
    expect(parseDiskSpec("file:disk.img,xvda,w")).toMatchObject({
      ...rw,
      target: "disk.img",
      vdev: "xvda",
    });
    expect(parseDiskSpec("phy:/dev/vg/g,xvdb,r")).toMatchObject({
      target: "/dev/vg/g",
      vdev: "xvdb",
      access: "r",
    });
    expect(parseDiskSpec("tap:aio:img,xvdc,w")).toMatchObject({ target: "img", vdev: "xvdc" });
  });

  it("treats the man page's four equivalent forms alike", () => {
    const want = { target: "/dev/vg/guest-volume", format: "raw", vdev: "hda", access: "w" };
    for (const s of [
      "/dev/vg/guest-volume,,hda",
      "/dev/vg/guest-volume,raw,hda,rw",
      "format=raw, vdev=hda, access=rw, target=/dev/vg/guest-volume",
      "raw:/dev/vg/guest-volume,hda,w",
    ]) {
      expect(parseDiskSpec(s), s).toMatchObject(want);
    }
  });

  it("makes a cdrom read-only by default, from a flag or the deprecated vdev:cdrom", () => {
    expect(parseDiskSpec("/root/image.iso,,hdc,cdrom")).toMatchObject({
      cdrom: true,
      access: "r",
      vdev: "hdc",
    });
    expect(parseDiskSpec("raw:/root/image.iso,hdc:cdrom,ro")).toMatchObject({
      cdrom: true,
      access: "r",
      vdev: "hdc",
    });
  });

  it("lets target= eat the rest, commas included", () => {
    expect(parseDiskSpec("vdev=xvda,target=/a,b c")).toMatchObject({
      target: "/a,b c",
      vdev: "xvda",
    });
  });

  it("accepts the pvkit extensions memory:<size> and overlay", () => {
    expect(parseDiskSpec("memory:64M,,xvdb")).toMatchObject({ target: "memory:64M", vdev: "xvdb" });
    expect(parseDiskSpec("base.img,raw,xvdc,w,overlay")).toMatchObject({
      target: "base.img",
      overlay: true,
    });
  });

  it("refuses what libxlu refuses, in its words", () => {
    const cases: [string, string][] = [
      ["disk.img,xvda,w", "unknown value for format"],
      ["disk.img,raw,xvda,w,extra", "too many positional parameters"],
      ["vdev=xvda,vdev=xvdb,target=x", "vdev respecified"],
      ["colour=red,disk.img,,xvda", "unknown parameter"],
      ["foo:/disk.img,xvda,w", "unknown deprecated disk prefix"],
      // As libxlu: a prefix followed by a letter or digit is part of a positional target.
      ["foo:disk.img,xvda,w", "unknown value for format"],
      ["disk.img,raw,xvda,x", "unknown value for access"],
      ["disk.img", "no vdev specified"],
      ["devtype=floppy,disk.img,,xvda", "unknown value for type"],
    ];
    for (const [spec, why] of cases) {
      expect(() => parseDiskSpec(spec), spec).toThrow(DiskSpecError);
      expect(() => parseDiskSpec(spec), spec).toThrow(why);
    }
  });
});

describe("parseSize", () => {
  it("reads bytes and K/M/G as powers of 1024, and nothing else", () => {
    expect([
      parseSize(512),
      parseSize("4K"),
      parseSize("64M"),
      parseSize("1G"),
      parseSize("2MiB"),
    ]).toEqual([512, 4096, 64 << 20, 1 << 30, 2 << 20]);
    expect([parseSize(0), parseSize("-1"), parseSize("1T"), parseSize(1.5)]).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
  });
});
