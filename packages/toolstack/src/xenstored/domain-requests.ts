/**
 * The domain requests (4.17 `xenstored_domain.c`): INTRODUCE, RELEASE, RESUME, SET_TARGET and
 * IS_DOMAIN_INTRODUCED are privileged (the dispatcher answers EACCES for others);
 * GET_DOMAIN_PATH is open to all and does not check the domid.
 */
import { DOMID_SELF } from "@pvkit/hypervisor-sim/abi";
import type { XenstoredCore } from "./core.js";
import { destroyDomain, introduceDomain } from "./domain-lifecycle.js";
import type { DomainRecord } from "./domains.js";
import { fail } from "./errors.js";
import { atou, getStrings, oneArg } from "./payload.js";
import { domainPath } from "./path.js";
import { OK, type Handler, type Request } from "./request.js";

/** `find_connected_domain`: ENOENT if not introduced, EINVAL if it has no connection. */
function connectedDomain(xs: XenstoredCore, domid: number): DomainRecord {
  const d = xs.domains.findIntroduced(domid);
  if (!d) fail("ENOENT");
  if (!d.connection) fail("EINVAL");
  return d;
}

/** `onearg_domain`: one domid argument, not 0. */
function oneArgDomain(xs: XenstoredCore, req: Request): DomainRecord {
  const s = oneArg(req.msg.payload);
  if (s === undefined) fail("EINVAL");
  const domid = atou(s);
  if (domid === 0) fail("EINVAL");
  return connectedDomain(xs, domid);
}

/** Leading decimal digits as a number (the frame number is u64 in C; we keep it below 2^53). */
function parseFrame(s: string): number {
  const m = /^\s*(\d+)/.exec(s);
  return m ? Number(m[1]) : 0;
}

/** INTRODUCE `domid\0mfn\0evtchn\0` -> OK. EINVAL for fewer than 3 strings or port 0. */
export const doIntroduce: Handler = (xs, req) => {
  const v = getStrings(req.msg.payload);
  if (v.length < 3) fail("EINVAL");
  const domid = atou(v[0]!);
  const port = atou(v[2]!);
  if (port === 0) fail("EINVAL");
  introduceDomain(xs, domid, parseFrame(v[1]!), port);
  req.reply(OK);
};

/** RELEASE `domid\0` -> OK: the domain's connection and owned nodes go, `@releaseDomain` fires. */
export const doRelease: Handler = (xs, req) => {
  const d = oneArgDomain(xs, req);
  destroyDomain(xs, d, "released");
  req.reply(OK);
};

/** RESUME `domid\0` -> OK: clears the shutdown mark. */
export const doResume: Handler = (xs, req) => {
  const d = oneArgDomain(xs, req);
  d.shutdown = false;
  req.reply(OK);
};

/** SET_TARGET `domid\0tdomid\0` -> OK: `domid` gets owner rights on `tdomid`'s nodes. */
export const doSetTarget: Handler = (xs, req) => {
  const v = getStrings(req.msg.payload);
  if (v.length < 2) fail("EINVAL");
  const d = connectedDomain(xs, atou(v[0]!));
  const t = connectedDomain(xs, atou(v[1]!));
  d.connection!.target = t.connection;
  req.reply(OK);
};

/** IS_DOMAIN_INTRODUCED `domid\0` -> `T\0` or `F\0`; DOMID_SELF always answers T. */
export const doIsDomainIntroduced: Handler = (xs, req) => {
  const s = oneArg(req.msg.payload);
  if (s === undefined) fail("EINVAL");
  const domid = atou(s);
  const yes = domid === DOMID_SELF || xs.domains.findIntroduced(domid) !== undefined;
  req.reply(yes ? "T\0" : "F\0");
};

/** GET_DOMAIN_PATH `domid\0` -> `/local/domain/<domid>\0` for any number. */
export const doGetDomainPath: Handler = (_xs, req) => {
  const s = oneArg(req.msg.payload);
  if (s === undefined) fail("EINVAL");
  req.reply(`${domainPath(atou(s))}\0`);
};
