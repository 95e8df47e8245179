/**
 * Console 0 as a Node `Duplex`: what is written goes to the console's `out` ring through
 * `ConsoleFront.write` (one chunk at a time, so the stream's highWaterMark is the
 * backpressure), what the backend puts in `in` is readable. A reader that stops reading
 * (`push()` returning false) stops the console taking input, so the backend's terminal backs up
 * instead of this process buffering without bound.
 *
 * The stream ends (`end` on the readable side) when the console is closed, and is destroyed
 * with the ConsoleError when it halts. Destroying the stream leaves the console open.
 */
import { Duplex } from "node:stream";
import type { ConsoleFront, InputSink } from "./console-front.js";
import type { ConsoleError } from "./console-error.js";

/** Options of {@link ConsoleStream}. */
export interface ConsoleStreamOptions {
  /** Writable-side buffer before `write()` returns false, in bytes. Default 16 KiB (Node's). */
  readonly writableHighWaterMark?: number;
  /** Readable-side buffer before the console stops taking input, in bytes. Default 16 KiB. */
  readonly readableHighWaterMark?: number;
}

export class ConsoleStream extends Duplex {
  readonly #console: ConsoleFront;
  readonly #off: () => void;
  #wants = true;

  constructor(console: ConsoleFront, opts: ConsoleStreamOptions = {}) {
    super({
      ...(opts.writableHighWaterMark !== undefined
        ? { writableHighWaterMark: opts.writableHighWaterMark }
        : {}),
      ...(opts.readableHighWaterMark !== undefined
        ? { readableHighWaterMark: opts.readableHighWaterMark }
        : {}),
      decodeStrings: true,
    });
    this.#console = console;
    const sink: InputSink = {
      wants: () => this.#wants && !this.destroyed,
      deliver: (bytes) => {
        if (!this.push(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)))
          this.#wants = false;
      },
      fail: (err: ConsoleError) => this.destroy(err),
      end: () => this.push(null),
    };
    this.#off = console.addInputSink(sink);
  }

  override _read(): void {
    this.#wants = true;
    this.#console.pumpInput();
  }

  override _write(
    chunk: Buffer,
    _encoding: BufferEncoding,
    callback: (error?: Error | null) => void,
  ): void {
    this.#console.write(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length)).then(
      () => callback(),
      (err: Error) => callback(err),
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#off();
    callback(error);
  }
}
