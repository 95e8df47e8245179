#!/usr/bin/env bash
# Runs @pvkit/toolstack's socket tests against Debian's real xenstore tools (xenstore-utils),
# installing the package first if a tool is missing. Fails if those tests were skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

tools=(xenstore-read xenstore-write xenstore-ls xenstore-list xenstore-rm xenstore-exists xenstore-chmod xenstore-watch)
missing=()
for t in "${tools[@]}"; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
if ((${#missing[@]})); then
  echo "xenstore-tools-check: missing ${missing[*]}; installing xenstore-utils" >&2
  sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq xenstore-utils
fi

report="$(mktemp)"
trap 'rm -f "$report"' EXIT
./node_modules/.bin/vitest run --project toolstack test/xenstored/socket-server.test.ts \
  -t "Debian xenstore-utils" --reporter=default --reporter=json --outputFile.json="$report"

node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const tests = r.testResults.flatMap((f) => f.assertionResults)
    .filter((t) => t.ancestorTitles.some((a) => a.includes("Debian xenstore-utils")));
  const passed = tests.filter((t) => t.status === "passed").length;
  const other = tests.filter((t) => t.status !== "passed");
  if (tests.length === 0 || other.length > 0) {
    console.error(`xenstore-tools-check: FAILED: ${passed} passed, ${other.length} not passed (${other.map((t) => t.status + ": " + t.title).join("; ") || "no tests ran"})`);
    process.exit(1);
  }
  console.log(`xenstore-tools-check: ${passed} socket tests passed against the real xenstore tools`);
' "$report"
