// The Unix-socket server, driven by Debian's real libxenstore tools (xenstore-utils) when they
// are installed, and by a raw socket client otherwise.
import { execFile } from "node:child_process";
import {
  accessSync,
  constants,
  existsSync,
  mkdtempSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { createConnection, Socket } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  Xenstored,
  XsLocalClient,
  listenXenstored,
  type XenstoredSocketServer,
} from "@pvkit/toolstack";
import { decodeXsMessages, encodeXsMessage, nulJoin, XS } from "@pvkit/hypervisor-sim/abi";

const TOOLS = [
  "xenstore-read",
  "xenstore-write",
  "xenstore-ls",
  "xenstore-list",
  "xenstore-rm",
  "xenstore-exists",
  "xenstore-chmod",
  "xenstore-watch",
];
function onPath(tool: string): boolean {
  return (process.env.PATH ?? "").split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, tool), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}
const missing = TOOLS.filter((t) => !onPath(t));
const haveTools = missing.length === 0;
if (!haveTools) {
  console.warn(
    `SKIPPING the xenstore-utils socket tests: ${missing.join(", ")} not installed (run scripts/xenstore-tools-check.sh)`,
  );
}

let dir: string;
let xs: Xenstored;
let server: XenstoredSocketServer;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "pvkit-xs-"));
  xs = new Xenstored();
  server = await xs.listen(join(dir, "socket"));
});
afterEach(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs a tool against our socket; resolves with its exit code and output (never rejects). */
function tool(
  cmd: string,
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      { env: { ...process.env, XENSTORED_PATH: server.path }, timeout: 20_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe.skipIf(!haveTools)("Debian xenstore-utils against the socket", () => {
  it("xenstore-write then xenstore-read round-trips values (several pairs in one transaction)", async () => {
    expect(
      (await tool("xenstore-write", "/vm/1/name", "guest one", "/vm/1/memory", "1024")).code,
    ).toBe(0);
    const r = await tool("xenstore-read", "/vm/1/name", "/vm/1/memory");
    expect(r).toMatchObject({ code: 0, stdout: "guest one\n1024\n" });
    expect(new XsLocalClient(xs.connect()).readString("/vm/1/name")).toBe("guest one");
  });
  it("xenstore-read exits non-zero for a missing node", async () => {
    const r = await tool("xenstore-read", "/nope");
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/couldn't read path \/nope/);
  });
  it("xenstore-ls shows the tree with values, and -p the permissions", async () => {
    const dom0 = new XsLocalClient(xs.connect());
    dom0.write("/t/a", "1");
    dom0.write("/t/a/b", "two");
    dom0.write("/t/c", "");
    const ls = await tool("xenstore-ls", "/t");
    expect(ls.stdout).toBe('a = "1"\n b = "two"\nc = ""\n');
    dom0.setPerms("/t/c", ["n0", "r5"]);
    const lp = await tool("xenstore-ls", "-p", "/t");
    expect(lp.stdout).toMatch(/^c = ""\s+\. .*\(n0,r5\)$/m);
  });
  it("xenstore-list, xenstore-exists and xenstore-rm (each inside a transaction)", async () => {
    const dom0 = new XsLocalClient(xs.connect());
    dom0.write("/l/x", "1");
    dom0.write("/l/y/z", "2");
    expect((await tool("xenstore-list", "/l")).stdout).toBe("x\ny\n");
    expect((await tool("xenstore-exists", "/l/y/z")).code).toBe(0);
    expect((await tool("xenstore-exists", "/l/none")).code).not.toBe(0);
    expect((await tool("xenstore-rm", "/l/y")).code).toBe(0);
    expect((await tool("xenstore-list", "/l")).stdout).toBe("x\n");
    expect((await tool("xenstore-exists", "/l/y/z")).code).not.toBe(0);
    expect(xs.inspect("/l/y")).toBeUndefined();
  });
  it("xenstore-chmod sets permissions that GET_PERMS then shows", async () => {
    const dom0 = new XsLocalClient(xs.connect());
    dom0.write("/p", "v");
    expect((await tool("xenstore-chmod", "/p", "n3", "r4", "b5")).code).toBe(0);
    expect(dom0.getPerms("/p")).toEqual(["n3", "r4", "b5"]);
  });
  it("xenstore-watch -n 2 prints the initial event and a change made in-process", async () => {
    const dom0 = new XsLocalClient(xs.connect());
    dom0.mkdir("/w");
    // Make the change once the tool's WATCH has been processed (its initial event is queued).
    const registered = new Promise<void>((resolve) => {
      xs.on("request", (_c, m) => {
        if (m.type === XS.XS_WATCH) queueMicrotask(resolve);
      });
    });
    const run = tool("xenstore-watch", "-n", "2", "/w");
    await registered;
    dom0.write("/w/changed", "1");
    const r = await run;
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("/w\n/w/changed\n");
  });
});

describe("socket server", () => {
  it("serves xs_wire to a raw client, privileged as dom0", async () => {
    const replies = await exchange(
      server.path,
      [
        encodeXsMessage({
          type: XS.XS_WRITE,
          req_id: 1,
          tx_id: 0,
          payload: new Uint8Array([...nulJoin(["/local/domain/0/x"]), 0x41]),
        }),
        encodeXsMessage({ type: XS.XS_READ, req_id: 2, tx_id: 0, payload: nulJoin(["x"]) }),
      ],
      2,
    );
    expect(replies.map((m) => [m.req_id, Buffer.from(m.payload).toString("latin1")])).toEqual([
      [1, "OK\0"],
      [2, "A"],
    ]);
  });
  it("drops a client that sends a header with len > 4096, leaving others working", async () => {
    const bad = createConnection(server.path);
    const closed = new Promise<void>((resolve) => bad.on("close", () => resolve()));
    const header = new Uint8Array(16);
    new DataView(header.buffer).setUint32(12, 5000, true);
    bad.write(header);
    await closed;
    const [m] = await exchange(
      server.path,
      [encodeXsMessage({ type: XS.XS_DIRECTORY, req_id: 9, tx_id: 0, payload: nulJoin(["/"]) })],
      1,
    );
    expect(Buffer.from(m!.payload).toString()).toBe("tool\0");
  });
  it("replaces a stale socket file, refuses a regular file, and removes the socket on close", async () => {
    await server.close();
    expect(existsSync(server.path)).toBe(false);
    // A stale socket left behind by a crashed server.
    const stale = await listenXenstored(new Xenstored(), join(dir, "stale"));
    const staleServerPath = stale.path;
    server = await listenXenstored(xs, staleServerPath); // replaces the file while the old one is still bound
    expect(statSync(staleServerPath).isSocket()).toBe(true);
    const file = join(dir, "regular");
    writeFileSync(file, "keep me");
    await expect(listenXenstored(xs, file)).rejects.toThrow(/not a socket/);
    await stale.close();
  });
});

describe("socket output (send_event, out_list)", () => {
  it("drops an event identical to one still queued for a client that does not read, so its queue stays at one event", async () => {
    const sock = createConnection(server.path);
    const inbox = collector(sock);
    sock.write(
      encodeXsMessage({ type: XS.XS_WATCH, req_id: 1, tx_id: 0, payload: nulJoin(["/a", "tok"]) }),
    );
    expect((await inbox.until((m) => m.length >= 2)).map((m) => m.type)).toEqual([
      XS.XS_WATCH,
      XS.XS_WATCH_EVENT,
    ]);
    sock.pause(); // the client stops reading
    const conn = [...server.clients][0]!;
    const dom0 = new XsLocalClient(xs.connect());
    for (let i = 0; i < 20_000; i++) dom0.write("/a", String(i));
    // The socket took what it could; then one event waits and every identical one is dropped.
    const event = 16 + "/a\0tok\0".length;
    expect(conn.pending.length).toBe(1);
    expect(conn.queuedBytes).toBe(event);
    // Reading again drains the queue: the waiting event arrives before the next reply.
    sock.resume();
    sock.write(
      encodeXsMessage({ type: XS.XS_READ, req_id: 2, tx_id: 0, payload: nulJoin(["/a"]) }),
    );
    const all = await inbox.until((m) => m.some((x) => x.req_id === 2 && x.type === XS.XS_READ));
    sock.end();
    const events = all.slice(2, -1);
    expect(events.length).toBeGreaterThan(0);
    expect(events.length).toBeLessThan(20_000);
    expect(
      new Set(events.map((m) => `${m.type} ${Buffer.from(m.payload).toString("latin1")}`)),
    ).toEqual(new Set([`${XS.XS_WATCH_EVENT} /a\0tok\0`]));
    expect(Buffer.from(all.at(-1)!.payload).toString()).toBe("19999");
    expect(conn.pending.length).toBe(0);
  });
});

describe("socket output batches", () => {
  it("answers 20 requests sent in one chunk in writes of 8, 8 and 4 requests' output, in the order an in-process connection queues it", async () => {
    // A WATCH, then 19 WRITEs under it: each WRITE's reply and the watch event it fires.
    const requests = [
      encodeXsMessage({ type: XS.XS_WATCH, req_id: 0, tx_id: 0, payload: nulJoin(["/b", "t"]) }),
      ...Array.from({ length: 19 }, (_, i) =>
        encodeXsMessage({
          type: XS.XS_WRITE,
          req_id: i + 1,
          tx_id: 0,
          payload: Buffer.from(`/b/${i}\0v${i}`),
        }),
      ),
    ];
    const chunk = Buffer.concat(requests);
    // The reference: the same bytes fed to an in-process connection of another xenstored.
    const ref = new Xenstored();
    const refConn = ref.connect();
    refConn.receive(chunk);
    const expected = refConn.takeAll().map((m) => `${m.type}:${m.req_id}`);
    expect(expected).toHaveLength(1 + 1 + 19 * 2); // WATCH reply, its first event, 19 × (reply + event)
    ref.close();

    const sock = createConnection(server.path);
    await new Promise<void>((r) => sock.once("connect", () => r()));
    const inbox = collector(sock);
    // The server's own socket writes (this process's client socket is told apart).
    const writes: number[] = [];
    const realWrite = Socket.prototype.write;
    const spy = vi.spyOn(Socket.prototype, "write").mockImplementation(function (
      this: Socket,
      ...args: Parameters<Socket["write"]>
    ) {
      if (this !== sock)
        writes.push(decodeXsMessages(new Uint8Array(args[0] as Uint8Array)).length);
      return Reflect.apply(realWrite, this, args) as boolean;
    });
    sock.write(chunk);
    const got = await inbox.until((m) => m.length >= expected.length);
    spy.mockRestore();
    sock.end();
    expect(got.map((m) => `${m.type}:${m.req_id}`)).toEqual(expected);
    expect(writes).toEqual([1 + 1 + 7 * 2, 8 * 2, 4 * 2]);
  });
});

/** Collects the messages a socket receives; `until` resolves once `done` holds for them. */
function collector(sock: ReturnType<typeof createConnection>) {
  let buf = Buffer.alloc(0);
  let waiter: (() => void) | undefined;
  sock.on("data", (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    waiter?.();
  });
  const parse = () => {
    try {
      return decodeXsMessages(new Uint8Array(buf));
    } catch {
      return undefined; // a partial message: wait for more
    }
  };
  return {
    until(done: (m: ReturnType<typeof decodeXsMessages>) => boolean) {
      return new Promise<ReturnType<typeof decodeXsMessages>>((resolve) => {
        const check = () => {
          const m = parse();
          if (m && done(m)) {
            waiter = undefined;
            resolve(m);
          }
        };
        waiter = check;
        check();
      });
    },
  };
}

/** Sends requests on a fresh socket and collects `count` replies. */
function exchange(path: string, requests: Uint8Array[], count: number) {
  return new Promise<ReturnType<typeof decodeXsMessages>>((resolve, reject) => {
    const sock = createConnection(path);
    let buf = Buffer.alloc(0);
    sock.on("error", reject);
    sock.on("data", (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      try {
        const msgs = decodeXsMessages(new Uint8Array(buf));
        if (msgs.length >= count) {
          sock.end();
          resolve(msgs);
        }
      } catch {
        // partial message: wait for more
      }
    });
    for (const r of requests) sock.write(r);
  });
}
