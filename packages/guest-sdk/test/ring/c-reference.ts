/**
 * An independent reference model of `xen/include/public/io/ring.h`, transcribed as literally as
 * possible from the C macros, over a plain Uint8Array standing for the shared ring area
 * (page 0 first). It shares no code with the SDK: RING_IDX arithmetic is spelled out with
 * `u32()`, the sring header is read with its own DataView, and __RD32 is computed differently.
 */
export const u32 = (x: number): number => x >>> 0;

/** Highest power of two <= x (0 for 0): what the __RD32 macro chain computes. */
export function rd32(x: number): number {
  return x === 0 ? 0 : u32(1 << (31 - Math.clz32(x)));
}

/** offsetof(struct X_sring, ring). */
const RING_OFF = 64;

/** `struct X_sring` viewed over the area. */
export class Sring {
  readonly dv: DataView;
  constructor(readonly mem: Uint8Array) {
    this.dv = new DataView(mem.buffer, mem.byteOffset, mem.byteLength);
  }
  get req_prod(): number {
    return this.dv.getUint32(0, true);
  }
  set req_prod(v: number) {
    this.dv.setUint32(0, u32(v), true);
  }
  get req_event(): number {
    return this.dv.getUint32(4, true);
  }
  set req_event(v: number) {
    this.dv.setUint32(4, u32(v), true);
  }
  get rsp_prod(): number {
    return this.dv.getUint32(8, true);
  }
  set rsp_prod(v: number) {
    this.dv.setUint32(8, u32(v), true);
  }
  get rsp_event(): number {
    return this.dv.getUint32(12, true);
  }
  set rsp_event(v: number) {
    this.dv.setUint32(12, u32(v), true);
  }
}

export interface CFront {
  req_prod_pvt: number;
  rsp_cons: number;
  nr_ents: number;
  sring: Sring;
  entry: number; // sizeof(ring[0])
}
export interface CBack {
  rsp_prod_pvt: number;
  req_cons: number;
  nr_ents: number;
  sring: Sring;
  entry: number;
}

/** __RING_SIZE(_s, _sz) = __RD32((_sz - offsetof(ring)) / sizeof(ring[0])). */
export const __RING_SIZE = (sz: number, entry: number): number =>
  rd32(Math.floor((sz - RING_OFF) / entry));

/** SHARED_RING_INIT(_s). */
export function SHARED_RING_INIT(s: Sring): void {
  s.req_prod = s.rsp_prod = 0;
  s.req_event = s.rsp_event = 1;
  s.mem.fill(0, 16, 20); // pvt.pvt_pad
  s.mem.fill(0, 20, 64); // __pad
}

export function FRONT_RING_ATTACH(s: Sring, i: number, size: number, entry: number): CFront {
  return {
    req_prod_pvt: u32(i),
    rsp_cons: u32(i),
    nr_ents: __RING_SIZE(size, entry),
    sring: s,
    entry,
  };
}
export function BACK_RING_ATTACH(s: Sring, i: number, size: number, entry: number): CBack {
  return {
    rsp_prod_pvt: u32(i),
    req_cons: u32(i),
    nr_ents: __RING_SIZE(size, entry),
    sring: s,
    entry,
  };
}

export const RING_SIZE = (r: { nr_ents: number }): number => r.nr_ents;
export const RING_FREE_REQUESTS = (r: CFront): number =>
  u32(RING_SIZE(r) - u32(r.req_prod_pvt - r.rsp_cons));
export const RING_FULL = (r: CFront): boolean => RING_FREE_REQUESTS(r) === 0;
export const RING_HAS_UNCONSUMED_RESPONSES = (r: CFront): number =>
  u32(r.sring.rsp_prod - r.rsp_cons);
export function RING_HAS_UNCONSUMED_REQUESTS(r: CBack): number {
  const req = u32(r.sring.req_prod - r.req_cons);
  const rsp = u32(RING_SIZE(r) - u32(r.req_cons - r.rsp_prod_pvt));
  return req < rsp ? req : rsp;
}
/** Byte offset of &ring[idx & (RING_SIZE - 1)]. */
export const RING_GET = (r: { nr_ents: number; entry: number }, idx: number): number =>
  RING_OFF + u32(idx & (RING_SIZE(r) - 1)) * r.entry;

export const RING_REQUEST_CONS_OVERFLOW = (r: CBack, cons: number): boolean =>
  u32(cons - r.rsp_prod_pvt) >= RING_SIZE(r);
export const RING_REQUEST_PROD_OVERFLOW = (r: CBack, prod: number): boolean =>
  u32(prod - r.rsp_prod_pvt) > RING_SIZE(r);
