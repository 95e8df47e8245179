/**
 * xenstore throughput: a guest's XenbusClient over its ring (in-process, through the real
 * event channels and ring page), and a dom0 tool speaking xs_wire over the Unix socket.
 * Each figure is for one client issuing requests back to back (one in flight), and with 16 in
 * flight (requests pipelined, replies matched by req_id on the ring, by order on the socket).
 * The ring figures are also given per CPU-second of this process (guest, hypervisor and
 * xenstored all run in it), which a machine shared with other work changes much less than the
 * wall-clock rate.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createConnection, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { XenbusClient } from "@pvkit/guest-sdk";
import { createHost, type Host } from "@pvkit/toolstack";
import { bench, type BenchResult } from "./harness.js";
import { decodeXsMessages, encodeXsMessage, XS } from "@pvkit/hypervisor-sim/abi";

/** A host with one guest whose xenbus client is handed out (main waits until the host closes). */
export async function guestClient(): Promise<{ host: Host; xenbus: XenbusClient }> {
  const host = await createHost();
  let resolveClient!: (c: XenbusClient) => void;
  const client = new Promise<XenbusClient>((r) => (resolveClient = r));
  await host.createDomain({
    name: "bench",
    main: async ({ xenbus, signal }) => {
      await xenbus.write("data/k", "v");
      resolveClient(xenbus);
      await new Promise<void>((r) => signal.addEventListener("abort", () => r()));
    },
  });
  return { host, xenbus: await client };
}

export async function inFlight(
  n: number,
  depth: number,
  op: () => Promise<unknown>,
): Promise<number> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      next++;
      await op();
    }
  };
  await Promise.all(Array.from({ length: depth }, worker));
  return n;
}

/** `n` operations `depth` at a time, as operations per CPU-second (user + system) of this process. */
async function perCpuSecond(
  name: string,
  n: number,
  depth: number,
  op: () => Promise<unknown>,
): Promise<BenchResult> {
  await inFlight(Math.min(n, 10_000), depth, op); // warm-up
  const c0 = process.cpuUsage();
  await inFlight(n, depth, op);
  const c = process.cpuUsage(c0);
  const rate = n / ((c.user + c.system) / 1e6);
  return { name, opsPerSec: rate, samples: [rate] };
}

export async function ringBenches(): Promise<BenchResult[]> {
  const { host, xenbus } = await guestClient();
  const out: BenchResult[] = [];
  for (const depth of [1, 16]) {
    out.push(
      await bench(`xenstore READ over the ring (guest XenbusClient, ${depth} in flight)`, (n) =>
        inFlight(n, depth, () => xenbus.read("data/k")),
      ),
    );
    out.push(
      await bench(`xenstore WRITE over the ring (guest XenbusClient, ${depth} in flight)`, (n) =>
        inFlight(n, depth, () => xenbus.write("data/k", "value")),
      ),
    );
  }
  for (const depth of [1, 16]) {
    out.push(
      await perCpuSecond(
        `  the same READ, ${depth} in flight, per CPU-second`,
        100_000,
        depth,
        () => xenbus.read("data/k"),
      ),
    );
    out.push(
      await perCpuSecond(
        `  the same WRITE, ${depth} in flight, per CPU-second`,
        100_000,
        depth,
        () => xenbus.write("data/k", "value"),
      ),
    );
  }
  await host.close();
  return out;
}

/** A minimal libxenstore-like socket client: requests in order, replies in order. */
class SocketClient {
  readonly #sock: Socket;
  #buf = new Uint8Array(0);
  readonly #waiters: ((payload: Uint8Array) => void)[] = [];

  constructor(sock: Socket) {
    this.#sock = sock;
    sock.on("data", (chunk: Buffer) => {
      const b = new Uint8Array(this.#buf.length + chunk.length);
      b.set(this.#buf);
      b.set(chunk, this.#buf.length);
      let off = 0;
      while (b.length - off >= 16) {
        const len = new DataView(b.buffer, b.byteOffset + off + 12, 4).getUint32(0, true);
        if (b.length - off < 16 + len) break;
        const [m] = decodeXsMessages(b.subarray(off, off + 16 + len));
        off += 16 + len;
        this.#waiters.shift()?.(m!.payload);
      }
      this.#buf = b.slice(off);
    });
  }

  request(type: number, payload: string): Promise<Uint8Array> {
    return new Promise((resolve) => {
      this.#waiters.push(resolve);
      this.#sock.write(
        encodeXsMessage({
          type,
          req_id: 0,
          tx_id: 0,
          payload: new Uint8Array(Buffer.from(payload, "latin1")),
        }),
      );
    });
  }
}

export async function socketBenches(): Promise<BenchResult[]> {
  const dir = mkdtempSync(join(tmpdir(), "pvkit-bench-"));
  const path = join(dir, "socket");
  const host = await createHost({ socketPath: path });
  const sock = await new Promise<Socket>((resolve, reject) => {
    const s = createConnection(path, () => resolve(s));
    s.on("error", reject);
  });
  sock.setNoDelay(true);
  const c = new SocketClient(sock);
  await c.request(XS.XS_WRITE, "/tool/bench\0v");
  const out: BenchResult[] = [];
  for (const depth of [1, 16]) {
    out.push(
      await bench(`xenstore READ over the Unix socket (xs_wire, ${depth} in flight)`, (n) =>
        inFlight(n, depth, () => c.request(XS.XS_READ, "/tool/bench\0")),
      ),
    );
    out.push(
      await bench(`xenstore WRITE over the Unix socket (xs_wire, ${depth} in flight)`, (n) =>
        inFlight(n, depth, () => c.request(XS.XS_WRITE, "/tool/bench\0value")),
      ),
    );
  }
  sock.destroy();
  await host.close();
  rmSync(dir, { recursive: true, force: true });
  return out;
}
