/**
 * The built-in guest programs `pvkit up` runs when a domain's `kernel` is "shell" or "idle".
 *
 * "shell" is a tiny line-editing shell on console 0 (the PV console, hvc0): it prints a banner
 * and a prompt, echoes what is typed (the pty is raw, so echo is the guest's job, as a getty's
 * line discipline would do it), handles backspace and Enter, and answers a few commands. It is
 * what `pvkit console <domain>` talks to. Given disks, it brings blkfront up for each of them
 * (`Blkfront.register` on the guest's xenbus bus, then `blk.disk(devid)`), so dom0's blkback
 * and the guest walk every vbd to Connected; `disks` shows what blkfront negotiated, `write` and
 * `read` move bytes at a byte offset (blkfront reads and rewrites partial sectors; a write is
 * flushed before the shell answers).
 */
import { GuestClock, XenbusBus, driverEnv } from "@pvkit/guest-sdk";
import {
  Blkfront,
  type BlkfrontDisk,
  ConsoleFront,
  consoleFrontend,
  extraConsole,
} from "@pvkit/split-drivers";
import type { GuestContext, GuestMain } from "@pvkit/toolstack";
import { formatBytes } from "./disks.js";

const HELP =
  "commands: help, uname, uptime, echo <text>, whoami, disks, write <disk> <offset> <text>, read <disk> <offset> <length>";

/** A disk the shell is given: its xenbus devid and the name the config used. */
export interface ShellDisk {
  readonly devid: number;
  readonly vdev: string;
}

/** The shell's view of its disks: connected ones, and the error of those that failed. */
type DiskTable = Map<number, { vdev: string; disk?: BlkfrontDisk; error?: string }>;

function describeShellDisks(table: DiskTable): string {
  if (table.size === 0) return "no disks";
  const lines: string[] = [];
  for (const [devid, t] of table) {
    const d = t.disk;
    if (d !== undefined)
      lines.push(
        `${t.vdev} vbd/${devid}: ${formatBytes(d.size)} (${d.sectorCount} sectors of ${d.sectorSize} bytes), ${d.readOnly ? "read-only" : "read-write"}, ${d.state}`,
      );
    else lines.push(`${t.vdev} vbd/${devid}: ${t.error ?? "connecting"}`);
  }
  return lines.join("\r\n");
}

/** Resolves when the domain is destroyed. */
function untilAborted(signal: AbortSignal): Promise<void> {
  return new Promise((r) =>
    signal.aborted ? r() : signal.addEventListener("abort", () => r(), { once: true }),
  );
}

/** "idle": a domain that does nothing until it is destroyed. */
export const idleGuest: GuestMain = (ctx) => untilAborted(ctx.signal);

/** The connected disk named `ref` (its vdev, or its devid). @throws Error naming why not. */
function diskNamed(disks: DiskTable, ref: string): BlkfrontDisk {
  for (const [devid, t] of disks) {
    if (t.vdev === ref || String(devid) === ref) {
      if (t.disk === undefined) throw new Error(`${ref}: ${t.error ?? "not connected yet"}`);
      return t.disk;
    }
  }
  throw new Error(`${ref}: no such disk (disks lists them)`);
}

function byteOffset(v: string | undefined, what: string): number {
  if (v === undefined || !/^\d+$/.test(v) || !Number.isSafeInteger(Number(v)))
    throw new Error(`${what} must be a byte count, got ${JSON.stringify(v ?? "")}`);
  return Number(v);
}

/** `write <disk> <offset> <text>` and `read <disk> <offset> <length>`. */
async function diskCommand(
  disks: DiskTable,
  cmd: "write" | "read",
  args: readonly string[],
): Promise<string> {
  try {
    const disk = diskNamed(disks, args[0] ?? "");
    const at = byteOffset(args[1], "offset");
    if (cmd === "write") {
      const data = new TextEncoder().encode(args.slice(2).join(" "));
      if (data.length === 0) throw new Error("nothing to write (write <disk> <offset> <text>)");
      const { bytesWritten } = await disk.write(data, 0, data.length, at);
      await disk.flush();
      return `wrote ${bytesWritten} bytes at ${at} of ${args[0]}, flushed`;
    }
    const len = byteOffset(args[2], "length");
    if (len > 4096) throw new Error("length at most 4096");
    const buf = new Uint8Array(len);
    const { bytesRead } = await disk.read(buf, 0, len, at);
    return Array.from(buf.subarray(0, bytesRead), (b) =>
      b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".",
    ).join("");
  } catch (err) {
    return `${cmd}: ${(err as Error).message}`;
  }
}

