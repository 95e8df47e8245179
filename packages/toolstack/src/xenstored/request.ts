/** The context a request handler runs in. */
import type { Connection } from "./connection.js";
import type { Ctx, XenstoredCore } from "./core.js";
import { xsBytes, type XsMessage } from "@pvkit/hypervisor-sim/abi";

export interface Request extends Ctx {
  readonly conn: Connection;
  readonly msg: XsMessage;
  /** Queues the success reply (type = the request's type). */
  reply(payload: Uint8Array | string): void;
}

/** A handler: replies through `req.reply` or throws a XenstoreError. */
export type Handler = (xs: XenstoredCore, req: Request) => void;

/** The `OK\0` acknowledgement. */
export const OK = xsBytes("OK\0");
