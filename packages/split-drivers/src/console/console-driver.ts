/**
 * Extra PV consoles (`device/console/N`, N ≥ 1) as a frontend driver of the xenbus driver
 * framework, what Linux hvc_xen's `xencons_probe` / `xencons_connect_backend` do: one zeroed page
 * (`struct xencons_interface`, io/console.h) granted to the backend, an unbound event channel for
 * it, and in one transaction `ring-ref` (the grant ref) and `port` (the port: consoles publish
 * `port`, not `event-channel` — what xenconsoled's `console_create_ring` and QEMU's
 * `con_initialise` read). The framework then walks Initialised → Connected with the backend and
 * releases the grant, the port and the console on disconnect, unplug or death.
 *
 * Each connected device's `data` is a {@link ConsoleFront}: the same API as console 0 (`write`,
 * `tryWrite`, `input$`, `stream()`), with its own output bound and hardening.
 *
 * ```ts
 * const bus = new XenbusBus(driverEnv({ guest: ctx.guest, events: ctx.events, xs: ctx.xenbus }));
 * const consoles = bus.registerFrontend(consoleFrontend());
 * const con1 = extraConsole(await consoles.connected(1));   // device/console/1
 * await con1.write("hello on hvc1\n");
 * ```
 */
import type { FrontendDriver, XenbusDevice } from "@pvkit/guest-sdk";
import { type ConsoleFront, type ConsoleOptions, newConsoleFront } from "./console-front.js";
import { ConsoleError } from "./console-error.js";

/** The device type of PV consoles (`device/console/<N>`). */
export const CONSOLE_DEVICE_TYPE = "console";

/**
 * The frontend driver for extra consoles; `opts` apply to each console (its `maxPendingBytes`).
 * Register it with `bus.registerFrontend`.
 */
export function consoleFrontend(opts: ConsoleOptions = {}): FrontendDriver<ConsoleFront> {
  return {
    type: CONSOLE_DEVICE_TYPE,
    async initialise(dev) {
      const ring = dev.grantRing(0);
      const console = newConsoleFront(
        ring.pages[0]!,
        (onEvent) => dev.allocEvtchn({ lateEoi: true, onEvent }),
        opts,
      );
      dev.own(`console ${dev.nodename}`, () => console.destroy());
      dev.data = console;
      await dev.writeKeys({ "ring-ref": ring.refs[0]!, port: console.port });
    },
    connect() {},
  };
}

/**
 * The console of a device of {@link consoleFrontend}.
 * @throws ConsoleError "closed" when the device holds no console (not initialised yet, or
 *   disconnected).
 */
export function extraConsole(dev: XenbusDevice<ConsoleFront>): ConsoleFront {
  const c = dev.data;
  if (c === undefined) throw new ConsoleError({ reason: "closed" });
  return c;
}
