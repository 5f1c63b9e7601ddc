#!/usr/bin/env bash
# A virtual environment with the Model Registry's official Python client (model-registry),
# in a cache folder outside the repository; does nothing when it is there already.
#
#   hack/official-client/build.sh            build into the cache, print its python last
#   hack/official-client/build.sh --print    only print the python it holds
#
# It cannot live in the project's venv: model-registry needs python-dateutil < 3 and the
# kubernetes client needs >= 3. Pinned by constraints.txt beside this file.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache_root="${REGISTRY_SYNC_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/registry-sync}"
# The folder is named after the pins: changing them builds a new one.
pins="$(cat "$here/requirements.txt" "$here/constraints.txt" | sha256sum | cut -c1-12)"
venv="$cache_root/official-client/$pins"
python="$venv/bin/python"

if [[ "${1:-}" == "--print" ]]; then
  echo "$python"
  exit 0
fi

if [[ -x "$python" ]] && "$python" -c "import model_registry" 2>/dev/null; then
  echo "official-client: already built" >&2
  echo "$python"
  exit 0
fi

rm -rf "$venv.partial"
"${PYTHON3:-python3}" -m venv "$venv.partial"
"$venv.partial/bin/pip" install --quiet --disable-pip-version-check \
  -r "$here/requirements.txt" -c "$here/constraints.txt"
rm -rf "$venv"
mv "$venv.partial" "$venv"
# A venv moved after creation keeps its old path in its scripts; python itself is fine.
echo "$python"
