/**
 * The xenstore tree libxl 4.17 writes for a new PV domain, in libxl's order and with its
 * permissions:
 *
 * - `libxl__domain_make` (libxl_create.c), one transaction: `/local/domain/<id>` and
 *   `/vm/<uuid>` read-only to the guest (`n0 r<id>`), `/libxl/<id>` dom0-only (`n0`), the
 *   `vm` and `name` keys, `cpu`, `memory`, `device` and `control` read-only to the guest;
 *   `device/suspend/event-channel`, `control/shutdown`, `control/feature-*`, `control/sysrq`,
 *   `data`, `drivers`, `feature`, `attr` and `error` owned by the guest (`n<id>`);
 *   `/vm/<uuid>/uuid` and `name`; `control/platform-feature-*`; `/libxl/<id>/type`.
 * - `libxl__build_post` (libxl_dom.c), one transaction: `memory/static-max`, `memory/target`,
 *   `memory/videoram`, `domid`, `store/port`, `store/ring-ref` (the ring's frame number, a GFN
 *   here), `cpu/<n>/availability`, then `/vm/<uuid>/image/ostype`, `image/kernel`,
 *   `start_time`; then INTRODUCE.
 *
 * Keys written into an existing directory inherit its permissions, as in xenstored.
 */
import type { XsSession } from "./xs-session.js";

/** What the tree needs to know about the domain being built. */
export interface DomainTreeInfo {
  readonly domid: number;
  readonly name: string;
  readonly uuid: string;
  /** Guest RAM in KiB (`max_memkb` = `target_memkb` for these guests). */
  readonly memoryKb: number;
  readonly vcpus: number;
  readonly storePort: number;
  /** The xenstore ring's frame number (`store_mfn`; a GFN for a translated guest). */
  readonly storeGfn: number;
  /** `start_time` as libxl formats it: seconds "." centiseconds. */
  readonly startTime: string;
  /** `/vm/<uuid>/image/kernel`. */
  readonly kernel: string;
}

/** `/local/domain/<id>`. */
export function domPath(domid: number): string {
  return `/local/domain/${domid}`;
}

/** `/libxl/<id>` (`libxl__xs_libxl_path`). */
export function libxlPath(domid: number): string {
  return `/libxl/${domid}`;
}

/** `/vm/<uuid>`. */
export function vmPath(uuid: string): string {
  return `/vm/${uuid}`;
}

/**
 * `libxl__domain_make`'s transaction (the xenstore half): stale nodes of an earlier domain with
 * the same paths are removed first.
 */
export function writeDomainSkeleton(xs: XsSession, info: DomainTreeInfo): void {
  const { domid } = info;
  const dom = domPath(domid);
  const vm = vmPath(info.uuid);
  const lx = libxlPath(domid);
  const noperm = ["n0"];
  const roperm = ["n0", `r${domid}`];
  const rwperm = [`n${domid}`];
  xs.transaction((t) => {
    xs.rm(dom, t);
    xs.mknod(dom, roperm, t);
    xs.rm(vm, t);
    xs.mknod(vm, roperm, t);
    xs.rm(lx, t);
    xs.mknod(lx, noperm, t);
    xs.mknod(`${lx}/device`, noperm, t);
    xs.write(`${dom}/vm`, vm, t);
    // libxl__domain_rename: the name, in the domain and in /vm.
    xs.write(`${dom}/name`, info.name, t);
    xs.mknod(`${dom}/cpu`, roperm, t);
    xs.mknod(`${dom}/memory`, roperm, t);
    xs.mknod(`${dom}/device`, roperm, t);
    xs.mknod(`${dom}/device/suspend/event-channel`, rwperm, t);
    xs.mknod(`${dom}/control`, roperm, t);
    for (const k of [
      "shutdown",
      "feature-poweroff",
      "feature-reboot",
      "feature-suspend",
      "sysrq",
    ]) {
      xs.mknod(`${dom}/control/${k}`, rwperm, t);
    }
    for (const k of ["data", "drivers", "feature", "attr", "error"])
      xs.mknod(`${dom}/${k}`, rwperm, t);
    xs.write(`${vm}/uuid`, info.uuid, t);
    xs.write(`${vm}/name`, info.name, t);
    xs.write(`${dom}/control/platform-feature-multiprocessor-suspend`, "1", t);
    xs.write(`${dom}/control/platform-feature-xs_reset_watches`, "1", t);
    xs.write(`${lx}/type`, "pv", t);
  });
}

/** `libxl__build_post`'s transaction: memory, domid, store ring, vCPU availability, /vm image keys. */
export function writeBuildPost(xs: XsSession, info: DomainTreeInfo): void {
  const dom = domPath(info.domid);
  const vm = vmPath(info.uuid);
  xs.transaction((t) => {
    xs.write(`${dom}/memory/static-max`, String(info.memoryKb), t);
    xs.write(`${dom}/memory/target`, String(info.memoryKb), t);
    xs.write(`${dom}/memory/videoram`, "0", t);
    xs.write(`${dom}/domid`, String(info.domid), t);
    xs.write(`${dom}/store/port`, String(info.storePort), t);
    xs.write(`${dom}/store/ring-ref`, String(info.storeGfn), t);
    for (let i = 0; i < info.vcpus; i++) xs.write(`${dom}/cpu/${i}/availability`, "online", t);
    xs.write(`${vm}/image/ostype`, "linux", t);
    xs.write(`${vm}/image/kernel`, info.kernel, t);
    xs.write(`${vm}/start_time`, info.startTime, t);
  });
}

/**
 * What `xen-init-dom0` writes for dom0 (`/local/domain/0/domid` = "0", `name` = "Domain-0"),
 * owned by dom0 and private to it like the rest of the initial tree.
 */
export function writeDom0Tree(xs: XsSession): void {
  xs.write(`${domPath(0)}/domid`, "0");
  xs.write(`${domPath(0)}/name`, "Domain-0");
}
