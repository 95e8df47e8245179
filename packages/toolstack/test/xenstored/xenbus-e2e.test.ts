// The guest SDK's XenbusClient end to end: a guest finds its ring through start_info and talks to
// the real xenstored over the ring transport (grant ref 1 mapped into dom0, store port bound).
// The hypervisor runs in auto mode, so `await` on a client call drives everything.
import { describe, expect, it } from "vitest";
import { firstValueFrom, take, toArray } from "rxjs";
import {
  EventChannels,
  XenError,
  XenbusClient,
  XenbusError,
  type XsWatchEvent,
} from "@pvkit/guest-sdk";
import {
  writeStartInfo,
  xenstore_domain_interface,
  XENSTORE_ERROR,
  type XsMessage,
} from "@pvkit/hypervisor-sim/abi";
import { START_INFO_GFN, STORE_GFN, ringHost } from "./ring-fixture.js";

async function failure(p: Promise<unknown>): Promise<XenbusError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(XenbusError);
    expect(e).toBeInstanceOf(XenError);
    return e as XenbusError;
  }
  throw new Error("expected a rejection");
}

/** Records the requests xenstored receives from `domid`, by type name. */
function requestLog(xs: ReturnType<typeof ringHost>["xs"], domid: number): string[] {
  const log: string[] = [];
  xs.on("request", (conn, _msg: XsMessage, name) => {
    if (conn.kind === "domain" && conn.id === domid) log.push(name);
  });
  return log;
}

function setup() {
  const host = ringHost({ mode: "auto" });
  const u = host.addClientGuest();
  return { ...host, xsd: host.xs, u, xs: u.client, home: `/local/domain/${u.domid}` };
}

describe("XenbusClient e2e: node operations", () => {
  it("writes, reads, lists, removes and checks nodes, relative and absolute", async () => {
    const { xs, home, dom0 } = setup();
    await xs.write("data/a", "1");
    await xs.write(`${home}/data/b`, "two");
    await xs.mkdir("data/c");
    expect(await xs.read("data/a")).toBe("1");
    expect(await xs.read(`${home}/data/b`)).toBe("two");
    expect(await xs.read("data/c")).toBe("");
    expect(await xs.directory("data")).toEqual(["a", "b", "c"]);
    expect(dom0.readString(`${home}/data/b`)).toBe("two");
    expect(await xs.exists("data/c")).toBe(true);
    await xs.rm("data/c");
    expect(await xs.exists("data/c")).toBe(false);
    expect(await xs.directory("data")).toEqual(["a", "b"]);
    expect(await xs.getDomainPath(7)).toBe("/local/domain/7");
  });

  it("keeps values byte-exact, including NULs and non-UTF-8 bytes", async () => {
    const { xs, dom0, home } = setup();
    const value = Uint8Array.from([0, 1, 0xff, 0x80, 0x0a, 0]);
    await xs.write("bin", value);
    expect(await xs.readBytes("bin")).toStrictEqual(value);
    expect(dom0.read(`${home}/bin`)).toStrictEqual(value);
  });

  it("reads and sets permissions", async () => {
    const { xs, u } = setup();
    await xs.write("shared", "x");
    expect(await xs.getPermissions("shared")).toEqual([{ domid: u.domid, access: "none" }]);
    await xs.setPermissions("shared", [
      { domid: u.domid, access: "none" },
      "r0",
      { domid: 9, access: "both" },
    ]);
    expect(await xs.getPermissions("shared")).toEqual([
      { domid: u.domid, access: "none" },
      { domid: 0, access: "read" },
      { domid: 9, access: "both" },
    ]);
  });

  it("rejects each operation's errors with xenstored's name and the path", async () => {
    const { xs, dom0, u } = setup();
    dom0.write("/secret", "s");
    const cases: [() => Promise<unknown>, string, string][] = [
      [() => xs.read("missing"), "ENOENT", "missing"],
      [() => xs.readBytes("/secret"), "EACCES", "/secret"],
      [() => xs.write("a//b", "x"), "EINVAL", "a//b"],
      [() => xs.write("/local/domain/0/x", "x"), "EACCES", "/local/domain/0/x"],
      [() => xs.mkdir("/tool/mine"), "EACCES", "/tool/mine"],
      [() => xs.rm("no/such/parent"), "ENOENT", "no/such/parent"],
      [() => xs.rm("/"), "EACCES", "/"], // the write check comes before the "/" check
      [() => xs.directory("nothing"), "ENOENT", "nothing"],
      [() => xs.getPermissions("nothing"), "ENOENT", "nothing"],
      [() => xs.setPermissions("/secret", ["n0"]), "EACCES", "/secret"],
      [() => xs.exists("/secret"), "EACCES", "/secret"],
    ];
    for (const [op, code, path] of cases) {
      const e = await failure(op());
      expect([e.code, e.reason, e.path], path).toEqual([code, "error-reply", path]);
    }
    await xs.write("mine", "m");
    const e = await failure(xs.setPermissions("mine", ["b0"])); // may not give the node away
    expect([e.code, e.path, e.op]).toEqual(["EPERM", "mine", "XS_SET_PERMS"]);
    expect(u.transport.state).toBe("open");
  });

  it("lists a directory over 4096 bytes through DIRECTORY_PART", async () => {
    const { xs, dom0, home, u, xsd } = setup();
    const names = [...Array(300).keys()].map(
      (i) => `child-with-a-long-name-${String(i).padStart(4, "0")}`,
    );
    expect(names.reduce((n, s) => n + s.length + 1, 0)).toBeGreaterThan(2 * 4096);
    dom0.mkdir(`${home}/big`);
    dom0.setPerms(`${home}/big`, [`n${u.domid}`]);
    for (const n of names) dom0.write(`${home}/big/${n}`, "");
    const log = requestLog(xsd, u.domid);
    expect(await xs.directory("big")).toEqual(names);
    expect(log[0]).toBe("XS_DIRECTORY");
    expect(log.filter((n) => n === "XS_DIRECTORY_PART").length).toBe(3);
  });
});

