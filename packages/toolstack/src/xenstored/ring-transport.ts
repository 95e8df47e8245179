/**
 * xenstored's side of a domain's xenstore ring (what cxenstored 4.17 does for an introduced
 * domain, `xenstored_domain.c` and `handle_input`/`write_messages` in `xenstored_core.c`;
 * `docs/misc/xenstore-ring.txt`). The ring page is reached by mapping the domain's reserved
 * grant ref 1 (GNTTAB_RESERVED_XENSTORE) into dom0, and the domain's store port is bound
 * interdomain.
 *
 * ```
 *  guest                      ring page (xenstore_domain_interface)          xenstored
 *  requests  ──> req[1024]  req_cons/req_prod ──> copy out ─> header, payload ─> Connection
 *  replies   <── rsp[1024]  rsp_cons/rsp_prod <── as much as fits <── queue <── Connection output
 *             server_features, connection, error (written here)
 * ```
 *
 * - Requests are copied out of the ring (never parsed in place) exactly as far as the current
 *   message needs: first the 16-byte `struct xsd_sockmsg` header into a buffer kept for it, then
 *   its payload straight into the message's own array, then the next message. An
 *   unprivileged domain's ring is not read any further (`domain_can_read`) while its write
 *   credit is negative (`write-limit.ts`; read again once earned back, in virtual time), while
 *   `outstanding` (default 20, `-Q outstanding`) of its requests are outstanding, or while its
 *   memory reaches the memory quota (`memory.ts`). A request is outstanding until its reply is
 *   written to the ring and every watch event it caused, on any connection, is written or
 *   dropped (XSA-326, see `outstanding.ts`); the ring is read again as soon as that count drops.
 * - Replies and events are written from the connection's queue as far as `rsp` has room; the
 *   rest stays queued and goes out when the guest consumes and notifies. The guest is notified
 *   after every pass that moved bytes.
 * - A header announcing more than 4096 payload bytes sets `error` = XENSTORE_ERROR_PROTO and
 *   drops the connection (reason `oversize`). Indices with `prod - cons > 1024` set `error` =
 *   XENSTORE_ERROR_RINGIDX and drop the connection (`ignore_connection`): nothing more is read
 *   from or written to that ring. Other domains are not affected. Unlike cxenstored, the guest
 *   is notified after its connection is dropped, so a client waiting on the ring sees `error`
 *   at once instead of hanging.
 * - `server_features` is written on introduction (0 by default: cxenstored 4.17 advertises no
 *   feature, yet maintains `error`); a guest that set `connection` = XENSTORE_RECONNECT is
 *   answered on the next INTRODUCE (indices zeroed, `connection` = 0, notify).
 */
import {
  GNTMAP,
  GNTTAB_RESERVED_XENSTORE,
  XENSTORE_CONNECTED,
  XENSTORE_ERROR,
  XENSTORE_RECONNECT,
  XEN_PAGE_SHIFT,
  xenstore_domain_interface,
} from "@pvkit/hypervisor-sim/abi";
import {
  ByteRingReader,
  ByteRingWriter,
  type EventChannel,
  type EventChannels,
  RingProtocolError,
  xenstoreRequestRing,
  xenstoreResponseRing,
} from "@pvkit/guest-sdk";
import { mapGrantRefs, unmapGrantRefs } from "@pvkit/guest-sdk/hypercall";
import { DeadMappingError, type Guest, type Page } from "@pvkit/hypervisor-sim";
import type { Connection, ConnectionCloseReason } from "./connection.js";
import type { DomainTransport } from "./domains.js";
import { XENSTORE_PAYLOAD_MAX, XSD_SOCKMSG_SIZE, type XsMessage } from "@pvkit/hypervisor-sim/abi";

/** cxenstored 4.17's `-Q outstanding` default: requests outstanding per unprivileged domain. */
export const DEFAULT_OUTSTANDING_LIMIT = 20;

/** What a ring transport needs. */
export interface RingTransportOptions {
  /** Dom0's guest handle: its grant map places the ring at `mapGfn`. */
  readonly guest0: Guest;
  /** Dom0's event channels: the store port is bound here. */
  readonly events0: EventChannels;
  /** The introduced domain. */
  readonly domid: number;
  /** The domain's store port (an unbound port it allocated for dom0). */
  readonly remotePort: number;
  /** The xenstored connection of the domain. */
  readonly connection: Connection;
  /** A hole in dom0's physmap for the mapping (its GFN). */
  readonly mapGfn: number;
  /** Written to `server_features` on introduction. Default 0, as cxenstored 4.17. */
  readonly serverFeatures?: number;
  /**
   * Outstanding requests before an unprivileged domain's ring is no longer read. Default:
   * xenstored's `outstandingPerDomain` quota (20, changed by CONTROL `quota set outstanding`).
   */
  readonly outstandingLimit?: number;
}

/** Why the transport stopped serving its ring (undefined while it serves). */
export type RingTransportState = "open" | "ignored" | "closed";

