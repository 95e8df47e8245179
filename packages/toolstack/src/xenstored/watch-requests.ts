/** WATCH, UNWATCH and RESET_WATCHES (4.17 `do_watch`, `do_unwatch`, `do_reset_watches`). */
import { fail } from "./errors.js";
import { watchMemory } from "./memory.js";
import { getStrings } from "./payload.js";
import { canonicalize, isValidNodename } from "./path.js";
import { OK, type Handler } from "./request.js";
import { watchEventPath } from "./watches.js";
import { XENSTORE_REL_PATH_MAX } from "@pvkit/hypervisor-sim/abi";

/**
 * WATCH `path\0token\0` -> OK, then at once a WATCH_EVENT for the watched path (even if the node
 * does not exist). Exactly two strings (EINVAL), a valid path or an `@` name up to 2048 bytes
 * (EINVAL), no duplicate (path, token) (EEXIST), an unprivileged domain with more than the quota
 * of watches already (E2BIG), the watch's memory (path + token) within the domain's memory
 * quota (ENOMEM).
 */
export const doWatch: Handler = (xs, req) => {
  const strings = getStrings(req.msg.payload);
  if (strings.length !== 2) fail("EINVAL");
  let [path, token] = strings as [string, string];
  let relative = false;
  if (path.startsWith("@")) {
    if (path.length > XENSTORE_REL_PATH_MAX) fail("EINVAL");
  } else {
    relative = !path.startsWith("/");
    path = canonicalize(path, req.conn.implicitPath);
    if (!isValidNodename(path, xs.quotas.pathMax)) fail("EINVAL");
  }
  if (req.conn.watches.some((w) => w.path === path && w.token === token)) fail("EEXIST");
  const count = xs.unprivileged(req.conn) ? (req.conn.domain?.nbwatch ?? 0) : 0;
  if (count > xs.quotas.watchesPerDomain) fail("E2BIG");
  if (!xs.memory.add(req.conn.id, watchMemory(path, token))) fail("ENOMEM");
  const watch = { path, token, relative: relative ? req.conn.implicitPath : undefined };
  req.conn.watches.push(watch);
  xs.watchIndex.add(req.conn, watch);
  if (req.conn.domain) req.conn.domain.nbwatch++;
  req.reply(OK);
  // "This event will not be linked to the XS_WATCH request" (4.17 do_watch): it has no cause, so
  // the WATCH stops being outstanding once its reply is written.
  req.conn.queueEvent(watchEventPath(watch, path), token);
};

/** UNWATCH `path\0token\0` -> OK, or ENOENT for a pair not registered (EINVAL unless 2 strings). */
export const doUnwatch: Handler = (xs, req) => {
  const strings = getStrings(req.msg.payload);
  if (strings.length !== 2) fail("EINVAL");
  const [raw, token] = strings as [string, string];
  const path = canonicalize(raw, req.conn.implicitPath);
  const i = req.conn.watches.findIndex((w) => w.path === path && w.token === token);
  if (i < 0) fail("ENOENT");
  const [w] = req.conn.watches.splice(i, 1);
  xs.watchIndex.remove(req.conn, w!);
  xs.memory.add(req.conn.id, -watchMemory(w!.path, w!.token), true);
  if (req.conn.domain && req.conn.domain.nbwatch > 0) req.conn.domain.nbwatch--;
  req.reply(OK);
};

/** RESET_WATCHES -> OK: drops all of the caller's watches and all its transactions. */
export const doResetWatches: Handler = (xs, req) => {
  xs.dropWatches(req.conn);
  xs.dropTransactions(req.conn);
  req.reply(OK);
};
