/**
 * A minimal XS_CONTROL (4.17 `xenstored_control.c`): `check`, `log on|off`, `print <s>`,
 * `help`, and `quota` (show, `set <name> <val>`, or `<domid>`). Live update and memory reports are
 * not simulated and answer EINVAL like an unknown command.
 */
import type { XenstoredCore } from "./core.js";
import { fail } from "./errors.js";
import type { XenstoredQuotas } from "./options.js";
import { atoi, getStrings } from "./payload.js";
import { OK, type Handler, type Request } from "./request.js";

const QUOTA_NAMES: readonly [string, keyof XenstoredQuotas | undefined, string][] = [
  ["nodes", "nodesPerDomain", "Nodes per domain"],
  ["watches", "watchesPerDomain", "Watches per domain"],
  ["transactions", "transactionsPerDomain", "Transactions per domain"],
  ["outstanding", undefined, "Outstanding requests per domain"],
  ["transaction-nodes", "transactionNodes", "Max. number of accessed nodes per transaction"],
  ["memory", undefined, "Total Xenstore memory per domain (error level)"],
  ["node-size", "nodeSize", "Max. size of a node"],
  ["path-max", "pathMax", "Max. length of a node path"],
  ["permissions", "permsPerNode", "Max. number of permissions per node"],
];

/** Settings cxenstored has but this simulation does not enforce, kept so `quota` shows them. */
const unenforced = new WeakMap<XenstoredCore, Map<string, number>>();
function unenforcedOf(xs: XenstoredCore): Map<string, number> {
  let m = unenforced.get(xs);
  if (!m) {
    m = new Map([
      ["outstanding", 20],
      ["memory", 2 * 1024 * 1024 + 512 * 1024],
    ]);
    unenforced.set(xs, m);
  }
  return m;
}

type Cmd = (xs: XenstoredCore, req: Request, args: string[]) => void;

const quota: Cmd = (xs, req, args) => {
  if (args.length === 0) {
    let s = "Quota settings:\n";
    for (const [name, key, descr] of QUOTA_NAMES) {
      const v = key ? xs.quotas[key] : unenforcedOf(xs).get(name)!;
      s += `${name.padEnd(17)}: ${String(v).padStart(8)} ${descr}\n`;
    }
    req.reply(`${s}\0`);
    return;
  }
  if (args[0] === "set") {
    if (args.length !== 3) fail("EINVAL");
    const val = atoi(args[2]!);
    if (val < 1) fail("EINVAL");
    const q = QUOTA_NAMES.find(([name]) => name === args[1]);
    if (!q) fail("EINVAL");
    if (q[1]) xs.quotas[q[1]] = val;
    else unenforcedOf(xs).set(q[0], val);
    req.reply(OK);
    return;
  }
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
    line("memory", 0);
  req.reply(`${s}\0`);
};

const CMDS: Record<string, Cmd> = {
  check: (_xs, req, args) => {
    if (args.length) fail("EINVAL");
    req.reply(OK);
  },
  log: (_xs, req, args) => {
    if (args.length !== 1 || (args[0] !== "on" && args[0] !== "off")) fail("EINVAL");
    req.reply(OK);
  },
  print: (_xs, req, args) => {
    if (args.length !== 1) fail("EINVAL");
    req.reply(OK);
  },
  quota,
  help: (_xs, req, args) => {
    if (args.length) fail("EINVAL");
    req.reply(`check\t\nlog\ton|off\nprint\t<string>\nquota\t[set <name> <val>|<domid>]\nhelp\t\n\0`);
  },
};

/** CONTROL `cmd\0[arg\0]...` (privileged; the dispatcher answers EACCES for others). */
export const doControl: Handler = (xs, req) => {
  const v = getStrings(req.msg.payload);
  if (v.length === 0) fail("EINVAL");
  const cmd = Object.hasOwn(CMDS, v[0]!) ? CMDS[v[0]!] : undefined;
  if (!cmd) fail("EINVAL");
  cmd(xs, req, v.slice(1));
};
