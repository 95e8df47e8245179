/**
 * `libxl__device_generic_add` (libxl_device.c, 4.17): one transaction that writes a device's
 * frontend directory, backend directory and the toolstack's `/libxl/...` copy, with libxl's
 * permissions (keys of `io/blkif.h` and `io/console.h`; `frontend_perms` / `backend_perms`):
 *
 * ```
 * /local/domain/<F>/device/<kind>/<devid>           n<F> r<B>   (console 0: .../console, n<B> r<F>)
 *     backend, <front keys>                         n<F> r<B>
 *     <read-only front keys>                        n<B> r<F>
 * /local/domain/<B>/backend/<bkind>/<F>/<devid>     n<B> r<F>
 *     frontend, <back keys>                         inherited
 * /libxl/<F>/device/<kind>/<devid>                  n0 (inherited)
 *     frontend, backend, <back keys>
 * ```
 */
import type { DeviceEntries } from "./device-spec.js";
import { domPath, libxlPath } from "./libxl-tree.js";
import type { XsSession } from "./xs-session.js";

/** The three directories of a device. */
export interface DevicePaths {
  readonly frontend: string;
  readonly backend: string;
  readonly libxl: string;
}

/** `libxl__device_frontend_path`, `libxl__device_backend_path`, `libxl__device_libxl_path`. */
export function devicePaths(
  d: Pick<DeviceEntries, "kind" | "backendKind" | "devid" | "domid" | "backendDomid">,
): DevicePaths {
  const frontend =
    d.kind === "console" && d.devid === 0
      ? `${domPath(d.domid)}/console`
      : `${domPath(d.domid)}/device/${d.kind}/${d.devid}`;
  return {
    frontend,
    backend: `${domPath(d.backendDomid)}/backend/${d.backendKind}/${d.domid}/${d.devid}`,
    libxl: `${libxlPath(d.domid)}/device/${d.kind}/${d.devid}`,
  };
}

/** Writes one device in one transaction (retried on EAGAIN). */
export function addDevice(xs: XsSession, d: DeviceEntries): DevicePaths {
  const paths = devicePaths(d);
  const frontendPerms = [`n${d.domid}`, `r${d.backendDomid}`];
  const roFrontendPerms = [`n${d.backendDomid}`, `r${d.domid}`];
  const backendPerms = [`n${d.backendDomid}`, `r${d.domid}`];
  const primaryConsole = d.kind === "console" && d.devid === 0;
  xs.transaction((t) => {
    xs.rm(paths.libxl, t);
    xs.write(`${paths.libxl}/frontend`, paths.frontend, t);
    xs.write(`${paths.libxl}/backend`, paths.backend, t);

    xs.rm(paths.frontend, t);
    xs.mkdir(paths.frontend, t);
    // Console 0 keeps the pre-xenbus layout the guest must not change.
    xs.setPerms(paths.frontend, primaryConsole ? roFrontendPerms : frontendPerms, t);
    xs.write(`${paths.frontend}/backend`, paths.backend, t);
    for (const [k, v] of d.front) {
      xs.write(`${paths.frontend}/${k}`, v, t);
      xs.setPerms(`${paths.frontend}/${k}`, frontendPerms, t);
    }
    for (const [k, v] of d.roFront) {
      xs.write(`${paths.frontend}/${k}`, v, t);
      xs.setPerms(`${paths.frontend}/${k}`, roFrontendPerms, t);
    }

    xs.rm(paths.backend, t);
    xs.mkdir(paths.backend, t);
    xs.setPerms(paths.backend, backendPerms, t);
    xs.write(`${paths.backend}/frontend`, paths.frontend, t);
    for (const [k, v] of d.back) xs.write(`${paths.backend}/${k}`, v, t);

    // The /libxl copy, so the toolstack never has to trust the backend's directory.
    for (const [k, v] of d.back) xs.write(`${paths.libxl}/${k}`, v, t);
  });
  return paths;
}
