/**
 * The xenstore operations, bound to a transaction id (0 outside transactions). `XenbusClient`
 * and `XenbusTransaction` are both sessions. Paths are absolute (`/local/domain/3/name`) or
 * relative to the domain's home `/local/domain/<domid>` ("device/vbd/768/state").
 *
 * Every method returns a promise that rejects with a `XenbusError` whose `code` is xenstored's
 * error name and whose `path` is the path given (what each op can fail with: cxenstored's
 * `tools/xenstore/xenstored_core.c`).
 *
 * Paths, tokens and permission strings are xs_wire byte strings (one char per byte, see
 * `xs-wire-codec.ts` of `@pvkit/hypervisor-sim/abi`); a char above U+00FF rejects with
 * RangeError. Values are bytes: {@link XenstoreSession.readBytes} and `write(path, bytes)` keep
 * them exact, while {@link XenstoreSession.read} and `write(path, string)` treat the value as
 * UTF-8 text.
 */
import { XS, nulJoin, nulSplit, xsString, type XsMessage } from "@pvkit/hypervisor-sim/abi";
import { XenbusError } from "./xenbus-error.js";
import { type XenstorePermission, formatPermission, parsePermission } from "./permissions.js";
import type { XsRingConnection } from "./xs-ring-connection.js";

/** A node value's text: its bytes as UTF-8 (the value-text convention of this API only). */
const valueText = new TextDecoder("utf-8");
const valueBytes = new TextEncoder();

/**
 * The UTF-8 bytes of `s`. ASCII text, what values mostly hold, is one byte per char and is copied
 * without the TextEncoder, whose fixed cost is several times the copy for short values.
 */
function utf8(s: string): Uint8Array {
  const n = s.length;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) return valueBytes.encode(s);
    out[i] = c;
  }
  return out;
}

/** DIRECTORY_PART restarts (the directory changed between parts) before giving up with EAGAIN. */
export const DIRECTORY_PART_MAX_RESTARTS = 64;

/**
 * The xenstore operations bound to one transaction id; see the file header. Abstract: the
 * sessions are a `XenbusClient` (transaction 0) and its `XenbusTransaction`s.
 */
export abstract class XenstoreSession {
  /** @internal */
  protected readonly conn: XsRingConnection;
  readonly #tx: number;

  /** @internal */
  constructor(conn: XsRingConnection, txId: number) {
    this.conn = conn;
    this.#tx = txId;
  }

  /** @internal Overridden by transactions that have ended. */
  protected checkUsable(_type: number, _path: string | undefined): XenbusError | undefined {
    return undefined;
  }

  /** @internal Sends one request in this session. */
  protected send(type: number, payload: Uint8Array, path: string | undefined): Promise<XsMessage> {
    const bad = this.checkUsable(type, path);
    if (bad !== undefined) return Promise.reject(bad);
    return this.conn.request({ type, payload, tx_id: this.#tx, path });
  }

  /** READ: the value as UTF-8 text. */
  async read(path: string): Promise<string> {
    return valueText.decode(await this.readBytes(path));
  }

  /** READ: the value's exact bytes. */
  async readBytes(path: string): Promise<Uint8Array> {
    return (await this.send(XS.XS_READ, nulJoin([path]), path)).payload;
  }

  /** WRITE: creates the node (and missing parents) or replaces its value. Strings go as UTF-8. */
  async write(path: string, value: string | Uint8Array): Promise<void> {
    const v = typeof value === "string" ? utf8(value) : value;
    await this.send(XS.XS_WRITE, nulJoin([path, v], false), path);
  }

  /** MKDIR: creates the node with an empty value; succeeds if it exists. */
  async mkdir(path: string): Promise<void> {
    await this.send(XS.XS_MKDIR, nulJoin([path]), path);
  }

  /** RM: removes the node and its subtree (OK if missing but its parent exists). */
  async rm(path: string): Promise<void> {
    await this.send(XS.XS_RM, nulJoin([path]), path);
  }

  /**
   * DIRECTORY: child names in creation order. A listing over 4096 bytes (E2BIG) is fetched with
   * DIRECTORY_PART instead, restarting when the node's generation changes between parts
   * (libxenstore's `xs_directory_part`).
   */
  async directory(path: string): Promise<string[]> {
    try {
      return nulSplit((await this.send(XS.XS_DIRECTORY, nulJoin([path]), path)).payload);
    } catch (e) {
      if (e instanceof XenbusError && e.reason === "error-reply" && e.code === "E2BIG")
        return this.#directoryPart(path);
      throw e;
    }
  }

  async #directoryPart(path: string): Promise<string[]> {
    let restarts = 0;
    let gen: string | undefined;
    let parts: Uint8Array[] = [];
    let off = 0;
    for (;;) {
      let reply: XsMessage;
      try {
        reply = await this.send(XS.XS_DIRECTORY_PART, nulJoin([path, String(off)]), path);
      } catch (e) {
        // A server without DIRECTORY_PART: the listing is simply too big.
        if (e instanceof XenbusError && e.code === "ENOSYS") {
          throw new XenbusError({
            reason: "error-reply",
            type: XS.XS_DIRECTORY,
            path,
            serverName: "E2BIG",
          });
        }
        throw e;
      }
      const p = reply.payload;
      const nul = p.indexOf(0);
      const g = xsString(p.subarray(0, nul < 0 ? p.length : nul));
      const rest = nul < 0 ? new Uint8Array(0) : p.subarray(nul + 1);
      if (off > 0 && g !== gen) {
        if (++restarts > DIRECTORY_PART_MAX_RESTARTS) {
          throw new XenbusError({
            reason: "error-reply",
            type: XS.XS_DIRECTORY_PART,
            path,
            serverName: "EAGAIN",
            detail: "the directory kept changing",
          });
        }
        gen = undefined;
        parts = [];
        off = 0;
        continue;
      }
      gen = g;
      parts.push(rest);
      off += rest.length;
      // The list ends with an extra NUL: done when the bytes so far end in "\0\0" (or hold none).
      const all = concat(parts, off);
      if (off <= 1 || all[off - 2] === 0) return off > 1 ? nulSplit(all.subarray(0, off - 1)) : [];
    }
  }

  /** GET_PERMS: the node's permission list (owner first). */
  async getPermissions(path: string): Promise<XenstorePermission[]> {
    return nulSplit((await this.send(XS.XS_GET_PERMS, nulJoin([path]), path)).payload).map(
      parsePermission,
    );
  }

  /**
   * SET_PERMS: replaces the permission list; entry 0 is the owner and the default access.
   * @throws RangeError (synchronously rejected) for a malformed entry.
   */
  async setPermissions(
    path: string,
    perms: readonly (XenstorePermission | string)[],
  ): Promise<void> {
    const strings = perms.map(formatPermission);
    await this.send(XS.XS_SET_PERMS, nulJoin([path, ...strings]), path);
  }

  /** Whether the node exists (READ; ENOENT means no, any other error is thrown). */
  async exists(path: string): Promise<boolean> {
    try {
      await this.readBytes(path);
      return true;
    } catch (e) {
      if (e instanceof XenbusError && e.reason === "error-reply" && e.code === "ENOENT")
        return false;
      throw e;
    }
  }
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
