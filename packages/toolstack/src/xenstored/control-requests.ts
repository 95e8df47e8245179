/**
 * XS_CONTROL (4.17 `xenstored_control.c`, `do_control` and `cmds[]`): `check`, `log on|off`,
 * `live-update` (answers as with no session), `logfile <file>` and `memreport [<file>]` (accepted;
 * there is no trace file or talloc report to write), `print <s>`, `quota` (show,
 * `set <name> <val>`, or `<domid>`), `quota-soft` (show or `set <name> <val>`) and `help`, which
 * lists them in that order as 4.17 does. Unknown commands answer EINVAL.
 */
import type { XenstoredCore } from "./core.js";
import { fail } from "./errors.js";
import type { XenstoredQuotas } from "./options.js";
import { atoi, getStrings } from "./payload.js";
import { OK, type Handler, type Request } from "./request.js";

/** `hard_quotas[]`: CONTROL name, our quota key, description (as `quota` prints them). */
const HARD_QUOTAS: readonly (readonly [string, keyof XenstoredQuotas, string])[] = [
  ["nodes", "nodesPerDomain", "Nodes per domain"],
  ["watches", "watchesPerDomain", "Watches per domain"],
  ["transactions", "transactionsPerDomain", "Transactions per domain"],
  ["outstanding", "outstandingPerDomain", "Outstanding requests per domain"],
  ["transaction-nodes", "transactionNodes", "Max. number of accessed nodes per transaction"],
  ["memory", "memoryPerDomain", "Total Xenstore memory per domain (error level)"],
  ["node-size", "nodeSize", "Max. size of a node"],
  ["path-max", "pathMax", "Max. length of a node path"],
  ["permissions", "permsPerNode", "Max. number of permissions per node"],
];

/** `soft_quotas[]`. */
const SOFT_QUOTAS: readonly (readonly [string, keyof XenstoredQuotas, string])[] = [
  ["memory", "memoryPerDomainSoft", "Total Xenstore memory per domain (warning level)"],
];

type Cmd = (xs: XenstoredCore, req: Request, args: string[]) => void;

/** `quota_show_current`. */
function quotaShow(xs: XenstoredCore, req: Request, table: typeof HARD_QUOTAS): void {
  let s = "Quota settings:\n";
  for (const [name, key, descr] of table)
    s += `${name.padEnd(17)}: ${String(xs.quotas[key]).padStart(8)} ${descr}\n`;
  req.reply(`${s}\0`);
}

/** `quota_set`: `<name> <val>` with val >= 1 (EINVAL otherwise, or for an unknown name). */
function quotaSet(
  xs: XenstoredCore,
  req: Request,
  args: string[],
  table: typeof HARD_QUOTAS,
): void {
  if (args.length !== 2) fail("EINVAL");
  const val = atoi(args[1]!);
  if (val < 1) fail("EINVAL");
  const q = table.find(([name]) => name === args[0]);
  if (!q) fail("EINVAL");
  xs.quotas[q[1]] = val;
  req.reply(OK);
}

/** `do_control_quota`: show, `set <name> <val>`, or `<domid>` (`domain_get_quota`). */
const quota: Cmd = (xs, req, args) => {
  if (args.length === 0) return quotaShow(xs, req, HARD_QUOTAS);
  if (args[0] === "set") return quotaSet(xs, req, args.slice(1), HARD_QUOTAS);
  if (args.length !== 1) fail("EINVAL");
  const domid = atoi(args[0]!) >>> 0;
  const d = xs.domains.find(domid);
  if (!d) fail("ENOENT");
  const line = (k: string, v: number) => `${k.padEnd(16)}: ${String(v).padStart(8)}\n`;
  const s =
    `Domain ${domid}:\n` +
    line("nodes", d.nbentry) +
    line("watches", d.nbwatch) +
    line("transactions", d.connection?.transactions.size ?? 0) +
    line("outstanding", d.connection?.outstanding ?? 0) +
    line("memory", d.memory);
  req.reply(`${s}\0`);
};