describe("XenbusClient e2e: concurrency", () => {
  it("matches many concurrent replies by req_id while watch events interleave", async () => {
    const { xs, dom0, home, u, xsd } = setup();
    const n = 60; // more than the 20 outstanding replies xenstored allows a domain
    for (let i = 0; i < n; i++) dom0.write(`${home}/k${i}`, `value-${i}`);
    dom0.setPerms(home, [`n${u.domid}`]);
    const events: XsWatchEvent[] = [];
    const sub = xs.watch("k7").subscribe((e) => events.push(e));
    // When xenstored takes the 30th READ, dom0 changes k7: its watch event goes out between replies.
    let readsSeen = 0;
    xsd.on("request", (conn, _m, name) => {
      if (conn.id === u.domid && name === "XS_READ" && ++readsSeen === 30)
        dom0.write(`${home}/k7`, "changed");
    });
    // Replies and events are dispatched as they come off the ring: note how many reads were
    // still unanswered when the change event was dispatched.
    const inFlightAtEvents: number[] = [];
    xs.watch("k7").subscribe(() => inFlightAtEvents.push(u.client.inFlight));
    const reads = [...Array(n).keys()].map((i) => xs.read(`k${i}`));
    const values = await Promise.all(reads);
    expect(values).toEqual([...Array(n).keys()].map((i) => `value-${i}`));
    expect(events.map((e) => e.path)).toEqual(["k7", "k7"]);
    expect(readsSeen).toBe(n);
    const atChange = inFlightAtEvents[1]!;
    expect(atChange).toBe(31); // 31 of the 60 reads were still unanswered: the event came between replies
    expect(u.client.inFlight).toBe(0);
    sub.unsubscribe();
  });
});

