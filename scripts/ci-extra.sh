#!/usr/bin/env bash
# Extra CI step (run by .ci/run before `pnpm test`): cross-check the ABI tables of
# @pvkit/hypervisor-sim/abi against Xen's real public headers (scripts/abi-check).
# Installs gcc and libxen-dev with apt only when they are missing; safe to run repeatedly.
set -euo pipefail
cd "$(dirname "$0")/.."

XEN_INCLUDE="${XEN_INCLUDE:-/usr/include}"
need=()
command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)
[ -f "$XEN_INCLUDE/xen/xen.h" ] || need+=(libxen-dev)

if [ "${#need[@]}" -gt 0 ]; then
  echo "ci-extra: installing ${need[*]} with apt-get"
  if [ "$(id -u)" -ne 0 ]; then
    echo "ci-extra: not root, cannot install ${need[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
else
  echo "ci-extra: gcc and $XEN_INCLUDE/xen/xen.h present, nothing to install"
fi

echo "ci-extra: gcc $(gcc -dumpfullversion); Xen headers from $( (dpkg-query -W -f='libxen-dev ${Version}' libxen-dev 2>/dev/null) || echo "$XEN_INCLUDE/xen")"
echo "ci-extra: cross-checking @pvkit/hypervisor-sim/abi layouts, sizes and constants against $XEN_INCLUDE/xen"
XEN_INCLUDE="$XEN_INCLUDE" pnpm -s abi-check
scripts/xenstore-host-check.sh

# The public type surface: no @internal member in any package's public .d.ts (the packages build
# with tsconfig.base.json's stripInternal; no exceptions), and the simulator's internals do not type-check from
# outside (hv.domains[1].pauseCount = 5 and the like).
echo "ci-extra: public .d.ts check (scripts/check-public-dts.ts)"
pnpm -s exec tsx scripts/check-public-dts.ts

# The API reference from the JSDoc (typedoc.json: each package's public entry points), into
# docs/api/ (git-ignored). Warnings (a broken {@link}, a documented symbol not exported) fail CI.
echo "ci-extra: API reference with typedoc (warnings as errors) into docs/api/"
pnpm -s docs:api
