// The xenstore tree the host writes for a domain, compared with what libxl 4.17 writes
// (libxl__domain_make, libxl__build_post, libxl__device_console_add, device_disk_add,
// libxl__device_generic_add): every key, its value and its permission list.
import { describe, expect, it } from "vitest";
import type { XsLocalClient } from "@pvkit/toolstack";
import { useHost } from "@pvkit/toolstack/testing";
import { pathsUnder, watcher } from "./helpers.js";

/** `path -> "value | perms"` for every node under `prefix`, relative to it. */
function dump(c: XsLocalClient, paths: string[], prefix: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of paths)
    out[p.slice(prefix.length) || "."] = `${c.readString(p)} | ${c.getPerms(p).join(",")}`;
  return out;
}

describe("domain builder: xenstore tree", () => {
  const host = useHost();

  it("writes /local/domain/<id> with libxl's keys, values and permissions", async () => {
    const d = await host().createDomain({ name: "web", memory: 16, vcpus: 2 });
    const c = host().openXenstore();
    const id = d.domid;
    const home = `/local/domain/${id}`;
    const ro = `n0,r${id}`;
    const rw = `n${id}`;
    const vm = `/vm/${d.uuid}`;
    expect(
      dump(
        c,
        pathsUnder(host(), home).filter((p) => !p.startsWith(`${home}/console`)),
        home,
      ),
    ).toEqual({
      ".": ` | ${ro}`,
      "/vm": `${vm} | ${ro}`,
      "/name": `web | ${ro}`,
      "/domid": `${id} | ${ro}`,
      "/cpu": ` | ${ro}`,
      "/cpu/0": ` | ${ro}`,
      "/cpu/0/availability": `online | ${ro}`,
      "/cpu/1": ` | ${ro}`,
      "/cpu/1/availability": `online | ${ro}`,
      "/memory": ` | ${ro}`,
      "/memory/static-max": `16384 | ${ro}`,
      "/memory/target": `16384 | ${ro}`,
      "/memory/videoram": `0 | ${ro}`,
      "/device": ` | ${ro}`,
      "/device/suspend": ` | ${ro}`,
      "/device/suspend/event-channel": ` | ${rw}`,
      "/control": ` | ${ro}`,
      "/control/shutdown": ` | ${rw}`,
      "/control/feature-poweroff": ` | ${rw}`,
      "/control/feature-reboot": ` | ${rw}`,
      "/control/feature-suspend": ` | ${rw}`,
      "/control/sysrq": ` | ${rw}`,
      "/control/platform-feature-multiprocessor-suspend": `1 | ${ro}`,
      "/control/platform-feature-xs_reset_watches": `1 | ${ro}`,
      "/data": ` | ${rw}`,
      "/drivers": ` | ${rw}`,
      "/feature": ` | ${rw}`,
      "/attr": ` | ${rw}`,
      "/error": ` | ${rw}`,
      "/store": ` | ${ro}`,
      "/store/port": `${d.storePort} | ${ro}`,
      "/store/ring-ref": `${d.layout.xenstoreGfn} | ${ro}`,
    });
    expect(dump(c, pathsUnder(host(), vm), vm)).toEqual({
      ".": ` | ${ro}`,
      "/uuid": `${d.uuid} | ${ro}`,
      "/name": `web | ${ro}`,
      "/image": ` | ${ro}`,
      "/image/ostype": `linux | ${ro}`,
      "/image/kernel": `pvkit:main | ${ro}`,
      "/start_time": `1767225600.00 | ${ro}`,
    });
    expect(c.readString(`/libxl/${id}/type`)).toBe("pv");
    expect(c.getPerms(`/libxl/${id}`)).toEqual(["n0"]);
    expect(c.getPerms(`/libxl/${id}/device`)).toEqual(["n0"]);
    c.conn.close();
  });

  it("writes console 0 read-only to the guest, with the ring frame and port", async () => {
    const d = await host().createDomain({ name: "con" });
    const c = host().openXenstore();
    const id = d.domid;
    const fe = `/local/domain/${id}/console`;
    const be = `/local/domain/0/backend/console/${id}/0`;
    expect(dump(c, pathsUnder(host(), fe), fe)).toEqual({
      ".": ` | n0,r${id}`,
      "/backend": `${be} | n0,r${id}`,
      "/backend-id": `0 | n${id},r0`,
      "/limit": `1048576 | n0,r${id}`,
      "/type": `xenconsoled | n0,r${id}`,
      "/output": `pty | n0,r${id}`,
      "/tty": ` | n0,r${id}`,
      "/port": `${d.consolePort} | n0,r${id}`,
      "/ring-ref": `${d.layout.consoleGfn} | n0,r${id}`,
    });
    expect(dump(c, pathsUnder(host(), be), be)).toEqual({
      ".": ` | n0,r${id}`,
      "/frontend": `${fe} | n0,r${id}`,
      "/frontend-id": `${id} | n0,r${id}`,
      "/online": `1 | n0,r${id}`,
      "/state": `1 | n0,r${id}`,
      "/protocol": `vt100 | n0,r${id}`,
    });
    c.conn.close();
  });

  it("writes vbd frontend and backend directories with libxl's keys and permissions, and the /libxl copy", async () => {
    const d = await host().createDomain({
      name: "disk",
      devices: [
        {
          kind: "vbd",
          vdev: "xvdb",
          params: "/dev/vg/disk",
          mode: "r",
          backendKeys: { "physical-device": "fe:1" },
        },
      ],
    });
    const c = host().openXenstore();
    const id = d.domid;
    const fe = `/local/domain/${id}/device/vbd/51728`;
    const be = `/local/domain/0/backend/vbd/${id}/51728`;
    const fp = `n${id},r0`;
    const bp = `n0,r${id}`;
    expect(dump(c, pathsUnder(host(), fe), fe)).toEqual({
      ".": ` | ${fp}`,
      "/backend": `${be} | ${fp}`,
      "/backend-id": `0 | ${fp}`,
      "/state": `1 | ${fp}`,
      "/virtual-device": `51728 | ${fp}`,
      "/device-type": `disk | ${fp}`,
      "/trusted": `1 | ${fp}`,
      "/protocol": `x86_64-abi | ${fp}`,
    });
    const back = {
      "/frontend": fe,
      "/params": "/dev/vg/disk",
      "/frontend-id": String(id),
      "/online": "1",
      "/removable": "0",
      "/bootable": "1",
      "/state": "1",
      "/dev": "xvdb",
      "/type": "phy",
      "/mode": "r",
      "/device-type": "disk",
      "/discard-enable": "1",
      "/specification": "xen",
      "/physical-device": "fe:1",
    };
    expect(dump(c, pathsUnder(host(), be), be)).toEqual({
      ".": ` | ${bp}`,
      ...Object.fromEntries(Object.entries(back).map(([k, v]) => [k, `${v} | ${bp}`])),
    });
    const lx = `/libxl/${id}/device/vbd/51728`;
    const { "/frontend": _f, ...copied } = back;
    expect(dump(c, pathsUnder(host(), lx), lx)).toEqual({
      ".": " | n0",
      "/frontend": `${fe} | n0`,
      "/backend": `${be} | n0`,
      ...Object.fromEntries(Object.entries(copied).map(([k, v]) => [k, `${v} | n0`])),
    });
    c.conn.close();
  });

  it("creates generic devices for any kind, with a backend in another domain", async () => {
    const be = await host().createDomain({ name: "driver-domain" });
    const d = await host().createDomain({
      name: "front",
      devices: [
        {
          kind: "vfoo",
          backend: be.domid,
          devid: 3,
          frontendKeys: { "ring-pages": "2" },
          backendKeys: { "feature-x": "1" },
        },
      ],
    });
    const c = host().openXenstore();
    const fe = `/local/domain/${d.domid}/device/vfoo/3`;
    const bdir = `/local/domain/${be.domid}/backend/vfoo/${d.domid}/3`;
    expect(c.getPerms(fe)).toEqual([`n${d.domid}`, `r${be.domid}`]);
    expect(c.getPerms(bdir)).toEqual([`n${be.domid}`, `r${d.domid}`]);
    expect(c.directory(fe)).toEqual(["backend", "backend-id", "state", "ring-pages"]);
    expect(c.directory(bdir)).toEqual(["frontend", "frontend-id", "online", "state", "feature-x"]);
    expect(c.readString(`${fe}/backend-id`)).toBe(String(be.domid));
    c.conn.close();
  });

  it("introduces the domain to xenstored, firing @introduceDomain", async () => {
    const w = watcher(host());
    w.client.watch("@introduceDomain", "intro");
    w.client.takeEvents(); // the initial event
    const d = await host().createDomain({ name: "intro" });
    await Promise.resolve();
    expect(w.events.filter((e) => e.token === "intro").map((e) => e.path)).toEqual([
      "@introduceDomain",
    ]);
    expect(host().xenstored.isIntroduced(d.domid)).toBe(true);
    expect(w.client.isDomainIntroduced(d.domid)).toBe(true);
    w.client.unwatch("@introduceDomain", "intro");
    w.close();
  });

  it("writes dom0's name and domid as xen-init-dom0 does", () => {
    const c = host().openXenstore();
    expect([c.readString("/local/domain/0/name"), c.readString("/local/domain/0/domid")]).toEqual([
      "Domain-0",
      "0",
    ]);
    c.conn.close();
  });

  it("refuses a duplicate name and bad devices before creating anything", async () => {
    await host().createDomain({ name: "twin" });
    const before = host().hv.domains.length;
    await expect(host().createDomain({ name: "twin" })).rejects.toMatchObject({
      code: "ERR_NAME_TAKEN",
    });
    await expect(
      host().createDomain({ name: "bad", devices: [{ kind: "a/b", devid: 1 }] }),
    ).rejects.toMatchObject({ code: "ERR_BAD_OPTION" });
    await expect(
      host().createDomain({ name: "bad", devices: [{ kind: "vbd", vdev: "floppy" }] }),
    ).rejects.toMatchObject({ code: "ERR_BAD_OPTION" });
    await expect(host().createDomain({ name: "bad", memory: 0 })).rejects.toMatchObject({
      code: "ERR_BAD_OPTION",
    });
    expect(host().hv.domains.length).toBe(before);
  });
});