/** `do_control_quota_s`: show or `set <name> <val>` the soft quotas; anything else EINVAL. */
const quotaSoft: Cmd = (xs, req, args) => {
  if (args.length === 0) return quotaShow(xs, req, SOFT_QUOTAS);
  if (args[0] === "set") return quotaSet(xs, req, args.slice(1), SOFT_QUOTAS);
  fail("EINVAL");
};

/**
 * `do_control_lu` as it answers with no live-update session (one can never start here: there
 * is no binary to exec). `-f <file>` is refused with a message instead of starting one.
 */
const liveUpdate: Cmd = (_xs, req, args) => {
  if (args.length < 1) fail("EINVAL");
  const [op, ...rest] = args;
  let msg: string;
  if (op === "-a") {
    if (rest.length) fail("EINVAL");
    msg = "No live-update session active.";
  } else if (op === "-c") {
    if (rest.length !== 1) fail("EINVAL");
    msg = "Not in live-update session.";
  } else if (op === "-s") {
    for (let i = 0; i < rest.length; i++) {
      if (rest[i] === "-F") continue;
      if (rest[i] === "-t" && i < rest.length - 1) {
        i++;
        continue;
      }
      fail("EINVAL");
    }
    msg = "Not in live-update session.";
  } else if (op === "-f" && rest.length === 1) {
    msg = "Live update is not supported by pvkit's xenstored.";
  } else {
    fail("EINVAL");
  }
  req.reply(`${msg}\0`);
};

const noArgs = (req: Request, args: string[]) => {
  if (args.length) fail("EINVAL");
  req.reply(OK);
};

/** `cmds[]` of 4.17 (daemon build, live update compiled in), in its order, with `pars`. */
const CMDS: readonly { name: string; run: Cmd; pars: string; maxPars?: number }[] = [
  { name: "check", run: (_xs, req, args) => noArgs(req, args), pars: "" },
  {
    name: "log",
    run: (_xs, req, args) => {
      if (args.length !== 1 || (args[0] !== "on" && args[0] !== "off")) fail("EINVAL");
      req.reply(OK);
    },
    pars: "on|off",
  },
  {
    name: "live-update",
    run: liveUpdate,
    pars: "[-c <cmdline>] [-F] [-t <timeout>] <file>\n    Default timeout is 60 seconds.",
    maxPars: 5,
  },
  {
    // No trace file is kept: the name is accepted and nothing is written.
    name: "logfile",
    run: (_xs, req, args) => {
      if (args.length !== 1) fail("EINVAL");
      req.reply(OK);
    },
    pars: "<file>",
  },
  {
    // No talloc report exists: accepted, nothing written.
    name: "memreport",
    run: (_xs, req, args) => {
      if (args.length > 1) fail("EINVAL");
      req.reply(OK);
    },
    pars: "[<file>]",
  },
  {
    name: "print",
    run: (_xs, req, args) => {
      if (args.length !== 1) fail("EINVAL");
      req.reply(OK);
    },
    pars: "<string>",
  },
  { name: "quota", run: quota, pars: "[set <name> <val>|<domid>]" },
  { name: "quota-soft", run: quotaSoft, pars: "[set <name> <val>]" },
  {
    name: "help",
    run: (_xs, req, args) => {
      if (args.length) fail("EINVAL");
      req.reply(`${CMDS.map((c) => `${c.name}\t${c.pars}\n`).join("")}\0`);
    },
    pars: "",
  },
];

/** CONTROL `cmd\0[arg\0]...` (privileged; the dispatcher answers EACCES for others). */
export const doControl: Handler = (xs, req) => {
  let v = getStrings(req.msg.payload);
  if (v.length === 0) fail("EINVAL");
  const cmd = CMDS.find((c) => c.name === v[0]);
  if (!cmd) fail("EINVAL");
  if (cmd.maxPars !== undefined) v = v.slice(0, cmd.maxPars);
  cmd.run(xs, req, v.slice(1));
};
