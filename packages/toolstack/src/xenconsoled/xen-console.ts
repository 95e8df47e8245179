/**
 * One guest's console 0 as xenconsoled 4.17 serves it (tools/console/daemon/io.c). All the
 * logic runs in the host's virtual time; only the terminal is real.
 *
 * - **Attach** (`console_create_ring`): read `ring-ref` and `port` from
 *   `/local/domain/<id>/console` (absent: wait for the watch); a `type` other than
 *   "xenconsoled" is not ours; map the page through reserved grant ref 0
 *   (`xengnttab_map_grant_ref(dom, GNTTAB_RESERVED_CONSOLE)`, preferred) or else map `ring-ref`
 *   as a foreign frame; bind `port` interdomain (again when it changed); create the terminal and
 *   write its path to `console/tty`; read `limit` into the buffer bound; open the log.
 *   Unlike io.c, one service pass runs right after the bind (output the guest wrote before the
 *   daemon was bound would otherwise wait for the guest's next notification).
 * - **Output** (`handle_ring_read` + `buffer_append`): each event counts toward the rate
 *   limit; `out_cons`/`out_prod` are snapshotted; `size == 0 || size > 2048` is ignored (a
 *   producer index beyond the ring: nothing read, nothing written, no notify); otherwise the
 *   bytes are copied out, `out_cons` published, the guest notified, the bytes written to the log
 *   (and stdout) at once, and appended to the terminal buffer (console-buffer.ts).
 * - **Rate limit** (`console_evtchn_unmask`, RATE_LIMIT_ALLOWANCE 30 per RATE_LIMIT_PERIOD
 *   200 ms): the port is bound late-EOI, so it is masked while an event is handled, as
 *   libxenevtchn leaves it; the daemon unmasks after an event only while fewer than 30 came in
 *   this period. At every pass of the main loop (after each event, and at the poll timeout the
 *   loop sets while rate-limited: `max(1 ms, next_period - now)`), if `now + 5 ms > next_period`
 *   a new period starts at `now + 200 ms`, the count goes to 0 and a masked port is unmasked
 *   (an event that came meanwhile is then delivered). Periods start 200 ms after the console is
 *   set up (`console_init`). Each console runs its own loop passes (io.c checks every console on
 *   every pass; only a pass within 5 ms of another console's period end could differ).
 * - **Input** (`handle_tty_read`): bytes typed on the terminal queue here (reading stops above
 *   4 KiB, as a kernel tty buffer would fill) and go into `in` at most 80 bytes per read and at
 *   most the ring's free space (`ring_free_bytes`; 0 for a ring whose `prod - cons > 1024`),
 *   each read published and notified on its own.
 * - **Broken terminal** (`console_handle_broken_tty`): a read or write error closes it and, while
 *   the domain lives, creates a new one (a new path in `tty`).
 * - **Shutdown** (`shutdown_domain`, `cleanup_domain`): unmap, close the port, close the
 *   terminal and the log.
 */
import { closeSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { Guest, Hypervisor, Page, TimerHandle } from "@pvkit/hypervisor-sim";
import {
  GNTMAP,
  GNTTAB_RESERVED_CONSOLE,
  XEN_PAGE_SHIFT,
  xencons_interface,
} from "@pvkit/hypervisor-sim/abi";
import {
  ByteRingWriter,
  type EventChannel,
  type EventChannels,
  consoleInRing,
} from "@pvkit/guest-sdk";
import { mapGrantRefs, unmapGrantRefs } from "@pvkit/guest-sdk/hypercall";
import { highestHole } from "../xenstored/ring-factory.js";
import type { XsSession } from "../host/xs-session.js";
import { type ForeignMapping, mapForeignPages } from "../host/foreign-memory.js";
import { ConsoleBuffer, type OverflowPolicy } from "./console-buffer.js";
import type { ConsoleTerminal, TerminalFactory } from "./terminal.js";

/** `RATE_LIMIT_ALLOWANCE`: events per period. */
export const RATE_LIMIT_ALLOWANCE = 30;
/** `RATE_LIMIT_PERIOD` (200 ms), in ns. */
export const RATE_LIMIT_PERIOD_NS = 200_000_000;
/** The 5 ms fuzz of `console_evtchn_unmask`, in ns. */
const PERIOD_FUZZ_NS = 5_000_000;
/** A poll timeout is at least 1 ms. */
const MIN_POLL_NS = 1_000_000;
/** `sizeof(msg)` in `handle_tty_read`. */
export const TTY_READ_MAX = 80;
/** Typed bytes queued before the terminal is no longer read. */
const INPUT_QUEUE_MAX = 4096;

/** What a console needs from the daemon. */
export interface ConsoleDeps {
  readonly hv: Hypervisor;
  readonly guest0: Guest;
  readonly events0: EventChannels;
  readonly xs: XsSession;
  readonly terminal: TerminalFactory | undefined;
  readonly logDir: string | undefined;
  readonly stdout: NodeJS.WritableStream | undefined;
  readonly overflow: OverflowPolicy;
}

/** Counters of one console, for tests and `xl`-style inspection. */
export interface ConsoleCounters {
  /** Events handled (`handle_ring_read` calls). */
  readonly events: number;
  /** Events in the current rate-limit period. */
  readonly eventCount: number;
  /** Times the port was left masked because the allowance was used up. */
  readonly rateLimited: number;
  /** Events whose `out_prod - out_cons` was beyond the ring (ignored). */
  readonly badIndices: number;
  /** Bytes read from `out`. */
  readonly bytesOut: number;
  /** Bytes put in `in`, and the reads that did it (each <= 80 bytes). */
  readonly bytesIn: number;
  readonly inputReads: number;
  /** Terminals created (1 + re-creations). */
  readonly terminals: number;
}

/** Which console of the domain (default console 0 at `/local/domain/<id>/console`). */
export interface ConsoleWhere {
  /** 0 for the primary console; N for `device/console/N`. */
  readonly devid: number;
  /** The frontend directory holding `limit` and `tty` (absolute). */
  readonly xspath: string;
}

/** A guest's console (console 0, or an extra one attached by extra-consoles.ts), served by the daemon. */
export class XenConsole {
  readonly domid: number;
  /** 0 for the primary console, N for `device/console/N`. */
  readonly devid: number;
  readonly #d: ConsoleDeps;
  readonly xspath: string;
  readonly buffer: ConsoleBuffer;
  #page: Page | undefined;
  #grantHandle: number | undefined;
  #grantGfn = 0;
  #foreign: ForeignMapping | undefined;
  #ringRef = -1;
  #channel: EventChannel | undefined;
  #remotePort = -1;
  #terminal: ConsoleTerminal | undefined;
  #logFd: number | undefined;
  #nextPeriod: number;
  #timer: TimerHandle | undefined;
  #input: Uint8Array[] = [];
  #inputQueued = 0;
  #dead = false;
  #c = {
    events: 0,
    eventCount: 0,
    rateLimited: 0,
    badIndices: 0,
    bytesOut: 0,
    bytesIn: 0,
    inputReads: 0,
    terminals: 0,
  };

  constructor(
    domid: number,
    deps: ConsoleDeps,
    where: ConsoleWhere = { devid: 0, xspath: `/local/domain/${domid}/console` },
  ) {
    this.domid = domid;
    this.devid = where.devid;
    this.#d = deps;
    this.xspath = where.xspath;
    this.buffer = new ConsoleBuffer(0, deps.overflow);
    this.#nextPeriod = deps.hv.now + RATE_LIMIT_PERIOD_NS;
  }

  get counters(): ConsoleCounters {
    return { ...this.#c };
  }

  /** dom0's port bound to the guest's console port, while bound. */
  get localPort(): number | undefined {
    return this.#channel?.port;
  }

  /** The terminal's path (what `tty` holds), while there is one. */
  get ttyPath(): string | undefined {
    return this.#terminal?.path;
  }

  /** @internal The terminal (tests break it on purpose). */
  get terminal(): ConsoleTerminal | undefined {
    return this.#terminal;
  }

  /** True while the port is left masked by the rate limit. */
  get rateLimitedNow(): boolean {
    return this.#c.eventCount >= RATE_LIMIT_ALLOWANCE;
  }

  /** `console_create_ring`. Returns an error text when the attach failed (logged by the daemon). */
  createRing(): string | undefined {
    if (this.#dead) return undefined;
    const xs = this.#d.xs;
    const ringRef = parseUnsigned(xs.read(`${this.xspath}/ring-ref`));
    const port = parseUnsigned(xs.read(`${this.xspath}/port`));
    if (ringRef === undefined || port === undefined) return undefined; // not written yet
    const type = xs.read(`${this.xspath}/type`);
    if (type !== undefined && type !== "xenconsoled") return undefined;
    if (ringRef !== this.#ringRef && this.#ringRef !== -1) this.#unmap();
    if (this.#page === undefined) {
      const err = this.#map(ringRef);
      if (err !== undefined) return err;
    }
    if (port !== this.#remotePort || this.#channel === undefined || this.#channel.closed) {
      this.#unbind();
      try {
        this.#channel = this.#d.events0.bindInterdomain(this.domid, port, {
          lateEoi: true,
          onEvent: () => this.#onEvent(),
        });
        this.#remotePort = port;
      } catch (err) {
        return `d${this.domid}: binding console port ${port} failed: ${(err as Error).message}`;
      }
      if (this.#terminal === undefined && !this.#createTty()) {
        this.#unbind();
        return `d${this.domid}: no terminal`;
      }
      this.#logFd ??= this.#openLog();
      this.#serve();
      this.#loopPass();
    }
    return undefined;
  }

  /**
   * Serves a ring mapped and a port bound by someone else (an extra console's backend device,
   * extra-consoles.ts): `bind` is called once with the event handler and returns the channel
   * (bound late-EOI). Then as `console_create_ring` after its map and bind: the terminal (its
   * path to `<xspath>/tty`), `limit`, the log, one service pass.
   * @returns an error text when there is no terminal (the caller releases the ring and port).
   */
  attachRing(page: Page, bind: (onEvent: () => void) => EventChannel): string | undefined {
    if (this.#dead) return `d${this.domid} console ${this.devid}: shut down`;
    if (this.#page !== undefined) return `d${this.domid} console ${this.devid}: already attached`;
    this.#page = page;
    this.#channel = bind(() => this.#onEvent());
    if (this.#terminal === undefined && !this.#createTty()) {
      this.#page = undefined;
      this.#unbind();
      return `d${this.domid} console ${this.devid}: no terminal`;
    }
    this.#logFd ??= this.#openLog();
    this.#serve();
    this.#loopPass();
    return undefined;
  }

  /** `shutdown_domain` + `cleanup_domain`: stop serving and release everything. Idempotent. */
  shutdown(): void {
    if (this.#dead) return;
    this.#dead = true;
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#unmap();
    this.#unbind();
    this.#terminal?.close();
    this.#terminal = undefined;
    if (this.#logFd !== undefined) closeSync(this.#logFd);
    this.#logFd = undefined;
  }

  // ---- the ring --------------------------------------------------------------------------

  #map(ringRef: number): string | undefined {
    const g0 = this.#d.guest0;
    const gfn = highestHole(g0);
    try {
      const [op] = mapGrantRefs(g0.hypercall, [
        {
          host_addr: gfn << XEN_PAGE_SHIFT,
          flags: GNTMAP.GNTMAP_host_map,
          ref: GNTTAB_RESERVED_CONSOLE,
          dom: this.domid,
        },
      ]);
      this.#grantHandle = op!.handle!;
      this.#grantGfn = gfn;
      this.#page = g0.memory.writablePage(gfn);
      this.#ringRef = -1;
      return undefined;
    } catch {
      // Fall back to mapping ring-ref as a foreign frame (xenforeignmemory_map).
    }
    try {
      this.#foreign = mapForeignPages(g0, this.domid, [ringRef]);
      this.#page = this.#foreign.pages[0];
      this.#ringRef = ringRef;
      return undefined;
    } catch (err) {
      return `d${this.domid}: mapping the console ring failed: ${(err as Error).message}`;
    }
  }

  #unmap(): void {
    this.#page = undefined;
    if (this.#grantHandle !== undefined) {
      const handle = this.#grantHandle;
      this.#grantHandle = undefined;
      try {
        unmapGrantRefs(this.#d.guest0.hypercall, [
          { host_addr: this.#grantGfn << XEN_PAGE_SHIFT, dev_bus_addr: 0, handle },
        ]);
      } catch {
        // the mapping died with the domain
      }
    }
    this.#foreign?.unmap();
    this.#foreign = undefined;
    this.#ringRef = -1;
  }

  #unbind(): void {
    const ch = this.#channel;
    this.#channel = undefined;
    this.#remotePort = -1;
    try {
      ch?.close();
    } catch {
      // the guest's end went with it
    }
  }

  #notify(): void {
    try {
      this.#channel?.notify();
    } catch {
      // a closed channel: nothing to wake
    }
  }

  /** `handle_ring_read`, then the next loop pass. */
  #onEvent(): void {
    if (this.#dead || this.#channel === undefined) return;
    this.#c.events++;
    this.#c.eventCount++;
    if (this.buffer.available) this.#bufferAppend();
    if (this.#c.eventCount < RATE_LIMIT_ALLOWANCE) this.#channel.eoi();
    else if (this.#c.eventCount === RATE_LIMIT_ALLOWANCE) this.#c.rateLimited++;
    this.#handleTtyRead();
    this.#loopPass();
  }

  /** One read of the ring and the terminal's write-out (what a loop pass would do). */
  #serve(): void {
    if (this.buffer.available) this.#bufferAppend();
    this.#handleTtyRead();
  }

  /** `console_evtchn_unmask` and the poll timeout of `maybe_add_console_evtchn_fd`. */
  #loopPass(): void {
    if (this.#dead) return;
    const now = this.#d.hv.now;
    if (now + PERIOD_FUZZ_NS > this.#nextPeriod) {
      this.#nextPeriod = now + RATE_LIMIT_PERIOD_NS;
      const limited = this.#c.eventCount >= RATE_LIMIT_ALLOWANCE;
      this.#c.eventCount = 0;
      if (limited) this.#channel?.eoi();
    }
    if (this.#c.eventCount >= RATE_LIMIT_ALLOWANCE && this.#timer === undefined) {
      const at = now + Math.max(MIN_POLL_NS, this.#nextPeriod - now);
      this.#timer = this.#d.hv.scheduler.at(at, () => {
        this.#timer = undefined;
        this.#loopPass();
      });
    }
  }

  /** `buffer_append`. */
  #bufferAppend(): void {
    const page = this.#page;
    if (page === undefined) return;
    const cons = page.getU32(xencons_interface.out_cons[0]);
    const prod = page.getU32(xencons_interface.out_prod[0]);
    const size = (prod - cons) >>> 0;
    if (size === 0) return;
    if (size > xencons_interface.out[1]) {
      this.#c.badIndices++;
      return;
    }
    const bytes = new Uint8Array(size);
    const base = xencons_interface.out[0];
    for (let i = 0; i < size; i++)
      bytes[i] = page.getU8(base + (((cons + i) >>> 0) & (xencons_interface.out[1] - 1)));
    page.setU32(xencons_interface.out_cons[0], prod);
    this.#notify();
    this.#c.bytesOut += size;
    if (this.#logFd !== undefined) writeSync(this.#logFd, bytes);
    this.#d.stdout?.write(bytes);
    if (this.#terminal !== undefined) {
      this.buffer.append(bytes);
      this.#handleTtyWrite();
    }
  }

  // ---- the terminal ----------------------------------------------------------------------

  /** `console_create_tty`: a terminal, `limit` read into the buffer, its path written to `tty`. */
  #createTty(): boolean {
    const factory = this.#d.terminal;
    if (factory === undefined) return true; // no terminal wanted: log and stdout only
    let t: ConsoleTerminal;
    try {
      t = factory(
        this.devid === 0 ? `d${this.domid} console` : `d${this.domid} console ${this.devid}`,
      );
    } catch {
      return false;
    }
    const limit = this.#d.xs.read(`${this.xspath}/limit`);
    if (limit !== undefined) this.buffer.maxCapacity = parseCUlong(limit);
    try {
      this.#d.xs.write(`${this.xspath}/tty`, t.path);
    } catch {
      t.close();
      return false;
    }
    this.#terminal = t;
    this.#c.terminals++;
    t.listen({ data: (b) => this.#typed(t, b), broken: () => this.#broken(t) });
    t.setReading(true);
    return true;
  }

  /** `console_handle_broken_tty(con, domain_is_valid(domid))`. */
  #broken(t: ConsoleTerminal): void {
    if (t !== this.#terminal || this.#dead) return;
    t.close();
    this.#terminal = undefined;
    this.#input = [];
    this.#inputQueued = 0;
    const d = this.#d.hv.domainById(this.domid);
    if (d !== undefined && !d.isDying) {
      this.#createTty();
      this.#handleTtyWrite();
    } else this.shutdown();
  }

  #typed(t: ConsoleTerminal, bytes: Uint8Array): void {
    if (t !== this.#terminal || this.#dead) return;
    this.#input.push(bytes.slice());
    this.#inputQueued += bytes.length;
    if (this.#inputQueued >= INPUT_QUEUE_MAX) t.setReading(false);
    this.#handleTtyRead();
    this.#loopPass();
  }

  /** `handle_tty_read`, repeated while typed bytes and ring space remain. */
  #handleTtyRead(): void {
    const page = this.#page;
    if (page === undefined || this.#dead || this.#inputQueued === 0) return;
    const ring = new ByteRingWriter(page, consoleInRing);
    for (;;) {
      let free: number;
      try {
        free = ring.free;
      } catch {
        free = 0; // ring is screwed: ignore it
      }
      const len = Math.min(free, TTY_READ_MAX, this.#inputQueued);
      if (len === 0) break;
      const msg = this.#takeInput(len);
      ring.write(msg);
      this.#c.bytesIn += len;
      this.#c.inputReads++;
      this.#notify();
    }
    if (this.#inputQueued < INPUT_QUEUE_MAX) this.#terminal?.setReading(true);
  }

  #takeInput(len: number): Uint8Array {
    const out = new Uint8Array(len);
    let got = 0;
    while (got < len) {
      const head = this.#input[0]!;
      const n = Math.min(head.length, len - got);
      out.set(head.subarray(0, n), got);
      got += n;
      if (n === head.length) this.#input.shift();
      else this.#input[0] = head.subarray(n);
    }
    this.#inputQueued -= len;
    return out;
  }

  /** `handle_tty_write`, while the terminal takes bytes. */
  #handleTtyWrite(): void {
    const t = this.#terminal;
    if (t === undefined || this.#dead) return;
    while (this.buffer.pending > 0) {
      let n: number;
      try {
        n = t.write(this.buffer.view());
      } catch {
        this.#broken(t);
        return;
      }
      if (n === 0) {
        t.onWritable(() => this.#handleTtyWrite());
        return;
      }
      this.buffer.advance(n);
    }
  }

  /** `create_console_log`: `<logDir>/guest-<name>.log` (extra console N: `guest-<name>-consoleN.log`), appended to. */
  #openLog(): number | undefined {
    const dir = this.#d.logDir;
    if (dir === undefined) return undefined;
    const name = this.#d.xs.read(`/local/domain/${this.domid}/name`);
    if (name === undefined || name === "") return undefined;
    // xenconsoled names secondary logs with a suffix (console_type's log_suffix, "-vuart0").
    const suffix = this.devid === 0 ? "" : `-console${this.devid}`;
    try {
      return openSync(join(dir, `guest-${name}${suffix}.log`), "a", 0o644);
    } catch {
      return undefined;
    }
  }
}

/** `sscanf("%u")`-ish: a decimal u32, or undefined. */
function parseUnsigned(v: string | undefined): number | undefined {
  if (v === undefined || !/^\s*\d+/.test(v)) return undefined;
  const n = Number.parseInt(v, 10);
  return n <= 0xffff_ffff ? n : undefined;
}

/** `strtoul(data, 0, 0)`: decimal, 0x-hex or 0-octal prefix; 0 when nothing parses. */
function parseCUlong(v: string): number {
  const s = v.trim();
  const m = /^(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9]\d*)/.exec(s);
  if (!m) return 0;
  const t = m[1]!;
  if (/^0[xX]/.test(t)) return Number.parseInt(t.slice(2), 16);
  if (t.startsWith("0") && t.length > 1) return Number.parseInt(t.slice(1), 8);
  return Number.parseInt(t, 10);
}
