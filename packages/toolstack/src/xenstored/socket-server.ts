/**
 * xenstored's Unix socket (`/var/run/xenstored/socket` on a real host): every accepted client is
 * a privileged dom0 tool speaking `xs_wire`, so libxenstore programs pointed at the socket with
 * `XENSTORED_PATH=<path>` (Debian's `xenstore-read`, `-write`, `-ls`, `-watch` ...) work against a
 * simulated host. Output respects the socket's backpressure: once Node's buffer is full (`write`
 * returns false) messages wait on the connection until `drain` (cxenstored's `out_list`,
 * written as the socket polls writable).
 *
 * Replies are coalesced: the requests of one received chunk are processed in batches of
 * {@link XENSTORED_SOCKET_BATCH}, and what each batch queued leaves in one `write` as soon as the
 * batch is done. A client with many requests in flight thus gets its first replies (and sends
 * its next requests) while the rest of its chunk is still being processed, instead of waiting
 * for the whole chunk. Output queued outside a chunk (watch events fired by another client's
 * request) is written once the current task is done (a microtask), so the events one request
 * fires on a connection also share one write. Order is unchanged.
 */
import { lstatSync, unlinkSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import type { Connection } from "./connection.js";
import type { Xenstored } from "./xenstored.js";

/**
 * The node flags for a process that serves xenstored as a daemon (its socket, as
 * `bench/cxenstored/pvkit-daemon.ts` does): `--max-semi-space-size=1` caps each of V8's two
 * young-generation semi-spaces at 1 MiB. Under a stream of requests, each of which allocates a
 * few hundred short-lived bytes, node's default lets them grow to 16 MiB each, and what they grew
 * to stays resident. Measured with `bench:cxenstored`'s client on this repository's machine:
 * VmRSS growth for 10 000 nodes 2.7–4.3 MB with the flag against 7.9–8.4 MB without (cxenstored
 * 1.3 MB), and no measurable change in ops/s or CPU per request on the socket (the live young
 * set is a few KiB, so a scavenge copies as little from 1 MiB as from 16). Pass them before the
 * script: `node ${XENSTORED_DAEMON_NODE_FLAGS.join(" ")} daemon.js`.
 */
export const XENSTORED_DAEMON_NODE_FLAGS: readonly string[] = Object.freeze([
  "--max-semi-space-size=1",
]);

/**
 * Requests of one received chunk processed before their replies are written (one `write` per
 * batch). Measured with `bench:cxenstored`'s client (`xsbench -c 1 -d 16`, 16 requests in
 * flight on one connection), 5 alternating runs of 3 s each against one write per chunk, load
 * average 4: medians READ 148k/s against 136k/s, WRITE 111k against 101k, DIRECTORY 134k against
 * 97k, transactions 34k against 30k. A client with one request in flight sends one per chunk and
 * is not affected.
 */
const XENSTORED_SOCKET_BATCH = 8;

/** A listening socket server; `close()` stops it and removes the socket file. */
export interface XenstoredSocketServer {
  /** The socket path. */
  readonly path: string;
  /** Live client connections. */
  readonly clients: ReadonlySet<Connection>;
  /** Stops accepting, closes every client, removes the socket file. Idempotent. */
  close(): Promise<void>;
}

function removeStaleSocket(path: string): void {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new Error(`${path} exists and is not a socket; refusing to replace it`);
  unlinkSync(path);
}

/**
 * Listens on Unix socket `path` (a stale socket file there is removed first).
 * @throws Error if `path` is a non-socket file or cannot be bound.
 */
export async function listenXenstored(xs: Xenstored, path: string): Promise<XenstoredSocketServer> {
  removeStaleSocket(path);
  const clients = new Set<Connection>();
  const sockets = new Set<Socket>();
  const server: Server = createServer((sock) => {
    const conn = xs.connect("socket");
    clients.add(conn);
    sockets.add(sock);
    // Output goes to the socket only while it accepts more (`write` returned true, or `drain`
    // came); otherwise it stays queued on the connection, where an identical watch event is
    // dropped (`send_event`) instead of piling up in Node's buffer for a client that never reads.
    let blocked = false;
    /** Requests of a received chunk are being processed: their output waits for the chunk's end. */
    let receiving = false;
    let scheduled = false;
    const flush = (): void => {
      scheduled = false;
      if (!blocked && !sock.destroyed && conn.queuedCount > 0) {
        if (!sock.write(conn.drainBytes())) blocked = true;
      }
    };
    sock.on("drain", () => {
      blocked = false;
      flush();
    });
    conn.on("output", () => {
      if (receiving || scheduled || blocked) return;
      scheduled = true;
      queueMicrotask(flush);
    });
    // Replies queued before the close (a valid request ahead of an oversized one) still leave.
    conn.on("closing", flush);
    conn.on("close", (reason) => {
      clients.delete(conn);
      // An oversized request drops the client at once; other closes let queued bytes flush.
      if (reason === "oversize") sock.destroy();
      else sock.end();
    });
    /** Requests of the current chunk processed since its last write. */
    let batched = 0;
    const afterEach = (): void => {
      if (++batched < XENSTORED_SOCKET_BATCH) return;
      batched = 0;
      flush();
    };
    sock.on("data", (chunk: Buffer) => {
      receiving = true;
      batched = 0;
      try {
        conn.receive(chunk, afterEach);
      } finally {
        receiving = false;
      }
      flush();
    });
    sock.on("error", () => conn.close("closed"));
    sock.on("close", () => {
      sockets.delete(sock);
      conn.close("closed");
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(path, () => {
      server.off("error", reject);
      resolve();
    });
  });
  let closing: Promise<void> | undefined;
  return {
    path,
    clients,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => {
          try {
            unlinkSync(path);
          } catch {
            // already gone
          }
          resolve();
        });
        for (const c of [...clients]) c.close("server-closed");
        for (const s of sockets) s.destroy();
      });
      return closing;
    },
  };
}
