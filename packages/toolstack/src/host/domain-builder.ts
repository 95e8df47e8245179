/**
 * The hypervisor half of building a PV domain, as libxl/libxc 4.17 do it
 * (`libxl__build_pre`, `xc_dom_boot_image`, `start_info_x86_64`, `xc_dom_gnttab_seed`,
 * `arch_setup_bootlate`), issued from dom0:
 *
 * 1. `libxl__build_pre`: EVTCHNOP_alloc_unbound(dom = guest, remote_dom = xenstore domain) for
 *    the store port, then the same for the console backend's port (so store = 1, console = 2);
 * 2. the xenstore and console ring pages are zeroed RAM pages of the guest (boot-layout.ts);
 * 3. shared_info is placed at its GFN with XENMEM_add_to_physmap on the guest's behalf, as
 *    `arch_setup_bootlate` does for a translated guest;
 * 4. `start_info` is written byte-exact (`start_info_x86_64`): magic "xen-3.0-x86_64",
 *    nr_pages, shared_info = GFN << 12, flags 0 (SIF_PRIVILEGED/SIF_INITDOMAIN are dom0's),
 *    store_mfn/store_evtchn, console.domU.mfn/evtchn, cmd_line; page-table and p2m fields are 0
 *    (a translated guest has none);
 * 5. `xc_dom_gnttab_seed`: GNTTABOP_setup_table(dom = guest) finds the guest's grant frame 0,
 *    dom0 maps it and writes ref 0 (GNTTAB_RESERVED_CONSOLE → console domain) and ref 1
 *    (GNTTAB_RESERVED_XENSTORE → xenstore domain): `{ flags: GTF_permit_access, domid, frame }`.
 *    As libxc, no entry is written when the backend is the guest itself.
 */
import type { Guest, Hypervisor, Page } from "@pvkit/hypervisor-sim";
import {
  GNTTAB_RESERVED_CONSOLE,
  GNTTAB_RESERVED_XENSTORE,
  GRANT_ENTRY_V1_SIZE,
  GTF,
  XENMAPSPACE,
  XENMEM,
  XEN_PAGE_SHIFT,
  grant_entry_v1,
  writeStartInfo,
  type StartInfoInit,
} from "@pvkit/hypervisor-sim/abi";
import { XenError } from "@pvkit/guest-sdk";
import { evtchnAllocUnbound, setupTable } from "@pvkit/guest-sdk/hypercall";
import type { BootLayout } from "./boot-layout.js";
import { mapForeignPages } from "./foreign-memory.js";

/** What the builder set up. */
export interface BuiltDomain {
  readonly storePort: number;
  readonly consolePort: number;
  /** GFN of the guest's grant frame 0 (where setup_table placed it). */
  readonly grantFrameGfn: number;
}

/** Inputs of {@link buildDomain}. */
export interface BuildRequest {
  readonly hv: Hypervisor;
  /** Dom0's guest handle: every hypercall is issued from it. */
  readonly dom0: Guest;
  readonly domid: number;
  readonly nrPages: number;
  readonly layout: BootLayout;
  /** The xenstore domain (0 here). */
  readonly xenstoreDomid: number;
  /** The console backend domain (0 here). */
  readonly consoleDomid: number;
  /** `start_info.cmd_line` (at most 1023 ASCII bytes). */
  readonly cmdline: string;
}

/** Writes one v1 grant entry: frame and domid first, flags last (what makes it live). */
function seedGrant(
  table: Page,
  ref: number,
  guestDomid: number,
  backend: number,
  gfn: number,
): void {
  if (backend === guestDomid) return;
  const off = ref * GRANT_ENTRY_V1_SIZE;
  table.setU32(off + grant_entry_v1.frame[0], gfn);
  table.setU16(off + grant_entry_v1.domid[0], backend);
  table.setU16(off + grant_entry_v1.flags[0], GTF.GTF_permit_access);
}

/**
 * Builds the guest's boot state (the domain exists and is paused).
 * @throws XenError / GrantStatusError from a hypercall or a foreign map, HostError from a foreign map,
 *   RangeError from the start_info writer.
 */
export function buildDomain(req: BuildRequest): BuiltDomain {
  const { dom0, domid, layout } = req;
  const hc = dom0.hypercall;
  const storePort = evtchnAllocUnbound(hc, req.xenstoreDomid, domid);
  const consolePort = evtchnAllocUnbound(hc, req.consoleDomid, domid);

  const [grantFrameGfn] = setupTable(hc, 1, domid);
  using boot = mapForeignPages(dom0, domid, [
    layout.xenstoreGfn,
    layout.consoleGfn,
    layout.startInfoGfn,
    grantFrameGfn!,
  ]);
  const [xenstorePage, consolePage, startInfoPage, table] = boot.pages as [Page, Page, Page, Page];
  xenstorePage.fill(0);
  consolePage.fill(0);

  const a = {
    domid,
    space: XENMAPSPACE.XENMAPSPACE_shared_info,
    idx: 0,
    gpfn: layout.sharedInfoGfn,
  };
  XenError.check(
    "XENMEM_add_to_physmap",
    hc.memory_op(XENMEM.XENMEM_add_to_physmap, a),
    () => `shared_info of d${domid}`,
  );

  const si: StartInfoInit = {
    nr_pages: req.nrPages,
    shared_info: layout.sharedInfoGfn * 2 ** XEN_PAGE_SHIFT,
    flags: 0,
    store_mfn: layout.xenstoreGfn,
    store_evtchn: storePort,
    console: { kind: "domU", mfn: layout.consoleGfn, evtchn: consolePort },
    cmd_line: req.cmdline,
  };
  writeStartInfo(startInfoPage, si);
  seedGrant(table, GNTTAB_RESERVED_CONSOLE, domid, req.consoleDomid, layout.consoleGfn);
  seedGrant(table, GNTTAB_RESERVED_XENSTORE, domid, req.xenstoreDomid, layout.xenstoreGfn);
  return { storePort, consolePort, grantFrameGfn: grantFrameGfn! };
}
