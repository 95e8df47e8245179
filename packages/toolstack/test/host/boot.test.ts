// The guest's boot state as the domain builder leaves it, read back through the guest's own
// memory and hypercalls: start_info bytes, reserved grant entries, event channels, ring pages.
import { describe, expect, it } from "vitest";
import { GNTTAB_GFN_BASE } from "@pvkit/hypervisor-sim";
import {
  decodeXsMessages,
  encodeXsMessage,
  GNTMAP,
  XEN_PAGE_SHIFT,
  xenstore_domain_interface,
  XS,
} from "@pvkit/hypervisor-sim/abi";
import {
  ByteRingReader,
  ByteRingWriter,
  xenstoreRequestRing,
  xenstoreResponseRing,
} from "@pvkit/guest-sdk";
import {
  evtchnSend,
  evtchnStatus,
  mapGrantRefs,
  setupTable,
  unmapGrantRefs,
} from "@pvkit/guest-sdk/hypercall";
import { bootLayout, type GuestContext } from "@pvkit/toolstack";
import { useHost } from "@pvkit/toolstack/testing";
import { inspectDomain } from "@pvkit/hypervisor-sim/inspect";

/** The start_info bytes of `xen.h` `struct start_info` (x86_64), built field by field. */
function expectedStartInfo(f: {
  nrPages: number;
  sharedInfo: number;
  storeMfn: number;
  storeEvtchn: number;
  consoleMfn: number;
  consoleEvtchn: number;
  cmdline: string;
}): Uint8Array {
  const b = new Uint8Array(4096);
  const dv = new DataView(b.buffer);
  b.set(Buffer.from("xen-3.0-x86_64", "ascii"), 0); // magic @0, NUL-padded to 32
  dv.setBigUint64(32, BigInt(f.nrPages), true); // nr_pages
  dv.setBigUint64(40, BigInt(f.sharedInfo), true); // shared_info
  dv.setUint32(48, 0, true); // flags: a domU has neither SIF_PRIVILEGED nor SIF_INITDOMAIN
  dv.setBigUint64(56, BigInt(f.storeMfn), true); // store_mfn
  dv.setUint32(64, f.storeEvtchn, true); // store_evtchn
  dv.setBigUint64(72, BigInt(f.consoleMfn), true); // console.domU.mfn
  dv.setUint32(80, f.consoleEvtchn, true); // console.domU.evtchn
  // pt_base @88, nr_pt_frames @96, mfn_list @104, mod_start @112, mod_len @120: 0
  b.set(Buffer.from(f.cmdline, "ascii"), 128); // cmd_line
  // first_p2m_pfn @1152, nr_p2m_frames @1160: 0
  return b;
}

