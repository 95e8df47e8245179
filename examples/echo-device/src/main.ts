import { runEcho } from "./echo.js";

const enc = new TextEncoder();
const messages = ["hello, backend", "grants are pages lent by reference", "x".repeat(4096)].map(
  (m) => enc.encode(m),
);

runEcho(messages).then(
  (run) => {
    const dec = new TextDecoder();
    run.replies.forEach((r, i) => {
      const text = dec.decode(r);
      console.log(
        `echo ${i + 1}: ${r.length} byte(s) ${text.length > 40 ? `${JSON.stringify(text.slice(0, 40))}...` : JSON.stringify(text)}`,
      );
    });
    const ok = run.replies.every(
      (r, i) => r.length === messages[i]!.length && r.every((b, j) => b === messages[i]![j]),
    );
    if (!ok || run.deferredAtClose !== 0 || run.leaked !== 0) {
      console.error("echo device: replies differ or grants were left behind");
      process.exit(1);
    }
    process.exit(0);
  },
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
