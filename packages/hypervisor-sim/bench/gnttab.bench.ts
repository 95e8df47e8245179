/**
 * Grant table throughput: map+unmap pairs, and 4 KiB GNTTABOP_copy operations, between two
 * domains. The granter writes its v1 entries into its own grant-table frame, as a guest does.
 */
import { type Guest, Hypervisor } from "@pvkit/hypervisor-sim";
import {
  DOMID_SELF,
  GNTCOPY,
  GNTMAP,
  GNTTABOP,
  GTF,
  XEN_PAGE_SIZE,
} from "@pvkit/hypervisor-sim/abi";
import { bench, type BenchResult } from "./harness.js";

const MAP_GFN = 0x20000;

function grantPages(granter: Guest, grantee: number, count: number): number[] {
  const setup = { dom: DOMID_SELF, nr_frames: 1, status: 0, frame_list: [0] };
  if (
    granter.hypercall.grant_table_op(GNTTABOP.GNTTABOP_setup_table, [setup], 1) !== 0 ||
    setup.status !== 0
  ) {
    throw new Error("setup_table");
  }
  const table = granter.memory.writablePage(setup.frame_list[0]!);
  const refs: number[] = [];
  for (let i = 0; i < count; i++) {
    const ref = 8 + i;
    table.setU16(ref * 8 + 2, grantee);
    table.setU32(ref * 8 + 4, 0x100 + i);
    table.setU16(ref * 8, GTF.GTF_permit_access);
    refs.push(ref);
  }
  return refs;
}

function twoDomains(): { hv: Hypervisor; granter: Guest; grantee: Guest } {
  const hv = new Hypervisor({ mode: "manual" });
  hv.createDomain();
  const granter = hv.guest(hv.createDomain().domid);
  const grantee = hv.guest(0);
  return { hv, granter, grantee };
}

export function mapUnmapPairs(): BenchResult {
  const { granter, grantee } = twoDomains();
  const [ref] = grantPages(granter, grantee.domid, 1);
  const map = {
    host_addr: MAP_GFN * XEN_PAGE_SIZE,
    flags: GNTMAP.GNTMAP_host_map,
    ref: ref!,
    dom: granter.domid,
    status: 0,
    handle: 0,
    dev_bus_addr: 0,
  };
  const unmap = { host_addr: MAP_GFN * XEN_PAGE_SIZE, dev_bus_addr: 0, handle: 0, status: 0 };
  const maps = [map];
  const unmaps = [unmap];
  const hc = grantee.hypercall;
  return bench("grant map+unmap pairs (one ref, host_map)", (n) => {
    for (let i = 0; i < n; i++) {
      hc.grant_table_op(GNTTABOP.GNTTABOP_map_grant_ref, maps, 1);
      if (map.status !== 0) throw new Error(`map status ${map.status}`);
      unmap.handle = map.handle;
      hc.grant_table_op(GNTTABOP.GNTTABOP_unmap_grant_ref, unmaps, 1);
      if (unmap.status !== 0) throw new Error(`unmap status ${unmap.status}`);
    }
    return n;
  });
}

export function copies4k(batch: number): BenchResult {
  const { granter, grantee } = twoDomains();
  const refs = grantPages(granter, grantee.domid, batch);
  const ops = refs.map((ref, i) => ({
    source: { u: { gmfn: 0x200 + i }, domid: DOMID_SELF, offset: 0 },
    dest: { u: { ref }, domid: granter.domid, offset: 0 },
    len: XEN_PAGE_SIZE,
    flags: GNTCOPY.GNTCOPY_dest_gref,
    status: 0,
  }));
  const hc = grantee.hypercall;
  return bench(`grant copy 4 KiB (local frame → gref), batches of ${batch}`, (n) => {
    const rounds = Math.max(1, Math.floor(n / batch));
    for (let i = 0; i < rounds; i++) {
      hc.grant_table_op(GNTTABOP.GNTTABOP_copy, ops, batch);
      if (ops[0]!.status !== 0) throw new Error(`copy status ${ops[0]!.status}`);
    }
    return rounds * batch;
  });
}
