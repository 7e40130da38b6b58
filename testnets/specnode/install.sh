#!/usr/bin/env bash
# Installs specnode's parts from the registries, exactly as locked:
# the npm packages of package-lock.json (no install scripts: blst's and
# lodestar-z's native code comes prebuilt) and the consensus-specs pyspec of
# requirements.lock in .pyspec/ (Python >= 3.12: pyenv's where present).
# Idempotent: a second run with nothing changed does nothing.
# Prints the directory last.
#   NPM_CONFIG_CACHE / PIP_NO_CACHE_DIR are honoured (CI installs from empty caches).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
cd "$HERE"
if [ ! -f node_modules/.package-lock.json ] || ! cmp -s package-lock.json .installed-lock 2>/dev/null; then
  # `npm install --no-save` on the lock, then the lock checked unchanged (the
  # tree is exactly the lock's): `npm ci` refuses this lock because
  # @chainsafe/lodestar-z 1.1.0 names optional natives for other platforms
  # that npm leaves out of it.
  cp package-lock.json .lock-before
  npm install --no-save --no-audit --no-fund --ignore-scripts --loglevel=error >&2
  if ! cmp -s package-lock.json .lock-before; then
    cp .lock-before package-lock.json
    echo "install.sh: npm would change package-lock.json: package.json and the lock disagree" >&2
    exit 1
  fi
  rm -f .lock-before
  cp package-lock.json .installed-lock
fi
if [ ! -x .pyspec/bin/python ] || ! cmp -s requirements.lock .pyspec/installed-lock 2>/dev/null; then
  if [ -z "${PY:-}" ]; then
    for c in python3.12 "$HOME"/.pyenv/versions/3.12*/bin/python python3.13 python3; do
      if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then PY="$c"; break; fi
    done
  fi
  [ -n "${PY:-}" ] || { echo "install.sh: pyspec needs Python >= 3.12 (set PY=...)" >&2; exit 1; }
  rm -rf .pyspec
  "$PY" -m venv .pyspec
  .pyspec/bin/pip install -q --disable-pip-version-check -r requirements.lock >&2
  cp requirements.lock .pyspec/installed-lock
fi
echo "$HERE"
