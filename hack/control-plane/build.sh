#!/usr/bin/env bash
# Builds etcd, kube-apiserver, kube-controller-manager and kubectl from Go modules into
# a cache folder outside the repository, and does nothing for binaries already there.
#
#   hack/control-plane/build.sh            build into the default cache, print its path last
#   hack/control-plane/build.sh --print    only print the folder the binaries live in
#
# KUBEBUILDER_ASSETS (a folder holding etcd, kube-apiserver, kube-controller-manager and
# optionally kubectl) overrides the cache, as envtest does: nothing is built then.
set -euo pipefail

KUBE_VERSION=v1.34.4
ETCD_VERSION=v3.6.16
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache_root="${REGISTRY_SYNC_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/registry-sync}"
default_dir="$cache_root/control-plane/kube-$KUBE_VERSION-etcd-$ETCD_VERSION"
bin_dir="${KUBEBUILDER_ASSETS:-$default_dir}"

if [[ "${1:-}" == "--print" ]]; then
  echo "$bin_dir"
  exit 0
fi

if [[ -n "${KUBEBUILDER_ASSETS:-}" ]]; then
  for b in etcd kube-apiserver kube-controller-manager; do
    [[ -x "$bin_dir/$b" ]] || { echo "KUBEBUILDER_ASSETS=$bin_dir has no executable $b" >&2; exit 1; }
  done
  echo "$bin_dir"
  exit 0
fi

command -v go >/dev/null || { echo "go is needed to build the control plane (Go >= 1.24)" >&2; exit 1; }
mkdir -p "$bin_dir"
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=34"

build() { # module-dir package binary-name [ldflags]
  local module="$1" pkg="$2" name="$3" flags="${4:-}"
  if [[ -x "$bin_dir/$name" ]]; then
    echo "control-plane: $name already built" >&2
    return
  fi
  echo "control-plane: building $name (first build takes minutes) ..." >&2
  local start=$SECONDS
  # Build to a temporary name so an interrupted build never leaves a broken binary.
  (cd "$here/$module" && go build -trimpath -ldflags "$flags" -o "$bin_dir/.$name.partial" "$pkg")
  mv "$bin_dir/.$name.partial" "$bin_dir/$name"
  echo "control-plane: built $name in $((SECONDS - start)) s" >&2
}

build etcd go.etcd.io/etcd/server/v3 etcd "-s -w"
build kubernetes k8s.io/kubernetes/cmd/kube-apiserver kube-apiserver "$ldflags"
build kubernetes k8s.io/kubernetes/cmd/kube-controller-manager kube-controller-manager "$ldflags"
build kubernetes k8s.io/kubernetes/cmd/kubectl kubectl "$ldflags"
echo "$bin_dir"
