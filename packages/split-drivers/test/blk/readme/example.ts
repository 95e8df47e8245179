import { XenbusBus, driverEnv } from "@pvkit/guest-sdk";
import { LocalXenbusTransport } from "@pvkit/toolstack";
import { withHost } from "@pvkit/toolstack/testing";
import { Blkfront, serveBlkback } from "@pvkit/split-drivers";

/** A guest writes a sector through blkfront to dom0's blkback (a 1 MiB disk in memory) and reads it back. */
export async function example(): Promise<string> {
  return withHost(async (host) => {
    const xs = LocalXenbusTransport.open(host);
    const blkback = serveBlkback(host, { xs }); // dom0: storage from the vbd's type/params keys
    let text = "";
    const guest = await host.createDomain({
      name: "disk-user",
      devices: [{ kind: "vbd", vdev: "xvda", params: "memory:1048576" }],
      main: async (ctx) => {
        const bus = new XenbusBus(
          driverEnv({ guest: ctx.guest, events: ctx.events, xs: ctx.xenbus }),
        );
        const blk = Blkfront.register(bus);
        const disk = await blk.disk(51712); // xvda, once Connected
        await disk.writeSectors(8, new TextEncoder().encode("hello, disk".padEnd(512, "\0")));
        const back = await disk.readSectors(8, 1);
        text = new TextDecoder().decode(back.subarray(0, 11));
        await bus.close(); // Closing → Closed, everything released
      },
    });
    await host.until(guest.done, "the guest's disk I/O");
    await host.until(blkback.close(), "blkback closing");
    xs.close();
    return text;
  });
}
