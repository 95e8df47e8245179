/**
 * Reading and writing xenstore nodes from a test as the toolstack would: through a fresh
 * privileged (dom0) client that is closed again, so the test holds no connection, watch or
 * transaction that the leak checks would then report.
 */
import type { Host } from "../host/host.js";

/** The value of `path` (absolute), or undefined when it does not exist. */
export function readNode(host: Host, path: string): string | undefined {
  const c = host.openXenstore();
  try {
    return c.readString(path);
  } catch {
    return undefined;
  } finally {
    c.conn.close();
  }
}

/** Writes `value` at `path` (absolute), as dom0 (e.g. a toolstack or a hotplug script). */
export function writeNode(host: Host, path: string, value: string): void {
  const c = host.openXenstore();
  try {
    c.write(path, value);
  } finally {
    c.conn.close();
  }
}
