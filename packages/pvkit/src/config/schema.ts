/**
 * The config file of `pvkit up` / `pvkit create`, as a zod schema: what each field may hold, its
 * default, and the reason given when it is wrong. Paths inside (disk targets, a kernel module)
 * are relative to the config file's directory.
 *
 * ```yaml
 * dom0: { memory: 4 }          # optional
 * domains:
 *   - name: guest1
 *     memory: 16               # MiB, 1..512 (xl's `memory`), default 4
 *     vcpus: 2                 # 1..32, default 1
 *     kernel: shell            # "shell" (default), "idle", or a module exporting a GuestMain
 *     consoles: 1              # extra PV consoles (device/console/1..), default 0
 *     disks:
 *       - 'file:disk.img,xvda,w'                  # xl-disk-configuration(5)
 *       - { vdev: xvdb, memory: 64M }             # a disk in memory
 *       - { vdev: xvdc, target: base.img, access: r }
 *       - { vdev: xvdd, target: base.img, overlay: true }
 * ```
 *
 * A file may also be one domain (the `domains` entry itself, as `xl create` takes one).
 */
import { z } from "zod";
import { vbdDevid } from "@pvkit/toolstack";
import { DiskSpecError, parseDiskSpec, type XlDisk } from "./disk-spec.js";

