/**
 * The `pvkit` command line (commander): every command, its options and help. `main.ts` runs it.
 * Each command's module is imported when the command runs: `pvkit list`, `destroy` and `console`
 * talk to the control socket and never load the simulated host (which costs seconds to load
 * from source under tsx on a busy machine).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Command, InvalidArgumentError, Option } from "commander";
import { defaultRunDir } from "../control/run-dir.js";
import { pvkitCommand, stdout, userDir, userPath } from "./output.js";
import type { TraceRenderOptions } from "./trace-render.js";

const clientCommands = () => import("./client-commands.js");

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

function positiveInt(what: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < 1)
      throw new InvalidArgumentError(`${what} must be a positive integer`);
    return n;
  };
}

function timestamp(what: string) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === "" || !Number.isFinite(n) || n < 0)
      throw new InvalidArgumentError(`${what} must be a non-negative number of µs`);
    return n;
  };
}

/**
 * The demo's default trace file: in the directory the user ran the command from (`INIT_CWD`,
 * which pnpm and npm set, so `pnpm start` at the repo root writes it there, not in the package).
 * Every path argument is resolved against that directory too (`userPath`).
 */
function defaultDemoTrace(): string {
  return join(userDir(), "pvkit-demo-trace.json");
}

const runDirOption = (): Option =>
  new Option("-r, --run-dir <dir>", "the host's run directory: its xenstored and control sockets")
    .default(defaultRunDir(), "$PVKIT_RUN_DIR, $XDG_RUNTIME_DIR/pvkit or <tmp>/pvkit-<user>")
    .argParser(userPath);

export function program(): Command {
  const out = stdout();
  const p = new Command("pvkit")
    .description(
      "pvkit: a simulated Xen 4.17 host for writing and testing PV split drivers in TypeScript",
    )
    .version(version(), "-V, --version")
    .showHelpAfterError(`(${pvkitCommand()} --help lists the commands)`)
    .configureHelp({ sortSubcommands: false });

  p.command("demo")
    .description(
      "boot dom0 and a guest with a disk image and consoles; the guest writes a pattern across the disk and verifies it; live summary; trace",
    )
    .option("-t, --trace <file>", "where to write the trace", userPath, defaultDemoTrace())
    .option("--disk <MiB>", "size of the guest's disk image", positiveInt("--disk"), 4)
    .option("--keep-image", "keep the disk image (in a temporary directory) instead of removing it")
    .action(async (o: { trace: string; disk: number; keepImage?: boolean }) =>
      (await import("../demo/demo.js")).demo(
        { trace: o.trace, diskMib: o.disk, keepImage: o.keepImage === true },
        out,
      ),
    );

  p.command("up")
    .description("start a host from a config file (YAML or JSON) and keep it up until Ctrl-C")
    .argument(
      "<config>",
      "config file: domains with memory, vcpus, kernel, consoles, disks",
      userPath,
    )
    .addOption(runDirOption())
    .option("-t, --trace <file>", "record a trace, written when the host stops", userPath)
    .option("--no-pty", "no pseudo-terminals for the consoles (console logs only)")
    .addHelpText(
      "after",
      `
Config (YAML or JSON; paths relative to the file):
  domains:
    - name: guest1
      memory: 16            # MiB (1..512), default 4
      vcpus: 2              # 1..32, default 1
      kernel: shell         # "shell" (default), "idle", or a module exporting a GuestMain
      consoles: 1           # extra PV consoles, default 0
      disks:
        - 'file:disk.img,xvda,w'                 # xl-disk-configuration(5) syntax
        - { vdev: xvdb, memory: 64M }
        - { vdev: xvdc, target: base.img, access: r }
        - { vdev: xvdd, target: base.img, overlay: true }
`,
    )
    .action(async (config: string, o: { runDir: string; trace?: string; pty: boolean }) =>
      (await import("./up.js")).up(config, o, out),
    );

  p.command("create")
    .description("create the domains of a config file in the running host (like xl create)")
    .argument("<config>", "config file: one domain, or `domains:`", userPath)
    .addOption(runDirOption())
    .action(async (config: string, o: { runDir: string }) =>
      (await clientCommands()).create(config, o, out),
    );

  p.command("list")
    .description("list the running host's domains, their consoles and devices (like xl list)")
    .addOption(runDirOption())
    .option("--json", "as JSON")
    .action(async (o: { runDir: string; json?: boolean }) =>
      (await clientCommands()).list({ runDir: o.runDir, json: o.json === true }, out),
    );

  p.command("console")
    .description("attach this terminal to a domain's console; Ctrl-] detaches (like xl console)")
    .argument("<domain>", "domain name or id")
    .addOption(runDirOption())
    .option(
      "-n, --num <n>",
      "console number (0 is hvc0)",
      (v) => {
        if (!/^\d+$/.test(v)) throw new InvalidArgumentError("--num must be a console number");
        return Number(v);
      },
      0,
    )
    .action(async (domain: string, o: { runDir: string; num: number }) =>
      (await import("./console.js")).consoleCommand(domain, o),
    );

  p.command("destroy")
    .description("destroy a domain of the running host (like xl destroy)")
    .argument("<domain>", "domain name or id")
    .addOption(runDirOption())
    .action(async (domain: string, o: { runDir: string }) =>
      (await clientCommands()).destroy(domain, o, out),
    );

  const trace = p
    .command("trace")
    .description("summarise a trace file written by --trace (`trace render` draws one as SVG)")
    .argument("<file>", "a trace file (Chrome Trace Event JSON)", userPath)
    .option("--top <n>", "rows per ranking", positiveInt("--top"), 10)
    .addHelpText(
      "after",
      "\nOpen the file itself in https://ui.perfetto.dev (or chrome://tracing) to see the timeline.",
    )
    .action(async (file: string, o: { top: number }) =>
      (await clientCommands()).trace(file, o, out),
    );
  trace
    .command("render")
    .description("draw a trace file as an SVG picture: tracks, slices, flow arrows, counters")
    .argument("<file>", "a trace file (Chrome Trace Event JSON)", userPath)
    .option(
      "-o, --out <file>",
      "where to write the SVG (default: <file> with .svg for .json)",
      userPath,
    )
    .option(
      "--from <ts>",
      "window start, in the trace's ts (µs; on pvkit's default timeline, a record's position)",
      timestamp("--from"),
    )
    .option("--to <ts>", "window end, in the trace's ts (µs)", timestamp("--to"))
    .option("--width <px>", "picture width (at least 400)", positiveInt("--width"), 1200)
    .option("--title <text>", "a title line above the timeline")
    .action(async (file: string, o: TraceRenderOptions) =>
      (await import("./trace-render.js")).traceRender(file, o, out),
    );

  return p;
}
