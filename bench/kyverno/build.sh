#!/usr/bin/env bash
# Builds Kyverno's admission controller (the version go.mod pins) from Go modules into a
# cache folder outside the repository, and does nothing when the binary is already there.
# bench/admission_latency.py runs it beside registry-sync's webhook.
#
#   bench/kyverno/build.sh            build into the cache, print its folder last
#   bench/kyverno/build.sh --print    only print the folder the binary lives in
#   bench/kyverno/build.sh --source   print Kyverno's module folder (its CRDs: config/crds)
#
# Cold build here (2 cores, modules downloaded, at low priority beside other work): 220 s.
set -euo pipefail

KYVERNO_VERSION=v1.19.1
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache_root="${REGISTRY_SYNC_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/registry-sync}"
bin_dir="$cache_root/kyverno/$KYVERNO_VERSION"

case "${1:-}" in
  --print) echo "$bin_dir"; exit 0 ;;
  --source) cd "$here" && go list -m -f '{{.Dir}}' github.com/kyverno/kyverno; exit 0 ;;
esac

if [[ -x "$bin_dir/kyverno" ]]; then
  echo "kyverno: already built" >&2
  echo "$bin_dir"
  exit 0
fi

command -v go >/dev/null || { echo "go is needed to build Kyverno (Go >= 1.26.6)" >&2; exit 1; }
mkdir -p "$bin_dir"
echo "kyverno: building $KYVERNO_VERSION (a few minutes) ..." >&2
start=$SECONDS
(cd "$here" && go build -trimpath -ldflags "-s -w" -o "$bin_dir/.kyverno.partial" github.com/kyverno/kyverno/cmd/kyverno)
mv "$bin_dir/.kyverno.partial" "$bin_dir/kyverno"
echo "kyverno: built in $((SECONDS - start)) s" >&2
echo "$bin_dir"
