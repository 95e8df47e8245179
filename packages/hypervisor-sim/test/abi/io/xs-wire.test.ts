// The xs_wire ABI against the real header (when libxen-dev is installed) and against Xen 4.17's
// io/xs_wire.h values written out by hand.
import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  XENSTORE_ABS_PATH_MAX,
  XENSTORE_PAYLOAD_MAX,
  XENSTORE_REL_PATH_MAX,
  XS,
  XS_INVALID,
  XS_TYPE_COUNT,
  xsd_errors,
  xsd_sockmsg,
  XSD_SOCKMSG_SIZE,
  xsTypeName,
} from "@pvkit/hypervisor-sim/abi";

const HEADER = "/usr/include/xen/io/xs_wire.h";

describe("xs_wire ABI", () => {
  it("matches Xen 4.17's xs_wire.h header layout, message types, errors and limits", () => {
    expect(XSD_SOCKMSG_SIZE).toBe(16);
    expect(xsd_sockmsg).toEqual({ type: [0, 4], req_id: [4, 4], tx_id: [8, 4], len: [12, 4] });
    expect([
      XS.XS_CONTROL,
      XS.XS_READ,
      XS.XS_WATCH_EVENT,
      XS.XS_ERROR,
      XS.XS_SET_TARGET,
      XS.XS_RESET_WATCHES,
      XS.XS_DIRECTORY_PART,
    ]).toEqual([0, 2, 15, 16, 19, 21, 22]);
    expect(XS_TYPE_COUNT).toBe(23);
    expect(XS_INVALID).toBe(0xffff);
    expect(xsTypeName(20)).toBeUndefined();
    expect([XENSTORE_PAYLOAD_MAX, XENSTORE_ABS_PATH_MAX, XENSTORE_REL_PATH_MAX]).toEqual([
      4096, 3072, 2048,
    ]);
    expect(xsd_errors.join(",")).toBe(
      "EINVAL,EACCES,EEXIST,EISDIR,ENOENT,ENOMEM,ENOSPC,EIO,ENOTEMPTY,ENOSYS,EROFS,EBUSY,EAGAIN,EISCONN,E2BIG,EPERM",
    );
  });
  it.skipIf(!existsSync(HEADER))(
    "matches the enum, error table and limits of the installed xs_wire.h",
    () => {
      const h = readFileSync(HEADER, "utf8");
      const body = /enum xsd_sockmsg_type\s*\{([\s\S]*?)\};/.exec(h)![1]!;
      // Walk the C enum: explicit values or previous + 1; skip #define lines and comments.
      const values = new Map<string, number>();
      let next = 0;
      for (const line of body.replace(/\/\*[\s\S]*?\*\//g, "").split("\n")) {
        const m = /^\s*(XS_\w+)\s*(?:=\s*([^,]+))?,?\s*$/.exec(line);
        if (!m || line.trim().startsWith("#")) continue;
        let v = next;
        if (m[2]) {
          const e = m[2].trim();
          const plus = /^(XS_\w+)\s*\+\s*(\d+)$/.exec(e);
          v = plus ? values.get(plus[1]!)! + Number(plus[2]) : Number(e);
        }
        values.set(m[1]!, v);
        next = v + 1;
      }
      for (const [name, v] of Object.entries(XS)) expect(values.get(name), name).toBe(v);
      expect(values.get("XS_TYPE_COUNT")).toBe(XS_TYPE_COUNT);
      expect(values.get("XS_INVALID")).toBe(XS_INVALID);
      const errs = [...h.matchAll(/XSD_ERROR\((E\w+)\)/g)].map((m) => m[1]);
      expect(errs).toEqual([...xsd_errors]);
      const def = (n: string) => Number(new RegExp(`#define ${n} (\\d+)`).exec(h)![1]);
      expect(def("XENSTORE_PAYLOAD_MAX")).toBe(XENSTORE_PAYLOAD_MAX);
      expect(def("XENSTORE_ABS_PATH_MAX")).toBe(XENSTORE_ABS_PATH_MAX);
      expect(def("XENSTORE_REL_PATH_MAX")).toBe(XENSTORE_REL_PATH_MAX);
    },
  );
});
