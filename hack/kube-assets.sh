#!/usr/bin/env bash
# Builds the Kubernetes control-plane binaries that the integration tests run
# (etcd, kube-apiserver, kube-controller-manager) from the Go module proxy and
# caches them under $HOME/.cache/weft/kube-assets/<versions>/.
#
# No registry reachable from the build machines ships these binaries, so they are
# compiled from source in throwaway modules outside the project (k8s.io/kubernetes
# must never enter Weft's own go.mod). A second run finds the cache and builds
# nothing. Prints the asset folder on stdout; progress goes to stderr.
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-1.36.3}"
ETCD_VERSION="${ETCD_VERSION:-3.6.16}"
CACHE_ROOT="${WEFT_CACHE:-$HOME/.cache/weft}"
DEST="$CACHE_ROOT/kube-assets/k8s-v${KUBE_VERSION}-etcd-v${ETCD_VERSION}"
BINARIES=(kube-apiserver kube-controller-manager)

have_all() {
  [ -x "$DEST/etcd" ] || return 1
  for b in "${BINARIES[@]}"; do [ -x "$DEST/$b" ] || return 1; done
}

if have_all; then
  echo "$DEST"
  exit 0
fi

mkdir -p "$DEST"
# The build uses its own module and never the project's go.work or vendor folder.
export GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0

log() { echo "kube-assets: $*" >&2; }

build_kube() {
  local dir
  dir=$(mktemp -d)
  trap 'rm -rf "$dir"' RETURN
  log "building kube-apiserver and kube-controller-manager v${KUBE_VERSION} (cold: about 6 minutes)"
  (
    cd "$dir"
    go mod init weft.local/kube-assets >/dev/null 2>&1
    # k8s.io/kubernetes replaces its staging modules with local paths; mirror its
    # replace block with the published v0.x versions of the same modules.
    local kmod
    kmod=$(go mod download -json "k8s.io/kubernetes@v${KUBE_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
    {
      echo "require k8s.io/kubernetes v${KUBE_VERSION}"
      echo "replace ("
      awk '/^replace \(/{inb=1; next} inb && /^\)/{inb=0} inb && $1 ~ /^k8s.io\// {print $1}' "$kmod" |
        sort -u | sed "s|.*|  & => & v0.${KUBE_VERSION#1.}|"
      echo ")"
    } >> go.mod
    cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
GO
    go mod tidy >&2
    for b in "${BINARIES[@]}"; do
      go build -trimpath -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=v${KUBE_VERSION} -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${KUBE_VERSION#1.}" \
        -o "$DEST/$b.tmp" "k8s.io/kubernetes/cmd/$b" >&2
      mv "$DEST/$b.tmp" "$DEST/$b"
    done
  )
}

build_etcd() {
  local dir
  dir=$(mktemp -d)
  trap 'rm -rf "$dir"' RETURN
  log "building etcd v${ETCD_VERSION}"
  (
    cd "$dir"
    go mod init weft.local/etcd-assets >/dev/null 2>&1
    cat > tools.go <<'GO'
//go:build tools

package tools

import _ "go.etcd.io/etcd/server/v3"
GO
    go get "go.etcd.io/etcd/server/v3@v${ETCD_VERSION}" >&2
    go mod tidy >&2
    go build -trimpath -ldflags "-s -w" -o "$DEST/etcd.tmp" go.etcd.io/etcd/server/v3 >&2
    mv "$DEST/etcd.tmp" "$DEST/etcd"
  )
}

[ -x "$DEST/etcd" ] || build_etcd
for b in "${BINARIES[@]}"; do
  if [ ! -x "$DEST/$b" ]; then build_kube; break; fi
done
have_all || { log "build finished but binaries are missing in $DEST"; exit 1; }
echo "$DEST"