export class XenstoreRingTransport implements DomainTransport {
  readonly domid: number;
  readonly #guest0: Guest;
  readonly #events0: EventChannels;
  readonly #conn: Connection;
  readonly #gfn: number;
  readonly #handle: number;
  readonly #page: Page;
  readonly #req: ByteRingReader;
  readonly #rsp: ByteRingWriter;
  readonly #limit: number | undefined;
  readonly #features: number;
  #channel: EventChannel | undefined;
  #state: RingTransportState = "open";
  /** The current request's header bytes (`struct xsd_sockmsg`), `#hdrHave` of them read. */
  readonly #hdr = new Uint8Array(XSD_SOCKMSG_SIZE);
  #hdrHave = 0;
  /** The current request's payload once its header is complete, `#bodyHave` bytes read. */
  #body: Uint8Array | undefined;
  #bodyHave = 0;
  #pumping = false;
  #again = false;
  #requests = 0;
  #error: number = XENSTORE_ERROR.XENSTORE_ERROR_NONE;

  /**
   * Maps grant ref 1 of `opts.domid` at `opts.mapGfn` in dom0 and binds the store port.
   * @throws GrantStatusError / XenError if the map or the bind fails (nothing is left mapped).
   */
  constructor(opts: RingTransportOptions) {
    this.domid = opts.domid;
    this.#guest0 = opts.guest0;
    this.#events0 = opts.events0;
    this.#conn = opts.connection;
    this.#gfn = opts.mapGfn;
    this.#limit = opts.outstandingLimit;
    this.#features = opts.serverFeatures ?? 0;
    const [op] = mapGrantRefs(opts.guest0.hypercall, [
      {
        host_addr: opts.mapGfn << XEN_PAGE_SHIFT,
        flags: GNTMAP.GNTMAP_host_map,
        ref: GNTTAB_RESERVED_XENSTORE,
        dom: opts.domid,
      },
    ]);
    this.#handle = op!.handle!;
    try {
      this.#page = opts.guest0.memory.writablePage(opts.mapGfn);
      this.#channel = this.#bind(opts.remotePort);
    } catch (err) {
      this.#unmap();
      throw err;
    }
    this.#req = new ByteRingReader(this.#page, xenstoreRequestRing);
    this.#rsp = new ByteRingWriter(this.#page, xenstoreResponseRing);
    this.#conn.on("output", this.#onOutput);
    this.#conn.on("close", this.#onClose);
    this.#conn.on("outstanding", this.#onOutput);
    this.#conn.on("readable", this.#onOutput);
    // A new domain learns xenstore is there (4.17 introduce_domain).
    this.#page.setU32(xenstore_domain_interface.server_features[0], this.#features);
    this.#page.setU32(xenstore_domain_interface.connection[0], XENSTORE_CONNECTED);
    this.#notify();
  }

  /** `open` while serving; `ignored` after a ring error; `closed` after close(). */
  get state(): RingTransportState {
    return this.#state;
  }

  /** dom0's port bound to the domain's store port (undefined if a rebind failed or closed). */
  get localPort(): number | undefined {
    return this.#channel?.port;
  }

  /** The dom0 GFN where the ring page is mapped. */
  get mapGfn(): number {
    return this.#gfn;
  }

  /**
   * The domain's outstanding requests (what the `-Q outstanding` quota counts): replies queued or
   * partly written, and requests whose watch events are still queued on some connection.
   */
  get outstanding(): number {
    return this.#conn.outstanding;
  }

  /** Bytes queued for the response ring and not yet written. */
  get queuedBytes(): number {
    return this.#conn.queuedBytes;
  }

  /** Requests taken from the ring and handed to xenstored. */
  get requestsHandled(): number {
    return this.#requests;
  }

  /** The `error` value this transport wrote (XENSTORE_ERROR_NONE until a ring error). */
  get error(): number {
    return this.#error;
  }

  /** INTRODUCE of an introduced domain: unbind the old port and bind `evtchn` (port 0 on failure). */
  rebind(evtchn: number): void {
    if (this.#state === "closed") return;
    this.#unbind();
    try {
      this.#channel = this.#bind(evtchn);
    } catch {
      this.#channel = undefined;
    }
  }

  /**
   * `domain_conn_reset`: drops partial input and queued output and zeroes the four indices; a
   * guest asking to reconnect (`connection` = 1) is told the ring is back (0) and notified.
   */
  reset(): void {
    if (this.#state === "closed") return;
    this.#conn.clearOutput();
    this.#hdrHave = 0;
    this.#body = undefined;
    this.#bodyHave = 0;
    if (this.#state !== "open") return;
    const f = xenstore_domain_interface;
    for (const k of ["req_cons", "req_prod", "rsp_cons", "rsp_prod"] as const)
      this.#page.setU32(f[k][0], 0);
    if (this.#page.getU32(f.connection[0]) === XENSTORE_RECONNECT) {
      this.#page.setU32(f.connection[0], XENSTORE_CONNECTED);
      this.#notify();
    }
  }

  /** Stops serving, unbinds the port and unmaps the ring. Idempotent; never throws. */
  close(): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    this.#conn.off("output", this.#onOutput);
    this.#conn.off("close", this.#onClose);
    this.#conn.off("outstanding", this.#onOutput);
    this.#conn.off("readable", this.#onOutput);
    this.#unbind();
    this.#unmap();
  }

  /** Runs one service pass now (the event handler does this; tests may too). */
  kick(): void {
    this.#pump();
  }

  // ---- internals ----------------------------------------------------------------------------

  #bind(port: number): EventChannel {
    return this.#events0.bindInterdomain(this.domid, port, { onEvent: () => this.#pump() });
  }

  #unbind(): void {
    const ch = this.#channel;
    this.#channel = undefined;
    try {
      ch?.close();
    } catch {
      // The domain may be gone already; its end of the channel went with it.
    }
  }

