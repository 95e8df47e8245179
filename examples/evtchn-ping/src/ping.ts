/**
 * The Xen wiki's event channel example, written against raw hypercalls so it reads like the C:
 *
 *   receiver: alloc_unbound(remote = sender) → port; grant a page to the sender; write the port
 *             and then "go" into it; wait for the event in its upcall.
 *   sender:   map the granted page; wait for "go"; read the port; bind_interdomain; send.
 *
 * The grant reference travels "by hand" (a function argument here), as the wiki has the user
 * type it in; real drivers publish it in xenstore.
 */
import { type Guest, Hypervisor, type Page } from "@pvkit/hypervisor-sim";
import {
  DOMID_SELF,
  EVTCHNOP,
  GNTMAP,
  GNTST,
  GNTTABOP,
  GTF,
  SCHEDOP,
  XENMAPSPACE,
  XENMEM,
  gntstName,
  XEN_PAGE_SIZE,
} from "@pvkit/hypervisor-sim/abi";

/** Byte layout of the shared page: a "go" flag and the port number. */
const GO_OFFSET = 0; // u8: 1 once the port is valid
const PORT_OFFSET = 4; // u32: the receiver's unbound port
const SHARED_GFN = 0x80; // the receiver's RAM page it grants
const SHINFO_GFN = 0x10000; // where each guest maps its shared_info
const MAP_GFN = 0x20000; // a hole in the sender's physmap for the foreign mapping
const GREF = 8; // first non-reserved grant reference

function check(what: string, rc: number): void {
  if (rc !== 0) throw new Error(`${what} failed: ${rc}`);
}

function mapSharedInfo(g: Guest): Page {
  check(
    "add_to_physmap(shared_info)",
    g.hypercall.memory_op(XENMEM.XENMEM_add_to_physmap, {
      domid: DOMID_SELF,
      space: XENMAPSPACE.XENMAPSPACE_shared_info,
      idx: 0,
      gpfn: SHINFO_GFN,
    }),
  );
  return g.memory.writablePage(SHINFO_GFN);
}

/** Runs the scenario; `log` receives each step. Resolves with the port the receiver saw. */
export async function runPing(log: (line: string) => void = console.log): Promise<number> {
  const hv = new Hypervisor();
  hv.createDomain({ name: "Domain-0" });
  const receiver = hv.guest(hv.createDomain({ name: "receiver" }).domid);
  const sender = hv.guest(hv.createDomain({ name: "sender" }).domid);

  // --- receiver -------------------------------------------------------------------------------
  const alloc = { dom: DOMID_SELF, remote_dom: sender.domid, port: 0 };
  check(
    "EVTCHNOP_alloc_unbound",
    receiver.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_alloc_unbound, alloc),
  );
  log(`receiver d${receiver.domid}: allocated unbound port ${alloc.port} for d${sender.domid}`);

  const sh = mapSharedInfo(receiver);
  const got = new Promise<number>((resolve) => {
    receiver.registerUpcall(0, () => {
      sh.setU8(0, 0); // evtchn_upcall_pending = 0, then look at the port's pending bit
      const byte = 0x800 + (alloc.port >>> 3);
      const bit = 1 << (alloc.port & 7);
      if (sh.getU8(byte) & bit) {
        sh.setU8(byte, sh.getU8(byte) & ~bit);
        sh.setU32(8, 0);
        sh.setU32(12, 0);
        resolve(alloc.port);
      }
    });
  });

  const setup = { dom: DOMID_SELF, nr_frames: 1, status: 0, frame_list: [0] };
  check(
    "GNTTABOP_setup_table",
    receiver.hypercall.grant_table_op(GNTTABOP.GNTTABOP_setup_table, [setup], 1),
  );
  check("setup_table status", setup.status);
  const table = receiver.memory.writablePage(setup.frame_list[0]!);
  // Grant: domid, frame, (barrier), then flags — the order grant_table.h asks for.
  table.setU16(GREF * 8 + 2, sender.domid);
  table.setU32(GREF * 8 + 4, SHARED_GFN);
  table.setU16(GREF * 8 + 0, GTF.GTF_permit_access);
  log(`receiver: granted gfn 0x${SHARED_GFN.toString(16)} to d${sender.domid} as gref ${GREF}`);

  // --- sender (runs concurrently) ----------------------------------------------------------
  const senderDone = (async () => {
    const map = {
      host_addr: MAP_GFN * XEN_PAGE_SIZE,
      flags: GNTMAP.GNTMAP_host_map,
      ref: GREF,
      dom: receiver.domid,
      status: 0,
      handle: 0,
      dev_bus_addr: 0,
    };
    check(
      "GNTTABOP_map_grant_ref",
      sender.hypercall.grant_table_op(GNTTABOP.GNTTABOP_map_grant_ref, [map], 1),
    );
    if (map.status !== GNTST.GNTST_okay) throw new Error(`map_grant_ref: ${gntstName(map.status)}`);
    const page = sender.memory.page(MAP_GFN);
    log(
      `sender d${sender.domid}: mapped gref ${GREF} of d${receiver.domid} (handle ${map.handle})`,
    );
    while (page.getU8(GO_OFFSET) !== 1) await sender.hypercall.sched_op(SCHEDOP.SCHEDOP_yield);
    const remotePort = page.getU32(PORT_OFFSET);
    log(`sender: saw "go", receiver's port is ${remotePort}`);
    const bind = { remote_dom: receiver.domid, remote_port: remotePort, local_port: 0 };
    check(
      "EVTCHNOP_bind_interdomain",
      sender.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_bind_interdomain, bind),
    );
    check(
      "EVTCHNOP_send",
      sender.hypercall.event_channel_op(EVTCHNOP.EVTCHNOP_send, { port: bind.local_port }),
    );
    log(`sender: bound local port ${bind.local_port} and sent`);
    const unmap = {
      host_addr: MAP_GFN * XEN_PAGE_SIZE,
      dev_bus_addr: 0,
      handle: map.handle,
      status: 0,
    };
    check(
      "GNTTABOP_unmap_grant_ref",
      sender.hypercall.grant_table_op(GNTTABOP.GNTTABOP_unmap_grant_ref, [unmap], 1),
    );
    check("unmap status", unmap.status);
  })();

  // --- receiver publishes the port, then "go" ------------------------------------------------
  const shared = receiver.memory.writablePage(SHARED_GFN);
  shared.setU32(PORT_OFFSET, alloc.port);
  shared.setU8(GO_OFFSET, 1);
  log(`receiver: wrote port ${alloc.port} and "go"`);

  const [port] = await Promise.all([got, senderDone]);
  log(`receiver: upcall saw an event on port ${port}`);
  return port;
}
