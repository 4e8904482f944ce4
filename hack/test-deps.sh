#!/usr/bin/env bash
# Installs the system tools the tests use when they are missing: iptables and
# iproute2, for the redirection-rule test in a real network namespace. Needs root
# and apt-get; elsewhere it says what is missing and leaves the machine alone
# (that test then skips or fails with the same advice).
set -euo pipefail

missing=()
command -v iptables-restore >/dev/null 2>&1 || missing+=(iptables)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "test-deps: missing ${missing[*]}; install them (as root: apt-get install ${missing[*]})" >&2
  exit 0
fi
echo "test-deps: installing ${missing[*]}" >&2
apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
