/**
 * Real pseudo-terminals for xenconsoled, as `console_create_tty` makes them (io.c): `openpty`,
 * the slave set raw (`cfmakeraw`), the slave kept open by the daemon for the console's lifetime
 * (on Linux, reading the master fails with EIO once no slave is open), the master non-blocking.
 * A person attaches by opening the slave path (`screen /dev/pts/N`, `picocom`, `minicom`).
 *
 * How, in Node: `openpty` comes from node-pty's native module (`open(cols, rows)` returns the
 * master and slave fds, both non-blocking, and the slave's name). node-pty's JavaScript
 * `open()` wrapper is not used because it also *reads the slave*, which would steal the output
 * meant for the person's terminal. Raw mode is set with `stty -F <slave> raw -echo` (coreutils),
 * because Node's `setRawMode` keeps output post-processing (ONLCR) on and is not `cfmakeraw`.
 * The master is read through a `tty.ReadStream` (libuv, event-driven) and written with
 * non-blocking `fs.writeSync`; when the pty is full (EAGAIN) a real-time retry timer
 * (unref'd, 20 ms) asks the console to write again. This timer only paces the real pty; it
 * never moves the simulator's virtual time, which the console's logic runs on.
 */
import { execFileSync } from "node:child_process";
import { closeSync, writeSync } from "node:fs";
import { createRequire } from "node:module";
import { ReadStream } from "node:tty";
import type { ConsoleTerminal } from "./terminal.js";

/** How often a full pty is tried again, real ms. */
const RETRY_MS = 20;

interface NativePty {
  open(cols: number, rows: number): { master: number; slave: number; pty: string };
}

let native: NativePty | undefined;

function nativePty(): NativePty {
  if (native === undefined) {
    const require = createRequire(import.meta.url);
    const utils = require("node-pty/lib/utils") as {
      loadNativeModule(name: string): { module: NativePty };
    };
    native = utils.loadNativeModule("pty").module;
  }
  return native;
}

/** A pseudo-terminal whose master this process holds. */
export class PtyTerminal implements ConsoleTerminal {
  readonly path: string;
  readonly #master: number;
  readonly #slave: number;
  readonly #reader: ReadStream;
  #closed = false;
  #retry: ReturnType<typeof setTimeout> | undefined;

  /**
   * Opens a pty pair and sets it raw.
   * @throws Error when no pty can be had or its attributes cannot be set (nothing stays open).
   */
  constructor() {
    const t = nativePty().open(80, 25);
    this.#master = t.master;
    this.#slave = t.slave;
    this.path = t.pty;
    try {
      execFileSync("stty", ["-F", t.pty, "raw", "-echo"], { stdio: "ignore" });
      this.#reader = new ReadStream(t.master);
    } catch (err) {
      closeSync(t.master);
      closeSync(t.slave);
      throw new Error(`failed to set tty attributes of ${t.pty}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    this.#reader.pause();
  }

  write(bytes: Uint8Array): number {
    if (this.#closed) throw new Error(`${this.path} is closed`);
    try {
      return writeSync(this.#master, bytes);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EAGAIN") return 0;
      throw err;
    }
  }

  onWritable(cb: () => void): void {
    if (this.#closed || this.#retry !== undefined) return;
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      if (!this.#closed) cb();
    }, RETRY_MS);
    this.#retry.unref();
  }

  listen(handlers: { data: (bytes: Uint8Array) => void; broken: (err: Error) => void }): void {
    this.#reader.on("data", (chunk: Buffer) =>
      handlers.data(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length)),
    );
    this.#reader.on("error", (err: Error) => {
      if (!this.#closed) handlers.broken(err);
    });
  }

  setReading(on: boolean): void {
    if (this.#closed) return;
    if (on) this.#reader.resume();
    else this.#reader.pause();
  }

  /** @internal Fails the terminal as a read error would (for tests of re-creation). */
  fail(err: Error): void {
    this.#reader.destroy(err);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#retry !== undefined) clearTimeout(this.#retry);
    this.#reader.destroy(); // closes the master fd
    try {
      closeSync(this.#slave);
    } catch {
      // already gone
    }
  }
}

/** The default terminal factory: a real pty. */
export function openPty(): PtyTerminal {
  return new PtyTerminal();
}