  #unmap(): void {
    try {
      unmapGrantRefs(this.#guest0.hypercall, [
        { host_addr: this.#gfn << XEN_PAGE_SHIFT, dev_bus_addr: 0, handle: this.#handle },
      ]);
    } catch {
      // Nothing else to do: the mapping died with the domain or was already gone.
    }
  }

  #notify(): void {
    try {
      this.#channel?.notify();
    } catch {
      // A closed channel: the guest will find out from the ring state.
    }
  }

  /** Something was queued, or a block on reading may have lifted: write and read again. */
  readonly #onOutput = (): void => {
    if (this.#state === "open") this.#pump();
  };

  readonly #onClose = (reason: ConnectionCloseReason): void => {
    if (reason === "oversize") this.#ignore(XENSTORE_ERROR.XENSTORE_ERROR_PROTO);
    else if (this.#state === "open") this.#state = "ignored";
  };

  /** One service pass: flush replies, read requests, repeat while either moves; then notify. */
  #pump(): void {
    if (this.#pumping) {
      this.#again = true;
      return;
    }
    this.#pumping = true;
    let moved = false;
    try {
      do {
        this.#again = false;
        while (this.#state === "open" && (this.#flush() || this.#readOne())) moved = true;
      } while (this.#again && this.#state === "open");
    } catch (err) {
      if (err instanceof RingProtocolError) this.#ignore(XENSTORE_ERROR.XENSTORE_ERROR_RINGIDX);
      else if (err instanceof DeadMappingError) this.#ignore(XENSTORE_ERROR.XENSTORE_ERROR_COMM);
      else throw err;
    } finally {
      this.#pumping = false;
    }
    if (moved) this.#notify();
  }

  /** Writes the connection's queued output into `rsp`. True if any byte went out. */
  #flush(): boolean {
    let any = false;
    for (let rest = this.#conn.outputHead(); rest !== undefined; rest = this.#conn.outputHead()) {
      const n = this.#rsp.write(rest);
      if (n === 0) break;
      any = true;
      this.#conn.outputWritten(n);
      if (n < rest.length) break;
    }
    return any;
  }

  /**
   * Reads from `req` at most what the current message still lacks (the rest of its header, then
   * of its payload), and hands a completed message to the connection. True if any byte was
   * consumed.
   */
  #readOne(): boolean {
    const avail = this.#req.available;
    if (avail === 0) return false;
    if (this.#conn.readBlocked(this.#limit)) return false;
    let body = this.#body;
    let left = avail;
    if (body === undefined) {
      const h = this.#hdr;
      const n = this.#req.readInto(
        h,
        this.#hdrHave,
        Math.min(left, XSD_SOCKMSG_SIZE - this.#hdrHave),
      );
      this.#hdrHave += n;
      if (this.#hdrHave < XSD_SOCKMSG_SIZE) return true;
      const len = u32(h, 12);
      if (len > XENSTORE_PAYLOAD_MAX) {
        // `handle_input`: a header announcing more than XENSTORE_PAYLOAD_MAX drops the ring.
        this.#conn.close("oversize");
        return true;
      }
      this.#body = body = len === 0 ? EMPTY : new Uint8Array(len);
      this.#bodyHave = 0;
      left -= n;
    }
    if (this.#bodyHave < body.length) {
      if (left === 0) return true;
      this.#bodyHave += this.#req.readInto(
        body,
        this.#bodyHave,
        Math.min(left, body.length - this.#bodyHave),
      );
      if (this.#bodyHave < body.length) return true;
    }
    const h = this.#hdr;
    const m: XsMessage = { type: u32(h, 0), req_id: u32(h, 4), tx_id: u32(h, 8), payload: body };
    this.#hdrHave = 0;
    this.#body = undefined;
    this.#requests++;
    this.#conn.receiveMessage(m);
    return true;
  }

  /** `ignore_connection`: record `err` in the ring, drop the connection, stop serving. */
  #ignore(err: number): void {
    if (this.#state !== "open") return;
    this.#state = "ignored";
    this.#error = err;
    try {
      this.#page.setU32(xenstore_domain_interface.error[0], err);
    } catch {
      // The mapping is gone; nothing to record.
    }
    this.#conn.close("closed");
    this.#notify();
  }
}

/** The payload of a request with none (a fresh array each would cost for nothing). */
const EMPTY = new Uint8Array(0);

/** A little-endian u32 of the header (`struct xsd_sockmsg`, `io/xs_wire.h`). */
function u32(b: Uint8Array, off: number): number {
  return (b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24)) >>> 0;
}
