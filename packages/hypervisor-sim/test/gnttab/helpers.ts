/**
 * Guest-side helpers for the grant-table tests: everything goes through hypercalls and guest
 * memory, as a guest kernel would do it.
 */
import { Hypervisor, type Domain } from "@pvkit/hypervisor-sim";
import {
  DOMID_SELF,
  GNTMAP,
  GNTTABOP,
  GTF,
  XENMAPSPACE,
  XENMEM,
  type gnttab_copy,
  type gnttab_map_grant_ref,
  type gnttab_setup_table,
  type gnttab_unmap_grant_ref,
} from "@pvkit/hypervisor-sim/abi";

/** A GFN above RAM where tests place grant mappings. */
export const MAP_GFN = 0x20000;

export interface World {
  hv: Hypervisor;
  dom0: Domain;
  a: Domain;
  b: Domain;
}

/** dom0 plus two domUs, in manual mode. */
export function world(
  opts: {
    a?: Parameters<Hypervisor["createDomain"]>[0];
    b?: Parameters<Hypervisor["createDomain"]>[0];
  } = {},
): World {
  const hv = new Hypervisor({ mode: "manual" });
  const dom0 = hv.createDomain();
  const a = hv.createDomain(opts.a);
  const b = hv.createDomain(opts.b);
  return { hv, dom0, a, b };
}

/** setup_table for the caller's own table; returns the frame GFNs. */
export function setupTable(hv: Hypervisor, domid: number, nrFrames = 1): number[] {
  const op: gnttab_setup_table = {
    dom: DOMID_SELF,
    nr_frames: nrFrames,
    frame_list: new Array<number>(nrFrames).fill(0),
  };
  const rc = hv.guest(domid).hypercall.grant_table_op(GNTTABOP.GNTTABOP_setup_table, [op], 1);
  if (rc !== 0 || op.status !== 0)
    throw new Error(`setup_table failed: rc ${rc} status ${op.status}`);
  return op.frame_list;
}

/** Where entry `ref` of a table sits, given the frame GFNs from setup_table. */
function entryPage(hv: Hypervisor, domid: number, ref: number) {
  const gfns = setupTable(hv, domid, Math.floor(ref / 512) + 1);
  const page = hv.guest(domid).memory.writablePage(gfns[Math.floor(ref / 512)]!);
  return { page, off: (ref % 512) * 8 };
}

/** The guest grants `frame` (one of its GFNs) to `grantee`: domid, frame, then flags. */
export function grant(
  hv: Hypervisor,
  granter: number,
  ref: number,
  grantee: number,
  frame: number,
  flags: number = GTF.GTF_permit_access,
): void {
  const { page, off } = entryPage(hv, granter, ref);
  page.setU16(off + 2, grantee);
  page.setU32(off + 4, frame);
  page.setU16(off, flags);
}

/** The entry's flags as the granter sees them. */
export function flagsOf(hv: Hypervisor, granter: number, ref: number): number {
  const { page, off } = entryPage(hv, granter, ref);
  return page.getU16(off);
}

/** The guest writes raw flags (e.g. to revoke). */
export function setFlags(hv: Hypervisor, granter: number, ref: number, flags: number): void {
  const { page, off } = entryPage(hv, granter, ref);
  page.setU16(off, flags);
}

/** XSA-396 end-access: cmpxchg flags to 0 only if neither reading nor writing is set. */
export function endAccess(hv: Hypervisor, granter: number, ref: number): boolean {
  const { page, off } = entryPage(hv, granter, ref);
  const f = page.getU16(off);
  if ((f & (GTF.GTF_reading | GTF.GTF_writing)) !== 0) return false;
  page.setU16(off, 0);
  return true;
}

/** One map_grant_ref element, issued by `mapper`. */
export function mapOp(
  hv: Hypervisor,
  mapper: number,
  op: gnttab_map_grant_ref,
): gnttab_map_grant_ref {
  const rc = hv.guest(mapper).hypercall.grant_table_op(GNTTABOP.GNTTABOP_map_grant_ref, [op], 1);
  if (rc !== 0) throw new Error(`map hypercall rc ${rc}`);
  return op;
}

/** Host-map `ref` of `granter` at `gfn` of `mapper`. */
export function map(
  hv: Hypervisor,
  mapper: number,
  granter: number,
  ref: number,
  gfn = MAP_GFN,
  readonly = false,
): gnttab_map_grant_ref {
  const flags = GNTMAP.GNTMAP_host_map | (readonly ? GNTMAP.GNTMAP_readonly : 0);
  return mapOp(hv, mapper, { host_addr: gfn * 4096, flags, ref, dom: granter });
}

/** Unmap a host mapping at `gfn`. */
export function unmap(
  hv: Hypervisor,
  mapper: number,
  handle: number,
  gfn = MAP_GFN,
  devBusAddr = 0,
): gnttab_unmap_grant_ref {
  const op: gnttab_unmap_grant_ref = { host_addr: gfn * 4096, dev_bus_addr: devBusAddr, handle };
  const rc = hv.guest(mapper).hypercall.grant_table_op(GNTTABOP.GNTTABOP_unmap_grant_ref, [op], 1);
  if (rc !== 0) throw new Error(`unmap hypercall rc ${rc}`);
  return op;
}

/** One copy element issued by `caller`. */
export function copy(hv: Hypervisor, caller: number, op: gnttab_copy): gnttab_copy {
  const rc = hv.guest(caller).hypercall.grant_table_op(GNTTABOP.GNTTABOP_copy, [op], 1);
  if (rc !== 0) throw new Error(`copy hypercall rc ${rc}`);
  return op;
}

/** GTF_reading | GTF_writing of an entry. */
export function rwBits(hv: Hypervisor, granter: number, ref: number): number {
  return flagsOf(hv, granter, ref) & (GTF.GTF_reading | GTF.GTF_writing);
}

/**
 * The privileged `mapper` maps GFN `idx` of domain `foreign` at its own GFN `gpfn` with
 * XENMEM_add_to_physmap_batch / XENMAPSPACE_gmfn_foreign (a `p2m_map_foreign` entry).
 */
export function mapForeign(
  hv: Hypervisor,
  mapper: number,
  foreign: number,
  idx: number,
  gpfn: number,
): void {
  const b = {
    domid: DOMID_SELF,
    space: XENMAPSPACE.XENMAPSPACE_gmfn_foreign,
    size: 1,
    u: { foreign_domid: foreign },
    idxs: [idx],
    gpfns: [gpfn],
    errs: [1],
  };
  const rc = hv.guest(mapper).hypercall.memory_op(XENMEM.XENMEM_add_to_physmap_batch, b);
  if (rc !== 0 || b.errs[0] !== 0)
    throw new Error(`add_to_physmap_batch(gmfn_foreign) failed: rc ${rc} err ${b.errs[0]}`);
}
