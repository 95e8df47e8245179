// Test fixtures: a xenstored with a fake host (records every ring it is asked to connect) and
// clients speaking real xs_wire bytes through the package's codec.
import { expect } from "vitest";
import {
  Xenstored,
  XsLocalClient,
  XenstoreError,
  type Connection,
  type DomainTransport,
  type XenstoredOptions,
} from "@pvkit/toolstack";
import {
  decodeXsMessages,
  encodeXsMessage,
  type XsMessage,
  xsString,
} from "@pvkit/hypervisor-sim/abi";

export interface FakeHost {
  /** Domains the fake hypervisor has. */
  readonly live: Set<number>;
  readonly calls: string[];
  /** Next connectDomain result override (an error name). */
  refuse: string | undefined;
}

export function setup(opts: Omit<XenstoredOptions, "hooks"> = {}) {
  const host: FakeHost = { live: new Set([0, 1, 2, 3, 4, 5, 6, 7]), calls: [], refuse: undefined };
  const xs = new Xenstored({
    ...opts,
    hooks: {
      domainExists: (d) => host.live.has(d),
      connectDomain: ({ domid, mfn, evtchn }) => {
        host.calls.push(`connect ${domid} mfn=${mfn} evtchn=${evtchn}`);
        if (host.refuse) return host.refuse;
        const t: DomainTransport = {
          rebind: (p) => host.calls.push(`rebind ${domid} evtchn=${p}`),
          reset: () => host.calls.push(`reset ${domid}`),
          close: () => host.calls.push(`close ${domid}`),
        };
        return t;
      },
    },
  });
  const dom0 = new XsLocalClient(xs.connect());
  /** Introduces `domid` through an INTRODUCE request from dom0 and returns a client on its ring connection. */
  const domU = (domid: number): XsLocalClient => {
    dom0.introduce(domid, 1000 + domid, 10 + domid);
    return new XsLocalClient(xs.domainConnection(domid)!);
  };
  return { xs, host, dom0, domU };
}

/** Sends one raw request and returns every message the connection queued in answer. */
export function raw(
  conn: Connection,
  type: number,
  payload: Uint8Array | string,
  tx_id = 0,
  req_id = 7,
): XsMessage[] {
  const p = typeof payload === "string" ? new Uint8Array(Buffer.from(payload, "latin1")) : payload;
  conn.receive(encodeXsMessage({ type, req_id, tx_id, payload: p }));
  // Round-trip through the codec so the test sees exactly the bytes a client would.
  return decodeXsMessages(conn.drainBytes());
}

export function text(m: XsMessage | undefined): string {
  return m ? xsString(m.payload) : "<none>";
}

/** Asserts that `fn` throws a XenstoreError with this code. */
export function expectCode(fn: () => unknown, code: string): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, `expected ${code}`).toBeInstanceOf(XenstoreError);
  expect((err as XenstoreError).code).toBe(code);
}
