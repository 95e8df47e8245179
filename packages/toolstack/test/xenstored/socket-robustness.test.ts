// The socket server under abuse (issue 14's robustness cases, kept as the coalesced writes and
// the compact store changed the hot path): malformed requests answered with cxenstored's errors
// and an oversized header dropping only its client, a client that never reads, and 200 clients
// running 100 transactions each at once.
import { mkdtempSync, rmSync } from "node:fs";
import { createConnection, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Xenstored, listenXenstored, type XenstoredSocketServer } from "@pvkit/toolstack";
import {
  XS,
  XS_OVERSIZE,
  XsMessageParser,
  encodeXsMessage,
  nulJoin,
  xsString,
  type XsMessage,
} from "@pvkit/hypervisor-sim/abi";

let dir: string;
let xs: Xenstored;
let server: XenstoredSocketServer;
const sockets: Socket[] = [];

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "pvkit-xs-robust-"));
  xs = new Xenstored();
  server = await listenXenstored(xs, join(dir, "socket"));
});

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await server.close();
  xs.close();
  rmSync(dir, { recursive: true, force: true });
});

function connect(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createConnection(server.path, () => resolve(s));
    s.on("error", reject);
    sockets.push(s);
  });
}

/** A client with requests in flight matched by req_id; watch events are skipped. */
class Client {
  readonly #parser = new XsMessageParser();
  readonly #waiting = new Map<number, (m: XsMessage) => void>();
  #nextId = 1;
  closed = false;

  constructor(readonly sock: Socket) {
    sock.on("data", (b: Buffer) => {
      this.#parser.push(b);
      for (let m = this.#parser.next(); m !== undefined; m = this.#parser.next()) {
        if (m === XS_OVERSIZE) throw new Error("oversized reply");
        if (m.type === XS.XS_WATCH_EVENT) continue;
        const w = this.#waiting.get(m.req_id);
        this.#waiting.delete(m.req_id);
        w?.(m);
      }
    });
    sock.on("close", () => (this.closed = true));
  }

  static async open(): Promise<Client> {
    return new Client(await connect());
  }

  raw(type: number, payload: Uint8Array, tx_id = 0): Promise<XsMessage> {
    const req_id = this.#nextId++;
    return new Promise((resolve) => {
      this.#waiting.set(req_id, resolve);
      this.sock.write(encodeXsMessage({ type, req_id, tx_id, payload }));
    });
  }

  req(type: number, parts: string[], tx_id = 0, lastTerminated = true): Promise<XsMessage> {
    return this.raw(type, nulJoin(parts, lastTerminated), tx_id);
  }
}

const errorName = (m: XsMessage): string =>
  m.type === XS.XS_ERROR ? xsString(m.payload).replace(/\0$/, "") : `type ${m.type}`;

describe("socket robustness", () => {
  it("answers malformed requests with cxenstored's errors, and an oversized header drops only its client", async () => {
    const bad = await Client.open();
    const good = await Client.open();
    const replies = [
      await bad.raw(XS.XS_READ, Uint8Array.from([0x2f, 0x61])), // no NUL
      await bad.raw(XS.XS_WRITE, Uint8Array.from([0x2f])), // no NUL after the path
      await bad.req(XS.XS_SET_PERMS, ["/tool", "zz"]), // malformed permission
      await bad.raw(99, new Uint8Array(0)), // unknown type
      await bad.req(XS.XS_DIRECTORY_PART, ["/"]), // one string where two are needed
      await bad.req(XS.XS_TRANSACTION_END, ["T"], 77), // no such transaction
    ].map(errorName);
    expect(replies).toEqual(["EINVAL", "EINVAL", "EINVAL", "ENOSYS", "EINVAL", "ENOENT"]);
    const oversized = new Uint8Array(16);
    new DataView(oversized.buffer).setUint32(12, 5000, true);
    const closed = new Promise<void>((resolve) => bad.sock.once("close", () => resolve()));
    bad.sock.write(oversized);
    await closed;
    expect(bad.closed).toBe(true);
    expect((await good.req(XS.XS_READ, ["/tool/xenstored"])).type).toBe(XS.XS_READ);
  });

  it("keeps at most one queued event for a client that never reads, while 20 000 writes fire its watch", async () => {
    const silent = await connect();
    silent.pause();
    silent.write(
      encodeXsMessage({ type: XS.XS_WATCH, req_id: 1, tx_id: 0, payload: nulJoin(["/w", "tok"]) }),
    );
    const watching = () =>
      [...server.clients].find((c) => c.watches.some((w) => w.token === "tok"));
    while (watching() === undefined) await new Promise((r) => setTimeout(r, 5));
    const writer = await Client.open();
    for (let i = 0; i < 20_000; i++)
      expect((await writer.req(XS.XS_WRITE, ["/w", String(i)], 0, false)).type).toBe(XS.XS_WRITE);
    expect(watching()!.queuedCount).toBeLessThanOrEqual(1);
    expect(xsString((await writer.req(XS.XS_READ, ["/w"])).payload)).toBe("19999");
  }, 120_000);

  it("serves 200 clients running 100 READ+WRITE transactions each, every one committed (EAGAIN retried)", async () => {
    const clients = await Promise.all(Array.from({ length: 200 }, () => Client.open()));
    let commits = 0;
    const unexpected: string[] = [];
    await Promise.all(
      clients.map(async (c, ci) => {
        for (let t = 0; t < 100; t++) {
          for (;;) {
            const tx = Number(
              xsString((await c.req(XS.XS_TRANSACTION_START, [""])).payload).replace(/\0$/, ""),
            );
            const read = await c.req(XS.XS_READ, ["/tool/xenstored"], tx);
            const write = await c.req(XS.XS_WRITE, [`/t/${ci}`, String(t)], tx, false);
            if (read.type !== XS.XS_READ || write.type !== XS.XS_WRITE)
              unexpected.push(`${errorName(read)} ${errorName(write)}`);
            const end = await c.req(XS.XS_TRANSACTION_END, ["T"], tx);
            if (end.type !== XS.XS_ERROR) {
              commits++;
              break;
            }
            // Creating /t/<client> changes /t, which other clients' first transactions read.
            if (errorName(end) !== "EAGAIN") unexpected.push(errorName(end));
          }
        }
      }),
    );
    expect(unexpected).toEqual([]);
    expect(commits).toBe(20_000);
    expect(xsString((await clients[199]!.req(XS.XS_READ, ["/t/199"])).payload)).toBe("99");
    expect(server.clients.size).toBe(200);
    expect([...server.clients].every((c) => c.transactions.size === 0)).toBe(true);
  }, 120_000);
});
