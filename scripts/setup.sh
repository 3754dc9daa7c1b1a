#!/usr/bin/env bash
# Idempotent set-up of everything the suite needs on a fresh Debian machine:
#   1. apt packages for headless MuJoCo rendering (EGL / OSMesa), and Debian's chromium, the
#      browser the Omniboard test drives (Playwright from PyPI; it downloads no browser);
#   2. the Python environment in .venv with the pinned requirements;
#   3. the pinned npm Omniboard in web/omniboard.
# A second call checks stamps and returns in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(libegl1 libgl1 libgl1-mesa-dri libosmesa6 libglu1-mesa chromium)
PYTHON=${PYTHON:-python3.11}
TF_KERAS=tf-keras==2.21.0

log() { printf '[setup] %s\n' "$*"; }

missing=()
for package in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing apt packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

stamp_of() { cat "$@" | sha256sum | cut -c1-16; }

wanted="$(stamp_of requirements.txt)-$TF_KERAS"
if [ ! -x .venv/bin/python ] || [ "$(cat .venv/.setup-stamp 2>/dev/null)" != "$wanted" ]; then
  log "creating the Python environment in .venv (a few minutes the first time)"
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -r requirements.txt
  # tf-keras's metadata asks for the full `tensorflow` wheel; tensorflow-cpu provides it.
  .venv/bin/pip install -q --no-deps "$TF_KERAS"
  echo "$wanted" > .venv/.setup-stamp
fi

wanted_npm="$(stamp_of web/omniboard/package.json web/omniboard/package-lock.json)"
if [ ! -f web/omniboard/node_modules/omniboard/dist/start.js ] || [ "$(cat web/omniboard/node_modules/.setup-stamp 2>/dev/null)" != "$wanted_npm" ]; then
  log "installing Omniboard (npm, pinned by web/omniboard/package-lock.json)"
  (cd web/omniboard && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$wanted_npm" > web/omniboard/node_modules/.setup-stamp
fi
log "ready"
