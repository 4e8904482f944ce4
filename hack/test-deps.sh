#!/usr/bin/env bash
# Installs the system tools the tests use when they are missing: iptables,
# iproute2 and nftables (nft, which lists the table the nftables backend
# installed), for the redirection-rule tests in a real network namespace, and
# nginx, which the ingress tests (internal/nginxtest) run as an unprivileged
# child process on loopback addresses, and prometheus, which the dashboard test
# (cmd/weftd) runs the same way to scrape weftd. Needs root and apt-get; elsewhere it says
# what is missing and leaves the machine alone (those tests then skip or fail
# with the same advice).
set -euo pipefail

missing=()
command -v iptables-restore >/dev/null 2>&1 || missing+=(iptables)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v nft >/dev/null 2>&1 || [ -x /usr/sbin/nft ] || missing+=(nftables)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v prometheus >/dev/null 2>&1 || [ -x /usr/bin/prometheus ] || missing+=(prometheus)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "test-deps: missing ${missing[*]}; install them (as root: apt-get install --no-install-recommends ${missing[*]})" >&2
  exit 0
fi

# The tests start their own nginx and prometheus; the packages' system services
# are not wanted,
# and starting it can fail the installation when port 80 is taken. While
# installing, a policy-rc.d that forbids starting services (exit 101) keeps
# invoke-rc.d and deb-systemd-invoke from starting it; one that is already
# there (as in Docker images) is left as it is.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  trap 'rm -f "$policy"' EXIT
fi

echo "test-deps: installing ${missing[*]}" >&2
apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2

# If the service got started anyway (an existing policy-rc.d that allows it),
# stop it, and keep it from starting at boot either way (systemctl disable also
# works without a running systemd and updates the SysV links as well).
stop_service() { # name, pidfile, how to stop it without systemd
  if [ -d /run/systemd/system ]; then
    systemctl disable --now "$1.service" >/dev/null 2>&1 || true
    return
  fi
  if [ -s "$2" ] && kill -0 "$(cat "$2")" 2>/dev/null; then
    $3 >/dev/null 2>&1 || true
  fi
  if command -v systemctl >/dev/null 2>&1; then
    systemctl disable "$1.service" >/dev/null 2>&1 || true
  else
    update-rc.d "$1" disable >/dev/null 2>&1 || true
  fi
}
if [[ " ${missing[*]} " == *" nginx "* ]]; then
  stop_service nginx /run/nginx.pid "/usr/sbin/nginx -s quit"
fi
if [[ " ${missing[*]} " == *" prometheus "* ]]; then
  stop_service prometheus /run/prometheus/prometheus.pid 'kill $(cat /run/prometheus/prometheus.pid)'
fi