describe("XenbusClient e2e: watches", () => {
  it("emits the initial event, then relative paths of changes below the watched node", async () => {
    const { xs, dom0, home } = setup();
    const got = firstValueFrom(xs.watch("device").pipe(take(3), toArray()));
    await xs.write("device/vbd/768/state", "1"); // before or after the WATCH: events follow
    dom0.write(`${home}/device/vbd/768/state`, "4");
    const events = await got;
    expect(events[0]!.path).toBe("device");
    expect(events.slice(1).map((e) => e.path)).toEqual([
      "device/vbd/768/state",
      "device/vbd/768/state",
    ]);
  });

  it("gives each subscriber its own token and initial event, and UNWATCHes on unsubscribe", async () => {
    const { xs, dom0, home, u, xsd } = setup();
    const log = requestLog(xsd, u.domid);
    await xs.mkdir("w");
    const a: XsWatchEvent[] = [];
    const b: XsWatchEvent[] = [];
    const watch$ = xs.watch("w");
    const sa = watch$.subscribe((e) => a.push(e));
    const sb = watch$.subscribe((e) => b.push(e));
    await xs.read("w"); // replies come in order: both WATCHes are done
    expect(xsd.domainConnection(u.domid)!.watches).toHaveLength(2);
    expect(a.length).toBe(1);
    expect(b.length).toBe(1);
    expect(a[0]!.token).not.toBe(b[0]!.token);
    sa.unsubscribe();
    await xs.read("w");
    expect(log.filter((n) => n === "XS_UNWATCH")).toHaveLength(1);
    expect(xsd.domainConnection(u.domid)!.watches).toHaveLength(1);
    dom0.write(`${home}/w`, "x");
    await xs.read("w");
    expect(a).toHaveLength(1);
    expect(b.map((e) => e.path)).toEqual(["w", "w"]);
    sb.unsubscribe();
    await xs.read("w");
    expect(xsd.domainConnection(u.domid)!.watches).toHaveLength(0);
  });

  it("errors the subscription when xenstored refuses the WATCH", async () => {
    const { xs } = setup();
    const e = await firstValueFrom(xs.watch("bad//path")).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(XenbusError);
    expect([(e as XenbusError).code, (e as XenbusError).path]).toEqual(["EINVAL", "bad//path"]);
  });
});

describe("XenbusClient e2e: transactions", () => {
  it("commits atomically: nothing is visible before the end", async () => {
    const { xs, dom0, home } = setup();
    await xs.write("counter", "1");
    const r = await xs.transaction(async (tx) => {
      const n = Number(await tx.read("counter"));
      await tx.write("counter", String(n + 1));
      await tx.write("other", "o");
      expect(dom0.readString(`${home}/counter`)).toBe("1");
      return n;
    });
    expect(r).toBe(1);
    expect(dom0.readString(`${home}/counter`)).toBe("2");
    expect(dom0.readString(`${home}/other`)).toBe("o");
  });

  it("retries the whole transaction when the commit fails with EAGAIN", async () => {
    const { xs, dom0, home, u, xsd } = setup();
    const log = requestLog(xsd, u.domid);
    await xs.write("counter", "10");
    let attempts = 0;
    await xs.transaction(async (tx) => {
      attempts++;
      const n = Number(await tx.read("counter"));
      if (attempts === 1) dom0.write(`${home}/counter`, "20"); // a conflicting write from dom0
      await tx.write("counter", String(n + 1));
    });
    expect(attempts).toBe(2);
    expect(dom0.readString(`${home}/counter`)).toBe("21");
    expect(log.filter((n) => n === "XS_TRANSACTION_START")).toHaveLength(2);
    expect(xsd.domainConnection(u.domid)!.transactions.size).toBe(0);
  });

  it("gives up with EAGAIN after the configured number of retries", async () => {
    const { xs, dom0, home } = setup();
    await xs.write("hot", "0");
    let attempts = 0;
    const e = await failure(
      xs.transaction(
        async (tx) => {
          attempts++;
          await tx.read("hot");
          dom0.write(`${home}/hot`, String(attempts));
          await tx.write("hot", "mine");
        },
        { retries: 3 },
      ),
    );
    expect(attempts).toBe(4);
    expect([e.code, e.reason, e.op]).toEqual(["EAGAIN", "error-reply", "XS_TRANSACTION_END"]);
    expect(dom0.readString(`${home}/hot`)).toBe("4");
  });

  it("defaults to 10 retries", async () => {
    const { xs, dom0, home } = setup();
    await xs.write("hot", "0");
    let attempts = 0;
    await failure(
      xs.transaction(async (tx) => {
        attempts++;
        await tx.read("hot");
        dom0.write(`${home}/hot`, String(attempts));
        await tx.write("hot", "mine");
      }),
    );
    expect(attempts).toBe(11);
  });

  it("aborts on an error in the callback, rethrows it and leaves the store alone", async () => {
    const { xs, dom0, home, u, xsd } = setup();
    const log = requestLog(xsd, u.domid);
    await xs.write("v", "before");
    let kept: import("@pvkit/guest-sdk").XenbusTransaction | undefined;
    await expect(
      xs.transaction(async (tx) => {
        kept = tx;
        await tx.write("v", "during");
        await tx.read("missing"); // ENOENT
      }),
    ).rejects.toMatchObject({ code: "ENOENT", path: "missing" });
    expect(dom0.readString(`${home}/v`)).toBe("before");
    expect(log.filter((n) => n === "XS_TRANSACTION_END")).toHaveLength(1);
    expect(xsd.domainConnection(u.domid)!.transactions.size).toBe(0);
    // The ended transaction refuses further use without sending anything.
    expect((await failure(kept!.read("v"))).reason).toBe("closed");
  });
});

