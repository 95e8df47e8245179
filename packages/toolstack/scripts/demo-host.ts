// A simulated host for scripts/xenstore-host-check.sh: dom0 with xenstored on a Unix socket and
// one guest, "demo", whose main talks to xenstored through its own ring (xenbus client):
//
// - at boot it writes data/hello = "world";
// - it watches data/trigger; each value "<seq> write <v>" makes it write data/reply = <v>,
//   and "<seq> read <path>" makes it read <path> and write data/result = "<seq> ok:<value>"
//   or "<seq> err:<code>" (EACCES when dom0 has made the node unreadable to it).
//
// Usage: tsx --conditions=@pvkit/source demo-host.ts <socket path> <ready file>
// The ready file receives the guest's domid once everything is up. SIGTERM/SIGINT close the host.
import { writeFileSync } from "node:fs";
import { createHost, type GuestContext } from "@pvkit/toolstack";

const [socketPath, readyFile] = process.argv.slice(2);
if (!socketPath || !readyFile) {
  console.error("usage: demo-host.ts <socket path> <ready file>");
  process.exit(2);
}

async function guestMain({ xenbus, signal }: GuestContext): Promise<void> {
  await xenbus.write("data/hello", "world");
  await new Promise<void>((resolve, reject) => {
    const sub = xenbus.watch("data/trigger").subscribe({
      next: () => {
        void handleTrigger(xenbus).catch(reject);
      },
      error: reject,
    });
    signal.addEventListener("abort", () => {
      sub.unsubscribe();
      resolve();
    });
  });
}

async function handleTrigger(xenbus: GuestContext["xenbus"]): Promise<void> {
  let value: string;
  try {
    value = await xenbus.read("data/trigger");
  } catch {
    return; // not written yet (the watch's initial event)
  }
  const [seq, cmd, arg = ""] = value.split(" ");
  if (cmd === "write") {
    await xenbus.write("data/reply", arg);
  } else if (cmd === "read") {
    const result = await xenbus.read(arg).then(
      (v) => `ok:${v}`,
      (e: { code?: string }) => `err:${e.code ?? "?"}`,
    );
    await xenbus.write("data/result", `${seq} ${result}`);
  }
}

const host = await createHost({ socketPath });
const domain = await host.createDomain({ name: "demo", main: guestMain });
domain.done.catch((err: unknown) => console.error("demo-host: guest main failed:", err));
host.on("domain-crashed", (c) => console.error(`demo-host: d${c.domid} crashed:`, c.error));
writeFileSync(readyFile, String(domain.domid));
console.log(`demo-host: xenstored on ${socketPath}; guest "demo" is d${domain.domid}`);

let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  void host.close().then(() => process.exit(0));
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
// Keep the process alive while the host serves (the socket server holds the event loop).
