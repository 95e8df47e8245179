/**
 * The built-in guest programs `pvkit up` runs when a domain's `kernel` is "shell" or "idle".
 *
 * "shell" is a tiny line-editing shell on console 0 (the PV console, hvc0): it prints a banner
 * and a prompt, echoes what is typed (the pty is raw, so echo is the guest's job, as a getty's
 * line discipline would do it), handles backspace and Enter, and answers a few commands. It is
 * what `pvkit console <domain>` talks to.
 */
import { GuestClock, XenbusBus, driverEnv } from "@pvkit/guest-sdk";
import { ConsoleFront, consoleFrontend, extraConsole } from "@pvkit/split-drivers";
import type { GuestContext, GuestMain } from "@pvkit/toolstack";

const HELP = "commands: help, uname, uptime, echo <text>, disks, whoami";

/** Resolves when the domain is destroyed. */
function untilAborted(signal: AbortSignal): Promise<void> {
  return new Promise((r) => (signal.aborted ? r() : signal.addEventListener("abort", () => r(), { once: true })));
}

/** "idle": a domain that does nothing until it is destroyed. */
export const idleGuest: GuestMain = (ctx) => untilAborted(ctx.signal);

async function answer(ctx: GuestContext, line: string): Promise<string> {
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
    case "disks": {
      const ids = await ctx.xenbus.directory("device/vbd").catch(() => [] as string[]);
      return ids.length === 0 ? "no disks" : ids.map((id) => `vbd ${id}`).join("\r\n");
    }
    default:
      return `${cmd}: command not found (${HELP})`;
  }
}

/** The shell loop on one console, until the domain is destroyed. */
async function runShell(ctx: GuestContext, con: ConsoleFront, where: string): Promise<void> {
  const prompt = `${ctx.name}# `;
  await con.write(`\r\npvkit guest ${ctx.name} (d${ctx.domid}) on ${where}. Type 'help'.\r\n${prompt}`);
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
          const a = await answer(ctx, l);
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
 * through the console frontend driver, each with its own shell.
 */
export function shellGuest(extraConsoles = 0): GuestMain {
  return async (ctx) => {
    using con = ConsoleFront.open(ctx);
    const loops = [runShell(ctx, con, "hvc0")];
    if (extraConsoles > 0) {
      const bus = new XenbusBus(driverEnv({ guest: ctx.guest, events: ctx.events, xs: ctx.xenbus }));
      const reg = bus.registerFrontend(consoleFrontend());
      for (let n = 1; n <= extraConsoles; n++) {
        loops.push(reg.connected(n).then((dev) => runShell(ctx, extraConsole(dev), `hvc${n}`), () => {}));
      }
    }
    await Promise.all(loops);
  };
}
