import { runDemo } from "./demo.js";

const socketPath = process.argv[2];
runDemo(socketPath !== undefined ? { socketPath } : {}).then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
