// A simulated host for ring tests: dom0 runs xenstored with the ring transport factory; each
// guest grants its xenstore page to dom0 as reserved ref 1 (its own grant entry), allocates an
// unbound store port for dom0 and is introduced through an INTRODUCE from dom0. The guest side
// here is raw ring bytes (ByteRingWriter/Reader on the guest's own page) plus EVTCHNOP_send.
import { Hypervisor, type Guest, type Page } from "@pvkit/hypervisor-sim";
import {
  decodeXsMessages,
  encodeXsMessage,
  GNTTAB_RESERVED_XENSTORE,
  GTF,
  writeStartInfo,
  xenstore_domain_interface,
  type XsMessage,
} from "@pvkit/hypervisor-sim/abi";
import {
  ByteRingReader,
  ByteRingWriter,
  EventChannels,
  XenbusClient,
  type XenbusClientOptions,
  xenstoreRequestRing,
  xenstoreResponseRing,
} from "@pvkit/guest-sdk";
import { evtchnAllocUnbound, evtchnSend, setupTable } from "@pvkit/guest-sdk/hypercall";
import {
  Xenstored,
  XsLocalClient,
  ringTransportFactory,
  type XenstoreRingTransport,
  type XenstoredOptions,
} from "@pvkit/toolstack";

/** The xenstore page's GFN in every test guest. */
export const STORE_GFN = 5;
/** The start_info page's GFN in client test guests. */
export const START_INFO_GFN = 6;

/** Writes a v1 grant entry `ref` in `guest`'s own table: domid, frame, then flags (grant protocol order). */
export function grantOwnPage(guest: Guest, ref: number, toDomid: number, gfn: number): void {
  const [frame0] = setupTable(guest.hypercall, 1);
  const table = guest.memory.writablePage(frame0!);
  table.setU16(ref * 8 + 2, toDomid);
  table.setU32(ref * 8 + 4, gfn);
  table.setU16(ref * 8, GTF.GTF_permit_access);
}

export interface RingGuest {
  readonly domid: number;
  readonly guest: Guest;
  /** The guest's own view of its xenstore page. */
  readonly page: Page;
  /** The guest's store port (bound by xenstored). */
  readonly port: number;
  readonly req: ByteRingWriter;
  readonly rsp: ByteRingReader;
  /** The transport xenstored created for this guest. */
  readonly transport: XenstoreRingTransport;
  /** Writes bytes into req (all must fit) and notifies dom0. */
  send(bytes: Uint8Array): void;
  /** Encodes and sends one request. */
  request(type: number, payload: string | Uint8Array, req_id?: number, tx_id?: number): void;
  /** Consumes everything in rsp, notifies dom0 if anything was read, and returns the bytes. */
  drain(): Uint8Array;
  /** The ring's `error` field. */
  readonly error: number;
}

export function ringHost(
  opts: Omit<XenstoredOptions, "hooks"> & {
    outstandingLimit?: number;
    mode?: "manual" | "auto";
  } = {},
) {
  const { mode = "manual", ...rest } = opts;
  const hv = new Hypervisor({ mode });
  hv.createDomain({ name: "dom0" });
  const g0 = hv.guest(0);
  const events0 = EventChannels.of(g0);
  const transports = new Map<number, XenstoreRingTransport>();
  const { outstandingLimit, ...xsOpts } = rest;
  const xs = new Xenstored({
    // Watch events time out in the hypervisor's virtual time, as cxenstored's in real time.
    scheduler: hv.scheduler,
    ...xsOpts,
    hooks: {
      domainExists: (d) => hv.domainById(d) !== undefined,
      connectDomain: ringTransportFactory({
        guest0: g0,
        events0,
        ...(outstandingLimit !== undefined ? { outstandingLimit } : {}),
        onTransport: (t) => transports.set(t.domid, t),
      }),
    },
  });
  const dom0 = new XsLocalClient(xs.connect());

  /** Creates a domain, grants its store page, allocates its port and INTRODUCEs it. */
  function addGuest(): RingGuest {
    const d = hv.createDomain({ nrPages: 16 });
    const guest = hv.guest(d.domid);
    const page = guest.memory.writablePage(STORE_GFN);
    grantOwnPage(guest, GNTTAB_RESERVED_XENSTORE, 0, STORE_GFN);
    const port = evtchnAllocUnbound(guest.hypercall, 0);
    // As libxl: the domain's home directory, owned by the domain.
    dom0.mkdir(`/local/domain/${d.domid}`);
    dom0.setPerms(`/local/domain/${d.domid}`, [`n${d.domid}`]);
    dom0.introduce(d.domid, STORE_GFN, port);
    const transport = transports.get(d.domid)!;
    const req = new ByteRingWriter(page, xenstoreRequestRing);
    const rsp = new ByteRingReader(page, xenstoreResponseRing);
    return {
      domid: d.domid,
      guest,
      page,
      port,
      req,
      rsp,
      transport,
      send(bytes) {
        const n = req.write(bytes);
        if (n !== bytes.length) throw new Error(`only ${n} of ${bytes.length} bytes fit`);
        evtchnSend(guest.hypercall, port);
      },
      request(type, payload, req_id = 0, tx_id = 0) {
        const p =
          typeof payload === "string" ? new Uint8Array(Buffer.from(payload, "latin1")) : payload;
        this.send(encodeXsMessage({ type, req_id, tx_id, payload: p }));
      },
      drain() {
        const bytes = rsp.read();
        if (bytes.length > 0) evtchnSend(guest.hypercall, port);
        return bytes;
      },
      get error() {
        return page.getU32(xenstore_domain_interface.error[0]);
      },
    };
  }

  /**
   * A guest as a PV kernel boots: start_info (at START_INFO_GFN) names its store page and port,
   * and its XenbusClient is built from there.
   */
  function addClientGuest(
    clientOpts: XenbusClientOptions = {},
  ): RingGuest & { client: XenbusClient; events: EventChannels } {
    const g = addGuest();
    writeStartInfo(g.guest.memory.writablePage(START_INFO_GFN), {
      nr_pages: g.guest.memory.nrPages,
      store_mfn: STORE_GFN,
      store_evtchn: g.port,
    });
    const events = EventChannels.of(g.guest);
    const client = XenbusClient.fromStartInfo(g.guest, events, {
      ...clientOpts,
      startInfoGfn: START_INFO_GFN,
    });
    return Object.assign(g, { client, events });
  }

  return { hv, g0, events0, xs, dom0, addGuest, addClientGuest, transports };
}

/** Runs the hypervisor until no event is pending. */
export function run(hv: Hypervisor): void {
  hv.runUntilIdle();
}

/** Decodes whole messages from response bytes. */
export function messages(bytes: Uint8Array): XsMessage[] {
  return decodeXsMessages(bytes);
}

export function str(m: XsMessage | undefined): string {
  return m ? Buffer.from(m.payload).toString("latin1") : "<none>";
}