/** Sizes as xl writes them: bytes, or a number with K, M, G (powers of 1024). */
export function parseSize(v: string | number): number | undefined {
  if (typeof v === "number") return Number.isSafeInteger(v) && v > 0 ? v : undefined;
  const m = /^(\d+)([KMG]?)i?B?$/i.exec(v.trim());
  if (!m) return undefined;
  const mult = { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[
    m[2]!.toUpperCase() as "" | "K" | "M" | "G"
  ];
  const n = Number(m[1]) * mult;
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

const vdev = z.string({ error: 'must be a string such as "xvda"' }).check((ctx) => {
  try {
    vbdDevid(ctx.value);
  } catch (err) {
    ctx.issues.push({
      code: "custom",
      input: ctx.value,
      message: `${(err as Error).message} (xen-vbd-interface(7) names: xvda, xvdb1, hda, sda, or a number)`,
    });
  }
});

const size = z
  .union([z.number(), z.string()], { error: 'must be a size in bytes or like "64M"' })
  .transform((v, ctx) => {
    const n = parseSize(v);
    if (n === undefined || n % 512 !== 0) {
      ctx.issues.push({
        code: "custom",
        input: v,
        message: `${JSON.stringify(v)} is not a size of whole 512-byte sectors (e.g. 65536, "64M", "1G")`,
      });
      return z.NEVER;
    }
    return n;
  });

/** The object form of a disk. */
const diskObject = z
  .strictObject({
    vdev,
    target: z.string().min(1, "must be a non-empty path").optional(),
    memory: size.optional(),
    access: z
      .enum(["r", "ro", "w", "rw"], { error: 'must be "r", "ro", "w" or "rw"' })
      .default("rw"),
    overlay: z.boolean({ error: "must be true or false" }).default(false),
    format: z.literal("raw", { error: 'only "raw" images are served' }).default("raw"),
  })
  .check((ctx) => {
    const d = ctx.value;
    if ((d.target === undefined) === (d.memory === undefined)) {
      ctx.issues.push({
        code: "custom",
        input: d,
        message: "give exactly one of target (an image file) or memory (a size)",
        path: [],
      });
    }
    if (d.overlay && d.memory !== undefined)
      ctx.issues.push({
        code: "custom",
        input: d,
        message: "an overlay needs a target image to lie over",
        path: ["overlay"],
      });
  });

/** A disk, as the CLI serves it. */
export interface DiskConfig {
  readonly vdev: string;
  /** "file": an image (path relative to the config file until resolved); "memory": RAM. */
  readonly kind: "file" | "memory";
  readonly path: string | undefined;
  /** Size of a memory disk, bytes. */
  readonly bytes: number | undefined;
  readonly access: "r" | "w";
  /** Copy-on-write in memory over the image (the image is only read). */
  readonly overlay: boolean;
  /** How the user wrote it, for messages. */
  readonly spec: string;
}

function fromXl(x: XlDisk, spec: string, issue: (m: string) => void): DiskConfig | undefined {
  if (x.cdrom) return void issue("cdrom devices are not served by pvkit");
  if (x.format !== "raw") return void issue(`format ${x.format} is not served (raw images only)`);
  if (x.script !== undefined)
    return void issue(`hotplug scripts (${x.script}) are not run by pvkit`);
  try {
    vbdDevid(x.vdev);
  } catch (err) {
    return void issue(`vdev: ${(err as Error).message}`);
  }
  const target = x.target!;
  if (target.startsWith("memory:")) {
    const bytes = parseSize(target.slice("memory:".length));
    if (bytes === undefined || bytes % 512 !== 0)
      return void issue(`${target} is not memory:<size> with a size of whole 512-byte sectors`);
    if (x.overlay) return void issue("an overlay needs a target image to lie over");
    return {
      vdev: x.vdev,
      kind: "memory",
      path: undefined,
      bytes,
      access: x.access,
      overlay: false,
      spec,
    };
  }
  return {
    vdev: x.vdev,
    kind: "file",
    path: target,
    bytes: undefined,
    access: x.access,
    overlay: x.overlay,
    spec,
  };
}

const diskString = z.string().transform((spec, ctx): DiskConfig => {
  const issue = (message: string): void =>
    void ctx.issues.push({
      code: "custom",
      input: spec,
      message: `xl disk spec ${JSON.stringify(spec)}: ${message}`,
    });
  try {
    return fromXl(parseDiskSpec(spec), spec, issue) ?? z.NEVER;
  } catch (err) {
    if (!(err instanceof DiskSpecError)) throw err;
    issue(err.message);
    return z.NEVER;
  }
});

const disk = z.union(
  [
    diskString,
    diskObject.transform(
      (d): DiskConfig => ({
        vdev: d.vdev,
        kind: d.memory !== undefined ? "memory" : "file",
        path: d.target,
        bytes: d.memory,
        access: d.access === "r" || d.access === "ro" ? "r" : "w",
        overlay: d.overlay,
        spec:
          d.target !== undefined
            ? `${d.target},${d.vdev},${d.access}${d.overlay ? ",overlay" : ""}`
            : `memory:${d.memory},${d.vdev},${d.access}`,
      }),
    ),
  ],
  {
    error:
      "must be an xl disk spec string such as 'file:disk.img,xvda,w' or an object { vdev, target | memory, access, overlay }",
  },
);

const int = (lo: number, hi: number, what: string) =>
  z
    .number({ error: `must be a number of ${what}` })
    .int(`must be a whole number of ${what}`)
    .min(lo, `must be ${lo}..${hi} ${what}`)
    .max(hi, `must be ${lo}..${hi} ${what}`);

export const domainSchema = z
  .strictObject({
    name: z
      .string({ error: "must be a string" })
      .regex(
        /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/,
        "must be 1-64 letters, digits, '_', '.', '-', starting with a letter or digit",
      ),
    memory: int(1, 512, "MiB").default(4),
    vcpus: int(1, 32, "vCPUs").default(1),
    kernel: z
      .string({ error: 'must be "shell", "idle" or a path to a module' })
      .min(1)
      .default("shell"),
    consoles: int(0, 8, "extra consoles").default(0),
    disks: z.array(disk, { error: "must be a list of disks" }).default([]),
  })
  .check((ctx) => {
    const seen = new Map<number, string>();
    ctx.value.disks.forEach((d, i) => {
      const id = vbdDevid(d.vdev);
      const other = seen.get(id);
      if (other !== undefined)
        ctx.issues.push({
          code: "custom",
          input: d,
          path: ["disks", i, "vdev"],
          message: `${d.vdev} is the same device as ${other} (devid ${id})`,
        });
      else seen.set(id, d.vdev);
    });
  });

export const hostSchema = z
  .strictObject({
    dom0: z.strictObject({ memory: int(1, 512, "MiB").default(4) }).default({ memory: 4 }),
    domains: z.array(domainSchema, { error: "must be a list of domains" }).default([]),
  })
  .check((ctx) => {
    const seen = new Set<string>(["Domain-0"]);
    ctx.value.domains.forEach((d, i) => {
      if (seen.has(d.name))
        ctx.issues.push({
          code: "custom",
          input: d.name,
          path: ["domains", i, "name"],
          message: `${JSON.stringify(d.name)} is already the name of another domain`,
        });
      seen.add(d.name);
    });
  });

export type DomainConfig = z.output<typeof domainSchema>;
export type HostConfigBody = z.output<typeof hostSchema>;