describe("domain builder: boot state", () => {
  const host = useHost();

  it("writes start_info byte for byte as the documented layout, at the documented GFN", async () => {
    let seen: GuestContext | undefined;
    const d = await host().createDomain({
      name: "si",
      memory: 8,
      cmdline: "console=hvc0 quiet",
      main: (ctx) => void (seen = ctx),
    });
    await d.done;
    const layout = bootLayout(8 * 256);
    expect(d.layout).toEqual(layout);
    expect(layout).toEqual({
      startInfoGfn: 1,
      xenstoreGfn: 2,
      consoleGfn: 3,
      sharedInfoGfn: GNTTAB_GFN_BASE - 1,
    });
    // The guest's own view of its page: the whole page, so bytes past the struct must be 0 too.
    const page = seen!.guest.memory.page(layout.startInfoGfn).read(0, 4096);
    const want = expectedStartInfo({
      nrPages: 2048,
      sharedInfo: layout.sharedInfoGfn * 4096,
      storeMfn: layout.xenstoreGfn,
      storeEvtchn: d.storePort,
      consoleMfn: layout.consoleGfn,
      consoleEvtchn: d.consolePort,
      cmdline: "console=hvc0 quiet",
    });
    expect(Buffer.from(page).toString("hex")).toBe(Buffer.from(want).toString("hex"));
    expect(seen!.startInfoGfn).toBe(1);
    expect(seen!.startInfo.store_evtchn).toBe(d.storePort);
  });

  it("allocates the store port then the console port in the guest, both bound by dom0 before main runs", async () => {
    let ports: [string, string] | undefined;
    const d = await host().createDomain({
      name: "ports",
      main: ({ guest, startInfo }) => {
        const show = (port: number): string => {
          const s = evtchnStatus(guest.hypercall, port);
          return s.state === "unbound" || s.state === "interdomain"
            ? `${s.state}:${s.remoteDom}`
            : s.state;
        };
        ports = [
          show(startInfo.store_evtchn),
          show(startInfo.console.kind === "domU" ? startInfo.console.evtchn : -1),
        ];
      },
    });
    await d.done;
    expect([d.storePort, d.consolePort]).toEqual([1, 2]);
    // xenstored bound the store port on INTRODUCE; xenconsoled the console port (its
    // @introduceDomain watch runs console_create_ring), as on a real host.
    expect(ports).toEqual(["interdomain:0", "interdomain:0"]);
    const dom0 = inspectDomain(host().hv, 0)!.evtchn;
    const local = host().xenconsoled!.console(d.domid)!.localPort!;
    expect([dom0.remoteDom[local], dom0.remotePort[local]]).toEqual([d.domid, 2]);
  });

  it("places shared_info where start_info says and the guest's event channels use it", async () => {
    let gfn: number | undefined;
    const d = await host().createDomain({
      name: "shinfo",
      main: ({ startInfo }) => void (gfn = startInfo.shared_info >> XEN_PAGE_SHIFT),
    });
    await d.done;
    expect(gfn).toBe(d.layout.sharedInfoGfn);
    const dom = host().hv.domainById(d.domid)!;
    expect(dom.sharedInfoGfn).toBe(d.layout.sharedInfoGfn);
  });

  it("creates a guest with libxl's max_evtchn_port 1023, while dom0 (Xen's create_dom0) has INT_MAX", async () => {
    const d = await host().createDomain({ name: "ports" });
    await d.done;
    expect(inspectDomain(host().hv, d.domid)!.evtchn.maxEvtchnPort).toBe(1023);
    expect(inspectDomain(host().hv, 0)!.evtchn.maxEvtchnPort).toBe(0x7fff_ffff);
  });

  it("writes reserved grant refs 0 (console) and 1 (xenstore) for dom0 in the guest's grant frame", async () => {
    let entries: number[][] = [];
    let frameGfn: number | undefined;
    const d = await host().createDomain({
      name: "grants",
      main: ({ guest }) => {
        [frameGfn] = setupTable(guest.hypercall, 1); // what the guest itself finds
        const t = guest.memory.page(frameGfn!);
        entries = [];
        for (let ref = 0; ref < 8; ref++)
          entries.push([t.getU16(ref * 8), t.getU16(ref * 8 + 2), t.getU32(ref * 8 + 4)]);
      },
    });
    await d.done;
    expect(frameGfn).toBe(GNTTAB_GFN_BASE);
    // { flags, domid, frame }: GTF_permit_access (1) to dom0, with GTF_reading|GTF_writing while
    // xenconsoled maps ref 0 and xenstored maps ref 1.
    expect(entries[0]).toEqual([1 | 0x8 | 0x10, 0, d.layout.consoleGfn]);
    expect(entries[1]).toEqual([1 | 0x8 | 0x10, 0, d.layout.xenstoreGfn]);
    for (let ref = 2; ref < 8; ref++) expect(entries[ref]).toEqual([0, 0, 0]);
  });

  it("lets dom0 map the console page through reserved ref 0 (what xenconsoled does)", async () => {
    let consolePage: ReturnType<GuestContext["guest"]["memory"]["writablePage"]> | undefined;
    const d = await host().createDomain({
      name: "cons",
      main: ({ guest, startInfo }) =>
        void (consolePage = guest.memory.writablePage(
          startInfo.console.kind === "domU" ? startInfo.console.mfn : -1,
        )),
    });
    await d.done;
    const g0 = host().dom0.guest;
    const gfn = GNTTAB_GFN_BASE - 100;
    const [op] = mapGrantRefs(g0.hypercall, [
      { host_addr: gfn << XEN_PAGE_SHIFT, flags: GNTMAP.GNTMAP_host_map, ref: 0, dom: d.domid },
    ]);
    expect(consolePage!.read(0, 4096).every((b) => b === 0)).toBe(true); // zeroed by the builder
    g0.memory.writablePage(gfn).setU32(3084, 7); // out_prod, seen by the guest
    expect(consolePage!.getU32(3084)).toBe(7);
    unmapGrantRefs(g0.hypercall, [
      { host_addr: gfn << XEN_PAGE_SHIFT, dev_bus_addr: 0, handle: op!.handle! },
    ]);
  });

  it("lets the guest find its xenstore ring through start_info and talk to xenstored over it", async () => {
    let reply = "";
    const d = await host().createDomain({
      name: "ring",
      main: async ({ guest, events, startInfo }) => {
        const page = guest.memory.writablePage(startInfo.store_mfn);
        const ch = events.adopt(startInfo.store_evtchn);
        expect(page.getU32(xenstore_domain_interface.connection[0])).toBe(0);
        const req = new ByteRingWriter(page, xenstoreRequestRing);
        const rsp = new ByteRingReader(page, xenstoreResponseRing);
        req.write(
          encodeXsMessage({
            type: XS.XS_READ,
            req_id: 9,
            tx_id: 0,
            payload: Buffer.from("name\0"),
          }),
        );
        const before = ch.count;
        evtchnSend(guest.hypercall, startInfo.store_evtchn);
        await ch.waitFor(before);
        const [m] = decodeXsMessages(rsp.read());
        reply = `${m!.type}/${m!.req_id}/${Buffer.from(m!.payload).toString("latin1")}`;
        ch.close();
      },
    });
    await d.done;
    expect(reply).toBe(`${XS.XS_READ}/9/ring`);
  });

  it("issues every build hypercall from dom0 (alloc_unbound with dom = the guest)", async () => {
    const calls: string[] = [];
    host().hv.trace.on("hypercall", (e) => {
      if (e.cmd === "EVTCHNOP_alloc_unbound")
        calls.push(`d${e.domid} ${JSON.stringify(e.args)} -> ${e.result}`);
    });
    const d = await host().createDomain({ name: "trace" });
    expect(calls).toEqual([
      `d0 {"dom":${d.domid},"remote_dom":0,"port":1} -> 0`,
      `d0 {"dom":${d.domid},"remote_dom":0,"port":2} -> 0`,
    ]);
  });
});
