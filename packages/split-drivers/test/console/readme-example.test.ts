// The console example of README.md, run as written (the log directory is a temporary one).
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConsoleFront } from "@pvkit/split-drivers";
import { createHost } from "@pvkit/toolstack";
import { checkLeaks } from "@pvkit/toolstack/testing";

describe("README console example", () => {
  it("prints the guest's tty path and logs its line", async () => {
    const logDir = mkdtempSync(join(tmpdir(), "pvkit-readme-"));
    try {
      await using host = await createHost({ xenconsoled: { logDir } });
      const d = await host.createDomain({
        name: "hello",
        main: async (ctx) => {
          using con = ConsoleFront.open(ctx);
          await con.write("hello from the guest\r\n");
        },
      });
      await d.done;
      await host.hv.settle();
      expect(host.xenconsoled!.console(d.domid)!.ttyPath).toMatch(/^\/dev\/pts\/\d+$/);
      expect(readFileSync(join(logDir, "guest-hello.log"), "latin1")).toBe("hello from the guest\r\n");
      expect((await checkLeaks(host)).leaks).toEqual([]);
    } finally {
      rmSync(logDir, { recursive: true, force: true });
    }
  });
});
