// Console 0 through a real pseudo-terminal: the test opens the slave path as a terminal program
// would (O_RDWR | O_NOCTTY), types, and reads what the guest printed; the log gets it too.
import { constants, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ReadStream } from "node:tty";
import { firstValueFrom } from "rxjs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createTestHost } from "@pvkit/toolstack/testing";
import { ConsoleFront } from "@pvkit/split-drivers";

let logDir: string;
beforeEach(() => void (logDir = mkdtempSync(join(tmpdir(), "pvkit-console-"))));
afterEach(() => rmSync(logDir, { recursive: true, force: true }));

/** A person's terminal on `path`: what it shows, and typing. */
function attach(path: string): {
  seen: () => string;
  until: (s: string) => Promise<void>;
  type: (s: string) => void;
  close: () => void;
} {
  const fd = openSync(path, constants.O_RDWR | constants.O_NOCTTY | constants.O_NONBLOCK);
  const rs = new ReadStream(fd);
  let text = "";
  const waiters: (() => void)[] = [];
  rs.on("data", (b: Buffer) => {
    text += b.toString("latin1");
    for (const w of waiters.splice(0)) w();
  });
  const until = async (s: string): Promise<void> => {
    while (!text.includes(s)) await new Promise<void>((r) => waiters.push(r));
  };
  return { seen: () => text, until, type: (s) => void writeSync(fd, s), close: () => rs.destroy() };
}

describe("console 0 through a real pty", () => {
  it("shows the guest's output on the terminal and in the log, and brings typed bytes to the guest", async () => {
    await using t = await createTestHost({ xenconsoled: { logDir } });
    const host = t.host;
    const d = await host.createDomain({
      name: "ttyguest",
      main: async (ctx) => {
        using con = ConsoleFront.open(ctx);
        await con.write("login: ");
        const typed = await firstValueFrom(con.input$);
        await con.write(`hello, ${new TextDecoder().decode(typed)}\r\n`);
      },
    });
    await host.hv.settle();
    const path = await host.openXenstore().readString(`/local/domain/${d.domid}/console/tty`);
    expect(path).toMatch(/^\/dev\/pts\/\d+$/);
    expect(host.xenconsoled!.console(d.domid)!.ttyPath).toBe(path);
    const term = attach(path);
    await term.until("login: ");
    term.type("root");
    await d.done;
    await term.until("hello, root\r\n");
    expect(term.seen()).toBe("login: hello, root\r\n");
    expect(readFileSync(join(logDir, "guest-ttyguest.log"), "latin1")).toBe(
      "login: hello, root\r\n",
    );
    expect(host.xenconsoled!.console(d.domid)!.counters).toMatchObject({
      bytesIn: 4,
      inputReads: 1,
    });
    term.close();
    await t.finish();
  });

  it("re-creates a broken terminal, writes its path to console/tty, and output goes on", async () => {
    await using t = await createTestHost({ xenconsoled: { logDir } });
    const host = t.host;
    let con: ConsoleFront | undefined;
    const d = await host.createDomain({
      name: "broken",
      main: (ctx) => void (con = ConsoleFront.open(ctx)),
    });
    await host.hv.settle();
    const xc = host.xenconsoled!.console(d.domid)!;
    const first = xc.terminal!;
    (first as unknown as { fail(e: Error): void }).fail(new Error("EIO"));
    await new Promise<void>((r) => setImmediate(r));
    const second = xc.ttyPath!;
    expect(second).toMatch(/^\/dev\/pts\/\d+$/);
    // A new pty (the kernel may hand out the freed number again, as for io.c's close-then-openpty).
    expect(xc.terminal).not.toBe(first);
    expect(host.openXenstore().readString(`/local/domain/${d.domid}/console/tty`)).toBe(second);
    expect(xc.counters.terminals).toBe(2);
    const term = attach(second);
    await con!.write("still here\r\n");
    await term.until("still here\r\n");
    term.close();
    con!.destroy();
    await t.finish();
  });
});
