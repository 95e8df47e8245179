/**
 * A host's xenstore values as its inspectors read them: straight from xenstored's tree
 * (`Xenstored.inspect`), with no connection, request, watch or quota charge, so a tracer or the
 * sanitizer looking at a device's keys never shows up in the traffic it observes.
 */
import type { Host } from "./host.js";

/** The value of `path` (absolute) decoded as UTF-8, or undefined when it does not exist. */
export function inspectText(host: Host, path: string): string | undefined {
  const n = host.xenstored.inspect(path);
  return n === undefined ? undefined : new TextDecoder().decode(n.value);
}

/** The value of `path` as a decimal integer, or undefined when absent or not all digits. */
export function inspectInt(host: Host, path: string): number | undefined {
  const v = inspectText(host, path);
  return v !== undefined && /^\s*\d+\s*$/.test(v) ? Number(v) : undefined;
}
