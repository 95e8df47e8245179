// Shared set-up for the grants tests: a frontend domU that grants and a dom0 that maps.
import { type Guest, GNTTAB_GFN_BASE, Hypervisor, type Page } from "@pvkit/hypervisor-sim";
import {
  type GrantGuest,
  GrantMapper,
  GrantTableClient,
  GuestPageAllocator,
} from "@pvkit/guest-sdk";

export interface Pair {
  hv: Hypervisor;
  g0: Guest;
  gu: Guest;
  /** domU's allocator (upper half of its 64 pages unless `allocCount` says otherwise). */
  alloc: GuestPageAllocator;
  /** domU's grant client. */
  client: GrantTableClient;
  /** dom0's mapper. */
  mapper: GrantMapper;
}

export interface PairOptions {
  allocCount?: number;
  maxGrantFrames?: number;
  maxDeferredRetries?: number;
  /** Wrap domU before the client sees it (e.g. to record grant-table writes). */
  wrap?: (g: Guest) => GrantGuest;
}

export function pair(opts: PairOptions = {}): Pair {
  const hv = new Hypervisor({ mode: "manual" });
  hv.createDomain();
  const du = hv.createDomain({
    nrPages: 64,
    ...(opts.maxGrantFrames ? { maxGrantFrames: opts.maxGrantFrames } : {}),
  });
  const g0 = hv.guest(0);
  const gu = hv.guest(du.domid);
  const alloc = new GuestPageAllocator(
    gu.memory,
    opts.allocCount !== undefined ? { count: opts.allocCount } : {},
  );
  const client = GrantTableClient.of(opts.wrap ? opts.wrap(gu) : gu, {
    allocator: alloc,
    ...(opts.maxDeferredRetries !== undefined
      ? { maxDeferredRetries: opts.maxDeferredRetries }
      : {}),
  });
  const mapper = new GrantMapper(g0);
  return { hv, g0, gu, alloc, client, mapper };
}

/** domU's grant entry `ref` as Xen sees it: [flags, domid, frame]. */
export function entry(gu: Guest, ref: number): [number, number, number] {
  const page = gu.memory.page(GNTTAB_GFN_BASE + Math.floor(ref / 512));
  const off = (ref % 512) * 8;
  return [page.getU16(off), page.getU16(off + 2), page.getU32(off + 4)];
}

/** A write or read through a wrapped grant-table page. */
export interface TableAccess {
  op: "get16" | "set16" | "set32";
  gfn: number;
  offset: number;
  value: number;
}

/**
 * A view of `g` whose grant-table pages (GFN >= GNTTAB_GFN_BASE) log every 16/32-bit access to
 * `log`; `onGet16` runs after a 16-bit read has taken its value (to let "Xen" act in between).
 */
export function recordingGuest(
  g: Guest,
  log: TableAccess[],
  onGet16?: (gfn: number, offset: number) => void,
): GrantGuest {
  const wrapPage = (page: Page, gfn: number): Page =>
    new Proxy(page, {
      get(target, prop) {
        if (prop === "setU16" || prop === "setU32") {
          return (offset: number, value: number) => {
            log.push({ op: prop === "setU16" ? "set16" : "set32", gfn, offset, value });
            (target[prop] as (o: number, v: number) => void)(offset, value);
          };
        }
        if (prop === "getU16") {
          return (offset: number) => {
            const v = target.getU16(offset);
            log.push({ op: "get16", gfn, offset, value: v });
            onGet16?.(gfn, offset);
            return v;
          };
        }
        const v = Reflect.get(target, prop, target) as unknown;
        return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  const memory = new Proxy(g.memory, {
    get(target, prop) {
      if (prop === "writablePage") {
        return (gfn: number) => {
          const p = target.writablePage(gfn);
          return gfn >= GNTTAB_GFN_BASE ? wrapPage(p, gfn) : p;
        };
      }
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return { domid: g.domid, hypercall: g.hypercall, memory };
}

export function thrown<E>(f: () => unknown, cls: abstract new (...a: never[]) => E): E {
  try {
    f();
  } catch (e) {
    if (!(e instanceof cls)) throw e;
    return e;
  }
  throw new Error("expected a throw");
}
