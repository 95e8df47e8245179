import { expect, it } from "vitest";
import { runNotify } from "@pvkit/example-domu-notifies-dom0";
import { XEN_ERRNO } from "@pvkit/hypervisor-sim/abi";

it("a domU's VIRQ never reaches dom0 but its interdomain send does", async () => {
  const r = await runNotify(() => {});
  expect(r.virqSendResult).toBe(-XEN_ERRNO.EINVAL);
  expect(r.dom0Saw).toEqual([r.dom0Port]);
  expect(r.virqToDom0).toEqual([r.dom0ExcPort]);
  expect(r.domUVirqPending).toBe(0);
});
