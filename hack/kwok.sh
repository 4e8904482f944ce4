#!/usr/bin/env bash
# Builds kwok, the kubelet stand-in that tests run Pods with on fake Nodes, from
# the Go module proxy, and caches it under $HOME/.cache/weft/kwok/v<version>/
# with the Stage configuration it refuses to start without (its bundled "fast"
# node and pod stages and the node lease heartbeat, as stages.yaml). A second
# run builds nothing. Prints the binary's path on stdout; progress goes to stderr.
set -euo pipefail

KWOK_VERSION="${KWOK_VERSION:-0.8.0}"
CACHE_ROOT="${WEFT_CACHE:-$HOME/.cache/weft}"
DEST="$CACHE_ROOT/kwok/v${KWOK_VERSION}"

if [ -x "$DEST/kwok" ] && [ -s "$DEST/stages.yaml" ]; then
  echo "$DEST/kwok"
  exit 0
fi

mkdir -p "$DEST"
# Outside the project's module: kwok's dependencies must not enter go.mod.
export GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"
if [ ! -x "$DEST/kwok" ]; then
  echo "kwok: building v${KWOK_VERSION} (cold: about 2 minutes)" >&2
  GOBIN="$DEST" go install "sigs.k8s.io/kwok/cmd/kwok@v${KWOK_VERSION}" >&2
fi
src=$(go mod download -json "sigs.k8s.io/kwok@v${KWOK_VERSION}" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
stages=(node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml
  pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml)
for s in "${stages[@]}"; do
  cat "$src/kustomize/stage/$s"
  echo "---"
done > "$DEST/stages.yaml.tmp"
mv "$DEST/stages.yaml.tmp" "$DEST/stages.yaml"
echo "$DEST/kwok"
