// Watch matching by the path index against cxenstored's own rule, checked on random trees and
// operations: every connection gets, for every event, one WATCH_EVENT per watch of its own (in
// registration order) whose path is the event's path or an ancestor of it (exact events: the
// path itself), with the `is_child` rule, relative paths and the dedup of queued events.
import { describe, expect, it } from "vitest";
import { XenstoreError, XsLocalClient } from "@pvkit/toolstack";
import { setup } from "./helpers.js";
import { XS } from "@pvkit/hypervisor-sim/abi";

/** mulberry32: a small deterministic PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `is_child`, written out again as the reference. */
function isChildOrSelf(child: string, parent: string): boolean {
  if (parent === "/") return true;
  return child === parent || child.startsWith(`${parent}/`);
}

interface Ev {
  readonly name: string;
  readonly exact: boolean;
}

/** The events cxenstored fires for one operation, from the tree as it was before. */
function firedBy(obs: XsLocalClient, op: string, path: string): Ev[] {
  const exists = (p: string): boolean => {
    try {
      obs.read(p);
      return true;
    } catch (e) {
      if (e instanceof XenstoreError && e.code === "ENOENT") return false;
      throw e;
    }
  };
  if (op === "write") return [{ name: path, exact: false }];
  if (op === "mkdir") return exists(path) ? [] : [{ name: path, exact: false }];
  // rm: children first, depth first in creation order, each on exactly its path; the root last.
  if (!exists(path)) return [];
  const out: Ev[] = [];
  const walk = (p: string): void => {
    for (const c of obs.directory(p)) walk(`${p}/${c}`);
    out.push({ name: p, exact: p !== path });
  };
  walk(path);
  return out;
}

/** What one client should receive for `events`, as `path token` strings. */
function expected(client: XsLocalClient, events: readonly Ev[]): string[] {
  const out: string[] = [];
  for (const e of events) {
    for (const w of client.conn.watches) {
      if (!(e.exact ? e.name === w.path : isChildOrSelf(e.name, w.path))) continue;
      let p = e.name;
      if (w.relative !== undefined) {
        p = p.slice(w.relative.length);
        if (p.startsWith("/")) p = p.slice(1);
      }
      const s = `${p} ${w.token}`;
      // An event identical to one still queued is dropped.
      if (!out.includes(s)) out.push(s);
    }
  }
  return out;
}

function randomPath(rnd: () => number, root: string): string {
  const depth = 1 + Math.floor(rnd() * 4);
  let p = root;
  for (let i = 0; i < depth; i++) p += `/${"abc"[Math.floor(rnd() * 3)]}`;
  return p;
}

function runScenario(seed: number, steps: number): number {
  const rnd = prng(seed);
  const { xs, dom0, domU } = setup();
  dom0.mkdir("/local/domain/3");
  dom0.setPerms("/local/domain/3", ["n3"]);
  dom0.mkdir("/t");
  const u = domU(3);
  const a = new XsLocalClient(xs.connect());
  const b = new XsLocalClient(xs.connect());
  const obs = new XsLocalClient(xs.connect());
  const clients = [dom0, a, b, u];
  const roots = (c: XsLocalClient): string[] =>
    c === u ? ["/local/domain/3"] : ["/t", "/local/domain/0/r", "/local/domain/3"];
  let delivered = 0;
  for (let step = 0; step < steps; step++) {
    const c = clients[Math.floor(rnd() * clients.length)]!;
    const rs = roots(c);
    const root = rs[Math.floor(rnd() * rs.length)]!;
    const r = rnd();
    if (r < 0.3) {
      // A new watch: absolute or relative, a few well-known paths, shared or own tokens.
      const pick = rnd();
      let path = pick < 0.15 && c !== u ? "/" : pick < 0.3 ? root : randomPath(rnd, root);
      if (pick > 0.9 && c !== u) path = "@releaseDomain";
      const home = c === u ? "/local/domain/3" : "/local/domain/0";
      const rel = path.startsWith(`${home}/`) && rnd() < 0.5;
      const token = `k${Math.floor(rnd() * 3)}`;
      try {
        c.watch(rel ? path.slice(home.length + 1) : path, token);
      } catch (e) {
        if (!(e instanceof XenstoreError && e.code === "EEXIST")) throw e;
      }
      for (const x of clients) x.pollEvents();
      continue;
    }
    if (r < 0.36 && c.conn.watches.length > 0) {
      const w = c.conn.watches[Math.floor(rnd() * c.conn.watches.length)]!;
      c.unwatch(w.path, w.token);
      continue;
    }
    if (r < 0.37) {
      c.request(XS.XS_RESET_WATCHES, "");
      continue;
    }
    const op = r < 0.75 ? "write" : r < 0.85 ? "mkdir" : "rm";
    const path = rnd() < 0.05 ? root : randomPath(rnd, root);
    if (op === "rm" && path === "/local/domain/3") continue;
    const events = firedBy(obs, op, path);
    let want = clients.map((x) => expected(x, events));
    try {
      if (op === "write") c.write(path, String(step));
      else if (op === "mkdir") c.mkdir(path);
      else c.rm(path);
    } catch (e) {
      // RM below a missing parent (ENOENT): a failed request fires nothing.
      if (!(e instanceof XenstoreError && e.code === "ENOENT" && op === "rm")) throw e;
      want = clients.map(() => []);
    }
    const got = clients.map((x) => x.pollEvents().map((e) => `${e.path} ${e.token}`));
    expect(got, `seed ${seed} step ${step}: ${op} ${path}`).toEqual(want);
    delivered += got.reduce((n, g) => n + g.length, 0);
  }
  return delivered;
}

describe("watch matching on random trees", () => {
  it("delivers exactly the events of the linear is_child scan, in watch order, for 40 random runs", () => {
    let delivered = 0;
    for (let seed = 1; seed <= 40; seed++) delivered += runScenario(seed, 250);
    // The runs are deterministic: this many events were compared (a change here means the
    // scenario changed, not that matching did).
    expect(delivered).toBe(19694);
  });
});
