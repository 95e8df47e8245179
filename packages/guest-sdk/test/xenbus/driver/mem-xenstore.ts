// An in-memory xenstore behind the XenbusTransport interface, for the bus's tests in this
// package (the real xenstored lives in @pvkit/toolstack, which depends on this package). It keeps
// the rules of xenstored that the bus relies on (4.17 xenstored_core.c / xenstored_watch.c, as
// packages/toolstack/src/xenstored does them): WRITE creates missing parents and fires one event,
// for the node written; MKDIR fires only when it creates; RM fires for the removed node on the
// watches on it and its ancestors, and for each node below it on the watches exactly on that node;
// WATCH fires an initial event with the watched path; events inside a transaction fire at its
// end; relative paths are under the domain's home and relative watches get relative event paths.
// Events reach subscribers from a microtask, one at a time, as a ring client delivers them.
// Every request is logged ("READ backend/tdev/1/0/state", "TRANSACTION_START", "UNWATCH ..."), so
// tests count exactly what the bus asked.
import { Observable } from "rxjs";
import { XS } from "@pvkit/hypervisor-sim/abi";
import {
  XenbusError,
  type XenbusOps,
  type XenbusTransport,
  type XsWatchEvent,
} from "@pvkit/guest-sdk";

/** xenstored's ENOENT reply, as a ring client turns it into an error. */
function enoent(type: number, path: string): Promise<never> {
  return Promise.reject(
    new XenbusError({ reason: "error-reply", type, path, serverName: "ENOENT" }),
  );
}

interface Watcher {
  readonly abs: string;
  readonly relative: boolean;
  readonly token: string;
  readonly emit: (e: XsWatchEvent) => void;
}

export class MemXenstore implements XenbusTransport {
  /** Absolute path -> value; every node's parents are in it too (except "/"). */
  readonly nodes = new Map<string, string>();
  /** Every request, in order. */
  readonly log: string[] = [];
  readonly home: string;
  readonly #watchers = new Set<Watcher>();
  #nextToken = 0;

  constructor(domid: number) {
    this.home = `/local/domain/${domid}`;
  }

  /** The path as xenstored canonicalises it. */
  abs(path: string): string {
    return path.startsWith("/") ? path : `${this.home}/${path}`;
  }

  /** Direct access for the test's "toolstack" (no log entry), firing events like a request. */
  put(path: string, value: string): void {
    this.#write(this.abs(path), value, undefined);
  }

  /** Direct removal for the test's "toolstack" (no log entry). */
  remove(path: string): void {
    this.#rm(this.abs(path), undefined);
  }

  /** Writes several nodes as one transaction would (events after the last write). */
  putAll(entries: Record<string, string>): void {
    const sink: [string, boolean][] = [];
    for (const [p, v] of Object.entries(entries)) this.#write(this.abs(p), v, sink);
    for (const [a, exact] of sink) this.#fire(a, exact, undefined);
  }

  read(path: string): Promise<string> {
    return this.#ops(undefined).read(path);
  }

  write(path: string, value: string): Promise<void> {
    return this.#ops(undefined).write(path, value);
  }

  mkdir(path: string): Promise<void> {
    return this.#ops(undefined).mkdir(path);
  }

  rm(path: string): Promise<void> {
    return this.#ops(undefined).rm(path);
  }

  directory(path: string): Promise<string[]> {
    return this.#ops(undefined).directory(path);
  }

  exists(path: string): Promise<boolean> {
    return this.#ops(undefined).exists(path);
  }

  /** The node operations; inside a transaction (`sink`) their events wait for its end. */
  #ops(sink: [string, boolean][] | undefined): XenbusOps {
    const log = (s: string): void => {
      this.log.push(sink === undefined ? s : `tx ${s}`);
    };
    return {
      read: (path) => {
        log(`READ ${path}`);
        const v = this.nodes.get(this.abs(path));
        return v === undefined ? enoent(XS.XS_READ, path) : Promise.resolve(v);
      },
      write: (path, value) => {
        log(`WRITE ${path}`);
        this.#write(this.abs(path), value, sink);
        return Promise.resolve();
      },
      mkdir: (path) => {
        log(`MKDIR ${path}`);
        const a = this.abs(path);
        if (!this.nodes.has(a)) this.#write(a, "", sink);
        return Promise.resolve();
      },
      rm: (path) => {
        log(`RM ${path}`);
        const a = this.abs(path);
        if (!this.nodes.has(a)) return enoent(XS.XS_RM, path);
        this.#rm(a, sink);
        return Promise.resolve();
      },
      directory: (path) => {
        log(`DIRECTORY ${path}`);
        const a = this.abs(path);
        if (!this.nodes.has(a)) return enoent(XS.XS_DIRECTORY, path);
        return Promise.resolve(this.#children(a));
      },
      exists: (path) => {
        log(`EXISTS ${path}`);
        return Promise.resolve(this.nodes.has(this.abs(path)));
      },
    };
  }

  watch(path: string): Observable<XsWatchEvent> {
    return new Observable<XsWatchEvent>((sub) => {
      const token = String(this.#nextToken++);
      this.log.push(`WATCH ${path}`);
      const w: Watcher = {
        abs: this.abs(path),
        relative: !path.startsWith("/"),
        token,
        emit: (e) => sub.next(e),
      };
      this.#watchers.add(w);
      this.#deliver(w, w.abs);
      return () => {
        this.#watchers.delete(w);
        this.log.push(`UNWATCH ${path}`);
      };
    });
  }

  async transaction<T>(fn: (tx: XenbusOps) => Promise<T> | T): Promise<T> {
    this.log.push("TRANSACTION_START");
    const sink: [string, boolean][] = [];
    try {
      return await fn(this.#ops(sink));
    } finally {
      this.log.push("TRANSACTION_END");
      for (const [a, exact] of sink) this.#fire(a, exact, undefined);
    }
  }

  /** Watches currently registered. */
  get watchCount(): number {
    return this.#watchers.size;
  }

  #children(a: string): string[] {
    const prefix = `${a}/`;
    const out: string[] = [];
    for (const k of this.nodes.keys())
      if (k.startsWith(prefix) && !k.slice(prefix.length).includes("/"))
        out.push(k.slice(prefix.length));
    return out;
  }

  #write(a: string, value: string, sink: [string, boolean][] | undefined): void {
    const parts = a.split("/").slice(1);
    for (let i = 1; i < parts.length; i++) {
      const p = `/${parts.slice(0, i).join("/")}`;
      if (!this.nodes.has(p)) this.nodes.set(p, "");
    }
    this.nodes.set(a, value);
    this.#fire(a, false, sink);
  }

  #rm(a: string, sink: [string, boolean][] | undefined): void {
    const below = [...this.nodes.keys()].filter((k) => k.startsWith(`${a}/`));
    for (const k of below) {
      this.nodes.delete(k);
      this.#fire(k, true, sink);
    }
    this.nodes.delete(a);
    this.#fire(a, false, sink);
  }

  #fire(a: string, exact: boolean, sink: [string, boolean][] | undefined): void {
    if (sink !== undefined) {
      sink.push([a, exact]);
      return;
    }
    for (const w of [...this.#watchers])
      if (w.abs === a || (!exact && a.startsWith(`${w.abs}/`))) this.#deliver(w, a);
  }

  #deliver(w: Watcher, a: string): void {
    const path = w.relative ? a.slice(this.home.length + 1) : a;
    queueMicrotask(() => {
      if (this.#watchers.has(w)) w.emit({ path, token: w.token });
    });
  }
}