describe("XenbusClient e2e: failures never hang", () => {
  it("rejects a pending request when xenstored gives up on a corrupt ring", async () => {
    const { xs, u } = setup();
    await xs.write("x", "1");
    const pending = xs.read("x"); // written to the ring, not yet seen by xenstored
    pending.catch(() => undefined);
    // The guest's own bug: it publishes a request producer index beyond the ring.
    const reqProd = xenstore_domain_interface.req_prod[0];
    u.page.setU32(reqProd, (u.page.getU32(reqProd) + 2000) >>> 0);
    const e = await failure(pending);
    expect([e.code, e.reason, e.ringError, e.path]).toEqual(["EIO", "ring-error", 2, "x"]);
    expect(u.transport.error).toBe(XENSTORE_ERROR.XENSTORE_ERROR_RINGIDX);
    expect((await failure(xs.read("x"))).reason).toBe("ring-error");
  });

  it("rejects pending requests and errors watches when the client is closed", async () => {
    const { xs } = setup();
    const errors: unknown[] = [];
    xs.watch("w").subscribe({ error: (e) => errors.push(e) });
    const pending = xs.read("w");
    pending.catch(() => undefined);
    xs.close();
    expect((await failure(pending)).reason).toBe("closed");
    expect((errors[0] as XenbusError).reason).toBe("closed");
  });
});

describe("guest-sdk README xenbus example", () => {
  it("runs against xenstored and prints what the README says", async () => {
    const host = ringHost({ mode: "auto" });
    const g = host.addGuest();
    writeStartInfo(g.guest.memory.writablePage(START_INFO_GFN), {
      store_mfn: STORE_GFN,
      store_evtchn: g.port,
    });
    const out: unknown[] = [];
    const log = (...a: unknown[]): void => {
      out.push(a.length === 1 ? a[0] : a.join(" "));
    };

    // The README's main(), with console.log replaced by log.
    const guest = g.guest;
    const events = EventChannels.of(guest);
    const startInfoGfn = START_INFO_GFN;
    const xs = XenbusClient.fromStartInfo(guest, events, { startInfoGfn });
    await xs.write("data/greeting", "hello");
    log(await xs.read("data/greeting"));
    const sub = xs.watch("data").subscribe((e) => log("watch", e.path));
    await xs.transaction(async (tx) => {
      const n = Number((await tx.exists("data/count")) ? await tx.read("data/count") : "0");
      await tx.write("data/count", String(n + 1));
    });
    log(await xs.directory("data"));
    try {
      await xs.read("data/missing");
    } catch (err) {
      if (err instanceof XenbusError) log(err.code, err.path);
    }
    sub.unsubscribe();
    xs.close();

    expect(out).toEqual([
      "hello",
      "watch data",
      "watch data/count",
      ["greeting", "count"],
      "ENOENT data/missing",
    ]);
    expect(host.xs.inspect(`/local/domain/${g.domid}/data/count`)?.value).toStrictEqual(
      new TextEncoder().encode("1"),
    );
  });
});
