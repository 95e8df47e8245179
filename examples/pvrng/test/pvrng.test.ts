// pvrng end to end on the framework: a domU frontend, a dom0 backend, pinned bytes, unplug and
// leak checks on every domain; then the same scenario with drivers broken one way each, which
// must fail with a message naming the cause.
import { describe, expect, it } from "vitest";
import { StallError } from "@pvkit/hypervisor-sim";
import type { BackendDriver, FrontendDriver, XenbusDevice } from "@pvkit/guest-sdk";
import { type Host, detachDevice } from "@pvkit/toolstack";
import { assertNoGuestLeaks, withHost } from "@pvkit/toolstack/testing";
import {
  type BackState,
  type FrontState,
  TYPE,
  prng,
  pvrngBack,
  pvrngFront,
  read,
} from "@pvkit/example-pvrng";
import { connectPvrng } from "./connect.js";

const SEED = 42;

/** Why a read stalled, from the shared ring's indices (io/ring.h's notify and final-check rules). */
function diagnose(s: FrontState): string {
  const p = s.page;
  const [reqProd, reqEvent, rspProd, rspEvent] = [0, 4, 8, 12].map((o) => p.getU32(o)) as [
    number,
    number,
    number,
    number,
  ];
  const rspCons = s.ring.rspCons;
  const at = `req_prod ${reqProd}, req_event ${reqEvent}, rsp_prod ${rspProd}, rsp_event ${rspEvent}, rsp_cons ${rspCons}`;
  if (reqProd !== rspProd) {
    return reqEvent <= rspProd
      ? `the backend skipped its final check: ${reqProd - rspProd} request(s) unanswered and req_event was never re-armed past what it consumed (${at})`
      : `the frontend skipped its notify: ${reqProd - rspProd} request(s) pushed where the backend asked to be woken, and no event sent (${at})`;
  }
  if (rspProd !== rspCons) {
    return rspEvent > rspCons && rspEvent <= rspProd
      ? `the backend skipped its notify: ${rspProd - rspCons} response(s) pushed where the frontend asked to be woken, and no event sent (${at})`
      : `the frontend skipped its final check: ${rspProd - rspCons} response(s) unconsumed and rsp_event was never re-armed (${at})`;
  }
  return `ring idle (${at})`;
}

async function readOrDiagnose(
  h: Host,
  dev: XenbusDevice<FrontState>,
  n: number,
): Promise<Uint8Array> {
  try {
    return await h.until(read(dev, n), `a pvrng read of ${n} bytes`);
  } catch (e) {
    if (e instanceof StallError)
      throw new Error(`pvrng read stalled: ${diagnose(dev.data!)}`, { cause: e });
    throw e;
  }
}

/** Connect, two reads with pinned bytes, hot-unplug, unregister, leak checks on every domain. */
async function scenario(
  h: Host,
  front: FrontendDriver<FrontState>,
  back: BackendDriver<BackState>,
): Promise<void> {
  const { xs, bus0, dom, bus, dev } = await connectPvrng(h, front, back);
  const want = prng(SEED);
  const first = await readOrDiagnose(h, dev, 8);
  expect([...first]).toEqual([...Array(8)].map(want));
  expect(Buffer.from(first).toString("hex")).toBe("7c8ac0ad8ad31401");
  const second = await readOrDiagnose(h, dev, 300);
  expect([...second]).toEqual([...Array(300)].map(want));
  const removal = await h.until(detachDevice(h, dom.domid, TYPE, 0), "unplugging pvrng");
  if (removal.outcome !== "closed")
    throw new Error(
      `the backend never reached Closed: unplug ended with ${removal.outcome}, backend state ${removal.lastBackendState}`,
    );
  await h.until(bus.close(), "the frontend bus unregistering");
  await h.until(bus0.close(), "the backend bus unregistering");
  await h.hv.settle();
  assertNoGuestLeaks(h);
  xs.close();
  expect([...bus.errors, ...bus0.errors]).toEqual([]);
}

const run = (front: FrontendDriver<FrontState>, back: BackendDriver<BackState>): Promise<void> =>
  withHost((h) => scenario(h, front, back));

/** A variant of the frontend whose `initialise` runs `after` once the real one is done. */
const frontThen = (after: (dev: XenbusDevice<FrontState>) => void): FrontendDriver<FrontState> => ({
  ...pvrngFront,
  async initialise(dev) {
    await pvrngFront.initialise(dev);
    after(dev);
  },
});
const backThen = (after: (dev: XenbusDevice<BackState>) => void): BackendDriver<BackState> => {
  const good = pvrngBack(SEED);
  return {
    ...good,
    async connect(dev) {
      await good.connect(dev);
      after(dev);
    },
  };
};

describe("pvrng", () => {
  it("fills reads with the seeded PRNG's bytes, unplugs cleanly and leaks nothing in any domain", async () => {
    await run(pvrngFront, pvrngBack(SEED));
  });

  describe("a broken driver fails with a message that names the cause", () => {
    it("fails when the frontend skips its notify", async () => {
      await expect(
        run(
          frontThen((d) => (d.data!.channel.notify = () => undefined)),
          pvrngBack(SEED),
        ),
      ).rejects.toThrow(/the frontend skipped its notify/);
    });
    it("fails when the backend skips its notify", async () => {
      await expect(
        run(
          pvrngFront,
          backThen((d) => (d.data!.channel.notify = () => undefined)),
        ),
      ).rejects.toThrow(/the backend skipped its notify/);
    });
    it("fails when the backend skips its final check", async () => {
      await expect(
        run(
          pvrngFront,
          backThen((d) => (d.data!.ring.finalCheckForRequests = () => false)),
        ),
      ).rejects.toThrow(/the backend skipped its final check/);
    });
    it("fails when the frontend skips its final check", async () => {
      await expect(
        run(
          frontThen((d) => (d.data!.ring.finalCheckForResponses = () => false)),
          pvrngBack(SEED),
        ),
      ).rejects.toThrow(/the frontend skipped its final check/);
    });
    it("fails when the frontend leaks a data grant", async () => {
      await expect(
        run(
          frontThen((d) => void d.env.grants.grantPage(d.otherendId)),
          pvrngBack(SEED),
        ),
      ).rejects.toThrow(/\[guest-grant\] d1 \(rng-user\) still grants ref 9 .* to d0/);
    });
    it("fails when the frontend never closes a port", async () => {
      await expect(
        run(
          frontThen((d) => void d.env.events.bindUnbound(d.otherendId)),
          pvrngBack(SEED),
        ),
      ).rejects.toThrow(/\[guest-port\] d1 \(rng-user\) port \d+ \(UNBOUND for d0\) left bound/);
    });
    it("fails when the frontend never closes a watch", async () => {
      await expect(
        run(
          frontThen(
            (d) =>
              void d.env.xs.watch(`${d.otherend}/feature-x`).subscribe({ error: () => undefined }),
          ),
          pvrngBack(SEED),
        ),
      ).rejects.toThrow(
        /\[guest-watch\] d1 \(rng-user\) still watches \/local\/domain\/0\/backend\/pvrng\/1\/0\/feature-x/,
      );
    });
    it("fails when the backend never reaches Closed", async () => {
      const stuck: BackendDriver<BackState> = {
        ...pvrngBack(SEED),
        disconnect: () => new Promise<void>(() => undefined),
      };
      await expect(run(pvrngFront, stuck)).rejects.toThrow(
        /the backend never reached Closed: unplug ended with timeout, backend state 5/,
      );
    });
  });
});
