import { runDemo } from "./demo.js";

// With a socket path, xenstored also listens there and the host stays up until Ctrl-C, so
// `XENSTORED_PATH=<path> xenstore-ls` can look at it.
const socketPath = process.argv[2];
const holdOpen = (): Promise<void> =>
  new Promise((resolve) => {
    console.log(
      `demo: xenstored on ${socketPath}; try XENSTORED_PATH=${socketPath} xenstore-ls. Ctrl-C to tear down.`,
    );
    process.once("SIGINT", () => resolve());
    process.once("SIGTERM", () => resolve());
  });

runDemo(socketPath !== undefined ? { socketPath, beforeTeardown: holdOpen } : {}).then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
