#!/usr/bin/env sh
# Makes sure etcd and etcdctl are installed before this project's own tests and demo
# run (npm `pretest`, `predemo`, `pretest:integration`). The library itself never
# installs software: lib/testing only finds etcd (ETCD_BIN, PATH, well-known paths).
#
# Found: prints nothing and exits 0. Missing, as root with apt-get: installs
# Debian's etcd-server and etcd-client. Missing otherwise: prints the command to
# run and exits 1.
set -eu

have() {
  if [ -n "${2:-}" ] && [ -x "$2" ]; then return 0; fi
  if command -v "$1" >/dev/null 2>&1; then return 0; fi
  for dir in /usr/bin /usr/local/bin /opt/homebrew/bin /opt/etcd /usr/local/etcd; do
    if [ -x "$dir/$1" ]; then return 0; fi
  done
  return 1
}

if have etcd "${ETCD_BIN:-}" && have etcdctl "${ETCDCTL_BIN:-}"; then
  exit 0
fi

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure-etcd: etcd not found; installing etcd-server and etcd-client with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends etcd-server etcd-client >&2 ||
    { apt-get update -q >&2 && apt-get install -y -q --no-install-recommends etcd-server etcd-client >&2; }
  exit 0
fi

echo "ensure-etcd: etcd (3.4 or later) is needed for the tests and the demo. Install it with" >&2
echo "  sudo apt-get install -y etcd-server etcd-client     # Debian/Ubuntu" >&2
echo "or set ETCD_BIN (and ETCDCTL_BIN) to the binaries of an etcd release." >&2
exit 1
