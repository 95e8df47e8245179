import { runNotify } from "./notify.js";

runNotify().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