async function answer(ctx: GuestContext, disks: DiskTable, line: string): Promise<string> {
  const [cmd = "", ...rest] = line.trim().split(/\s+/);
  switch (cmd) {
    case "":
      return "";
    case "help":
      return HELP;
    case "uname":
      return `pvkit PV guest ${ctx.name} (d${ctx.domid}) on a simulated Xen 4.17, x86_64`;
    case "whoami":
      return `d${ctx.domid} ${ctx.name}`;
    case "uptime":
      return `up ${(GuestClock.of(ctx.guest, ctx.events).now() / 1e9).toFixed(6)} s of virtual time (pvclock)`;
    case "echo":
      return rest.join(" ");
    case "disks":
      return describeShellDisks(disks);
    case "write":
    case "read":
      return diskCommand(disks, cmd, rest);
    default:
      return `${cmd}: command not found (${HELP})`;
  }
}

/** The shell loop on one console, until the domain is destroyed. */
async function runShell(
  ctx: GuestContext,
  con: ConsoleFront,
  where: string,
  disks: DiskTable,
): Promise<void> {
  const prompt = `${ctx.name}# `;
  await con.write(
    `\r\npvkit guest ${ctx.name} (d${ctx.domid}) on ${where}. Type 'help'.\r\n${prompt}`,
  );
  let line = "";
  let work = Promise.resolve();
  const sub = con.input$.subscribe((bytes) => {
    let out = "";
    const lines: string[] = [];
    for (const b of bytes) {
      if (b === 0x0d || b === 0x0a) {
        out += "\r\n";
        lines.push(line);
        line = "";
      } else if (b === 0x7f || b === 0x08) {
        if (line.length > 0) {
          line = line.slice(0, -1);
          out += "\b \b";
        }
      } else if (b >= 0x20 && b < 0x7f) {
        line += String.fromCharCode(b);
        out += String.fromCharCode(b);
      }
    }
    // Echo at once, answers in order after it.
    work = work
      .then(async () => {
        if (out !== "") await con.write(out);
        for (const l of lines) {
          const a = await answer(ctx, disks, l);
          await con.write(`${a === "" ? "" : `${a}\r\n`}${prompt}`);
        }
      })
      .catch(() => {});
  });
  try {
    await untilAborted(ctx.signal);
  } finally {
    sub.unsubscribe();
  }
}

/**
 * "shell": see the module comment. With `extraConsoles` > 0 it also serves `device/console/1..n`
 * through the console frontend driver, each with its own shell; with `disks` it runs blkfront
 * for each of them.
 */
export function shellGuest(extraConsoles = 0, disks: readonly ShellDisk[] = []): GuestMain {
  return async (ctx) => {
    using con = ConsoleFront.open(ctx);
    const table: DiskTable = new Map(disks.map((d) => [d.devid, { vdev: d.vdev }]));
    const loops = [runShell(ctx, con, "hvc0", table)];
    if (extraConsoles > 0 || disks.length > 0) {
      const bus = new XenbusBus(
        driverEnv({ guest: ctx.guest, events: ctx.events, xs: ctx.xenbus }),
      );
      if (extraConsoles > 0) {
        const reg = bus.registerFrontend(consoleFrontend());
        for (let n = 1; n <= extraConsoles; n++) {
          loops.push(
            reg.connected(n).then(
              (dev) => runShell(ctx, extraConsole(dev), `hvc${n}`, table),
              () => {},
            ),
          );
        }
      }
      if (disks.length > 0) {
        const blk = Blkfront.register(bus);
        for (const d of disks) {
          blk.disk(d.devid).then(
            (disk) => void (table.get(d.devid)!.disk = disk),
            (err: unknown) =>
              void (table.get(d.devid)!.error = `failed: ${(err as Error).message}`),
          );
        }
      }
    }
    await Promise.all(loops);
  };
}
