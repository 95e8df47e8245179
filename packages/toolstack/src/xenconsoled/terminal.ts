/**
 * The terminal side of a console: what xenconsoled's `master_fd` is. The daemon writes a
 * guest's output to it without blocking and reads what a person types. `pty.ts` provides the
 * real pseudo-terminal; tests may give a terminal of their own (for example one that never
 * takes output, to pin the `limit` rule without depending on the kernel's pty buffer size).
 */

/** One terminal, owned by one console. */
export interface ConsoleTerminal {
  /** The path a person opens (`/dev/pts/N`), written to the console's `tty` key. */
  readonly path: string;
  /**
   * Writes as much of `bytes` as the terminal takes now, without blocking.
   * @returns bytes taken (0 when it is full: try again after `onWritable`).
   * @throws Error when the terminal is broken (the console re-creates it).
   */
  write(bytes: Uint8Array): number;
  /** Asks to be called once when a full terminal may take bytes again. */
  onWritable(cb: () => void): void;
  /**
   * Input handling: `data` gets what is typed, `broken` a read error (the console re-creates
   * the terminal). Set once by the console.
   */
  listen(handlers: { data: (bytes: Uint8Array) => void; broken: (err: Error) => void }): void;
  /** Stops or restarts reading (the console's input queue is full / has room). */
  setReading(on: boolean): void;
  /** Closes the terminal (master and the kept slave). Idempotent. */
  close(): void;
}

/** Makes a terminal for a console; `label` names it ("d3 console"). */
export type TerminalFactory = (label: string) => ConsoleTerminal;