export const RING_RESPONSE_PROD_OVERFLOW = (r: CFront, prod: number): boolean =>
  u32(prod - r.rsp_cons) > RING_SIZE(r);

export function RING_PUSH_REQUESTS(r: CFront): void {
  r.sring.req_prod = r.req_prod_pvt;
}
export function RING_PUSH_RESPONSES(r: CBack): void {
  r.sring.rsp_prod = r.rsp_prod_pvt;
}
export function RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(r: CFront): boolean {
  const __old = r.sring.req_prod;
  const __new = r.req_prod_pvt;
  r.sring.req_prod = __new;
  return u32(__new - r.sring.req_event) < u32(__new - __old);
}
export function RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(r: CBack): boolean {
  const __old = r.sring.rsp_prod;
  const __new = r.rsp_prod_pvt;
  r.sring.rsp_prod = __new;
  return u32(__new - r.sring.rsp_event) < u32(__new - __old);
}
export function RING_FINAL_CHECK_FOR_REQUESTS(r: CBack): boolean {
  let work = RING_HAS_UNCONSUMED_REQUESTS(r);
  if (work) return true;
  r.sring.req_event = r.req_cons + 1;
  work = RING_HAS_UNCONSUMED_REQUESTS(r);
  return work !== 0;
}
export function RING_FINAL_CHECK_FOR_RESPONSES(r: CFront): boolean {
  let work = RING_HAS_UNCONSUMED_RESPONSES(r);
  if (work) return true;
  r.sring.rsp_event = r.rsp_cons + 1;
  work = RING_HAS_UNCONSUMED_RESPONSES(r);
  return work !== 0;
}

/** `*RING_GET_REQUEST(r, r->req_prod_pvt++) = req` with req given as its bytes. */
export function produceRequest(r: CFront, bytes: Uint8Array): void {
  r.sring.mem.set(bytes, RING_GET(r, r.req_prod_pvt));
  r.req_prod_pvt = u32(r.req_prod_pvt + 1);
}
/** `*RING_GET_RESPONSE(r, r->rsp_prod_pvt++) = rsp`. */
export function produceResponse(r: CBack, bytes: Uint8Array): void {
  r.sring.mem.set(bytes, RING_GET(r, r.rsp_prod_pvt));
  r.rsp_prod_pvt = u32(r.rsp_prod_pvt + 1);
}

/**
 * One iteration of a Linux-style backend loop:
 * `rp = sring->req_prod; if (RING_REQUEST_PROD_OVERFLOW) fatal; if (rc == rp || CONS_OVERFLOW) none;
 *  RING_COPY_REQUEST(r, rc, &req); r->req_cons = ++rc;`
 */
export function consumeRequest(r: CBack, size: number): Uint8Array | "none" | "fatal" {
  const rp = r.sring.req_prod;
  if (RING_REQUEST_PROD_OVERFLOW(r, rp)) return "fatal";
  const rc = r.req_cons;
  if (rc === rp || RING_REQUEST_CONS_OVERFLOW(r, rc)) return "none";
  const at = RING_GET(r, rc);
  const copy = r.sring.mem.slice(at, at + size);
  r.req_cons = u32(rc + 1);
  return copy;
}
/**
 * Why a hardened frontend refuses `rp`, checked in this order, or undefined if it accepts it:
 * `RING_RESPONSE_PROD_OVERFLOW` (the Linux frontends' driver-level check), then more responses
 * than requests outstanding (`rp - rsp_cons > req_prod_pvt - rsp_cons`; no io/ring.h macro).
 */
export function responseProdFault(
  r: CFront,
  rp: number,
): "rsp-prod-overflow" | "rsp-prod-beyond-requests" | undefined {
  if (RING_RESPONSE_PROD_OVERFLOW(r, rp)) return "rsp-prod-overflow";
  if (u32(rp - r.rsp_cons) > u32(r.req_prod_pvt - r.rsp_cons)) return "rsp-prod-beyond-requests";
  return undefined;
}
/** The hardened frontend's: `rp = sring->rsp_prod; if (responseProdFault) fatal; ...`. */
export function consumeResponse(r: CFront, size: number): Uint8Array | "none" | "fatal" {
  const rp = r.sring.rsp_prod;
  if (responseProdFault(r, rp) !== undefined) return "fatal";
  const rc = r.rsp_cons;
  if (rc === rp) return "none";
  const at = RING_GET(r, rc);
  const copy = r.sring.mem.slice(at, at + size);
  r.rsp_cons = u32(rc + 1);
  return copy;
}
