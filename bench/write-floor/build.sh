#!/usr/bin/env bash
# Builds `write-floor` (client-go, the physical floor of bench/scale.py) into a cache folder
# outside the repository, and does nothing when the binary is already there.
#
#   bench/write-floor/build.sh            build into the cache, print its folder last
#   bench/write-floor/build.sh --print    only print the folder the binary lives in
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache_root="${REGISTRY_SYNC_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/registry-sync}"
# The folder changes with the source: an edited program is built again.
stamp="$(cat "$here/main.go" "$here/go.mod" "$here/go.sum" | sha256sum | cut -c1-12)"
bin_dir="$cache_root/write-floor/$stamp"

if [[ "${1:-}" == "--print" ]]; then
  echo "$bin_dir"
  exit 0
fi

if [[ -x "$bin_dir/write-floor" ]]; then
  echo "write-floor: already built" >&2
  echo "$bin_dir"
  exit 0
fi

command -v go >/dev/null || { echo "go is needed to build write-floor (Go >= 1.24)" >&2; exit 1; }
mkdir -p "$bin_dir"
start=$SECONDS
(cd "$here" && go build -trimpath -ldflags "-s -w" -o "$bin_dir/.write-floor.partial" .)
mv "$bin_dir/.write-floor.partial" "$bin_dir/write-floor"
echo "write-floor: built in $((SECONDS - start)) s" >&2
echo "$bin_dir"
