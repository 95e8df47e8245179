#!/usr/bin/env bash
# Runs Debian's real xenstore tools (xenstore-utils) against a simulated pvkit host: dom0 with
# xenstored on a Unix socket and one guest ("demo", packages/toolstack/scripts/demo-host.ts)
# whose main speaks to xenstored through its own xenstore ring. Checks:
#   1. xenstore-ls shows the guest's domain tree (name, domid, store/ring-ref, console, /vm);
#   2. xenstore-write / xenstore-read round-trip; a guest-written node is visible;
#   3. xenstore-watch sees a change the guest makes over its ring;
#   4. xenstore-chmod is enforced on the guest: once dom0 makes a node unreadable, the guest's
#      read fails with EACCES (and succeeded before).
# Installs xenstore-utils with apt when a tool is missing. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."

tools=(xenstore-ls xenstore-read xenstore-write xenstore-watch xenstore-chmod)
missing=()
for t in "${tools[@]}"; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
if ((${#missing[@]})); then
  echo "xenstore-host-check: missing ${missing[*]}; installing xenstore-utils with apt-get"
  sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends xenstore-utils >/dev/null
fi

work="$(mktemp -d)"
sock="$work/socket"
ready="$work/ready"
log="$work/host.log"
host_pid=""
cleanup() {
  if [ -n "$host_pid" ] && kill -0 "$host_pid" 2>/dev/null; then
    kill -TERM "$host_pid" 2>/dev/null || true
    wait "$host_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

failures=0
pass() { echo "  PASS  $*"; }
fail() { echo "  FAIL  $*"; failures=$((failures + 1)); }

./node_modules/.bin/tsx --conditions=@pvkit/source packages/toolstack/scripts/demo-host.ts "$sock" "$ready" >"$log" 2>&1 &
host_pid=$!
for _ in $(seq 1 300); do
  [ -s "$ready" ] && break
  kill -0 "$host_pid" 2>/dev/null || break
  sleep 0.1
done
if [ ! -s "$ready" ]; then
  echo "xenstore-host-check: the demo host did not start:"
  cat "$log"
  exit 1
fi
domid="$(cat "$ready")"
export XENSTORED_PATH="$sock"
home="/local/domain/$domid"
echo "xenstore-host-check: host up, xenstored on $sock, guest demo is d$domid (XENSTORED_PATH=$sock)"

# Waits (up to ~10 s) until `xenstore-read $1` prints $2.
wait_value() {
  local v=""
  for _ in $(seq 1 100); do
    v="$(xenstore-read "$1" 2>/dev/null || true)"
    [ "$v" = "$2" ] && return 0
    sleep 0.1
  done
  echo "    (last value of $1: '${v}')"
  return 1
}

echo "1. xenstore-ls shows the domain tree"
ls_out="$(xenstore-ls -f "$home" 2>&1 || true)"
ls_vm="$(xenstore-ls -f /vm 2>&1 || true)"
for want in "$home/name = \"demo\"" "$home/domid = \"$domid\"" "$home/store/ring-ref = \"2\"" \
  "$home/store/port = \"1\"" "$home/console/ring-ref = \"3\"" "$home/console/type = \"xenconsoled\"" \
  "$home/memory/target = \"4096\"" "$home/cpu/0/availability = \"online\"" "$home/data/hello = \"world\""; do
  if grep -qxF "$want" <<<"$ls_out"; then pass "xenstore-ls: $want"; else fail "xenstore-ls lacks: $want"; fi
done
if grep -q '/image/ostype = "linux"' <<<"$ls_vm"; then pass "xenstore-ls /vm: image/ostype = \"linux\""; else fail "xenstore-ls /vm lacks image/ostype"; fi
perms_line="$(xenstore-ls -p "$home" 2>/dev/null | grep -E '^name = ' || true)"
if grep -qF "(n0,r$domid)" <<<"$perms_line"; then pass "xenstore-ls -p: name is (n0,r$domid)"; else fail "xenstore-ls -p: name perms: '$perms_line'"; fi

echo "2. xenstore-write / xenstore-read round-trip"
xenstore-write /tool/pvkit-check/key "round trip 1"
if [ "$(xenstore-read /tool/pvkit-check/key)" = "round trip 1" ]; then pass "write then read /tool/pvkit-check/key"; else fail "read back /tool/pvkit-check/key"; fi
xenstore-write "$home/data/trigger" "1 write pong-1"
if wait_value "$home/data/reply" "pong-1"; then pass "guest wrote data/reply over its ring, read back by xenstore-read"; else fail "guest did not write data/reply"; fi

echo "3. xenstore-watch sees a change the guest makes over its ring"
watch_out="$work/watch.out"
xenstore-watch -n 2 "$home/data/reply" >"$watch_out" 2>&1 &
watch_pid=$!
# The first event is the watch's initial one; wait for it before making the change.
for _ in $(seq 1 100); do [ -s "$watch_out" ] && break; sleep 0.1; done
xenstore-write "$home/data/trigger" "2 write pong-2"
watch_ok=0
for _ in $(seq 1 100); do
  if ! kill -0 "$watch_pid" 2>/dev/null; then watch_ok=1; break; fi
  sleep 0.1
done
if [ "$watch_ok" = 1 ] && [ "$(grep -c "^$home/data/reply\$" "$watch_out")" = 2 ] && [ "$(xenstore-read "$home/data/reply")" = "pong-2" ]; then
  pass "xenstore-watch -n 2 $home/data/reply printed the initial event and the guest's write"
else
  kill "$watch_pid" 2>/dev/null || true
  fail "xenstore-watch did not see the guest's write (output: $(tr '\n' ' ' <"$watch_out"))"
fi

echo "4. xenstore-chmod permissions are enforced on the guest"
xenstore-write "$home/data/secret" "s3cret"
xenstore-write "$home/data/trigger" "3 read data/secret"
if wait_value "$home/data/result" "3 ok:s3cret"; then pass "guest reads data/secret while it owns it"; else fail "guest could not read data/secret before chmod"; fi
xenstore-chmod "$home/data/secret" n0
if [ "$(xenstore-ls -p "$home/data" 2>/dev/null | grep -E '^secret = ' | grep -cF '(n0)')" = 1 ]; then pass "xenstore-chmod set data/secret to n0"; else fail "xenstore-chmod did not change the permissions"; fi
xenstore-write "$home/data/trigger" "4 read data/secret"
if wait_value "$home/data/result" "4 err:EACCES"; then pass "guest read of data/secret after xenstore-chmod n0 fails with EACCES"; else fail "guest was not refused data/secret after chmod"; fi

if ! kill -0 "$host_pid" 2>/dev/null; then fail "the demo host died during the checks"; fi
if grep -q "crashed\|failed" "$log"; then fail "the guest reported an error: $(cat "$log")"; fi

if [ "$failures" -gt 0 ]; then
  echo "xenstore-host-check: FAILED ($failures check(s)); host log:"
  cat "$log"
  exit 1
fi
echo "xenstore-host-check: all checks passed against the real xenstore tools"
