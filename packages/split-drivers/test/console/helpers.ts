// Shared set-up for the console tests: a host with xenconsoled, a guest whose console 0 is opened
// by the test (manual mode: the test drives every interleaving).
import type { Host, GuestContext, ConsoleTerminal, TerminalFactory } from "@pvkit/toolstack";

/** Creates a guest whose `main` only hands its context out; settles the host. */
export async function guestCtx(
  host: Host,
  name = "g",
): Promise<{ domid: number; ctx: GuestContext }> {
  let ctx: GuestContext | undefined;
  const d = await host.createDomain({ name, main: (c) => void (ctx = c) });
  await host.hv.settle();
  await d.done;
  if (ctx === undefined) throw new Error("main did not run");
  return { domid: d.domid, ctx };
}

/** A terminal that never takes output (a pty nobody reads, full) and lets the test type. */
export class ScriptedTerminal implements ConsoleTerminal {
  readonly path: string;
  writes = 0;
  closed = false;
  #data: ((b: Uint8Array) => void) | undefined;

  constructor(path: string) {
    this.path = path;
  }

  write(): number {
    this.writes++;
    return 0;
  }

  onWritable(): void {}

  listen(h: { data: (bytes: Uint8Array) => void }): void {
    this.#data = h.data;
  }

  setReading(): void {}

  /** What a person types. */
  type(bytes: Uint8Array): void {
    this.#data?.(bytes);
  }

  close(): void {
    this.closed = true;
  }
}

/** A factory of ScriptedTerminals, keeping each it made. */
export function scriptedTerminals(): { factory: TerminalFactory; made: ScriptedTerminal[] } {
  const made: ScriptedTerminal[] = [];
  return {
    made,
    factory: () => {
      const t = new ScriptedTerminal(`/dev/pts/fake${made.length}`);
      made.push(t);
      return t;
    },
  };
}
