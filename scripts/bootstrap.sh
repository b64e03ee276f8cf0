#!/usr/bin/env bash
# Install everything this repo needs into the checkout: system packages (apt, when missing),
# a virtualenv (.venv, from uv.lock), and anvil + solc from npm (.tools/). Safe to run twice.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
WITH_TEST="${1:-}"   # "test" installs the test tools as well

APT_PKGS=(docker.io busybox-static gnome-keyring dbus-x11 libsecret-tools xvfb xauth x11-apps trayer
  libxcb-cursor0 libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0
  libxcb-render-util0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libegl1 libgl1 libnss3 libxcomposite1
  libxdamage1 libxrandr2 libxtst6 libxkbfile1 libasound2
  libgirepository1.0-dev libcairo2-dev pkg-config python3-dev gcc gir1.2-gtk-3.0 gir1.2-ayatanaappindicator3-0.1
  nodejs npm)
if [[ "$WITH_TEST" == "test" ]]; then
  APT_PKGS+=(chromium imagemagick systemd dpkg-dev fakeroot prometheus debootstrap openssh-client)
fi

need=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
# node/npm may come from elsewhere (nvm, the image): do not reinstall them through apt
if command -v node >/dev/null && command -v npm >/dev/null; then
  tmp=(); for p in "${need[@]}"; do [[ "$p" == nodejs || "$p" == npm ]] || tmp+=("$p"); done; need=("${tmp[@]}")
fi
if ((${#need[@]})); then
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  echo "==> apt: installing ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

PY="${PYTHON:-python3}"
if ! "$PY" -m uv --version >/dev/null 2>&1 && ! command -v uv >/dev/null; then
  echo "==> pip: installing uv"
  "$PY" -m pip install -q --user uv 2>/dev/null || "$PY" -m pip install -q uv
fi
UV=(uv); command -v uv >/dev/null || UV=("$PY" -m uv)

echo "==> venv: syncing .venv from uv.lock"
extras=(--extra gui --extra linux-tray)
sync_mode=(--inexact)   # the demo keeps test tools a developer installed; the test run syncs exactly
[[ "$WITH_TEST" == "test" ]] && { extras+=(--extra test --extra build); sync_mode=(); }
"${UV[@]}" sync --frozen --python "$PY" "${extras[@]}" "${sync_mode[@]}" -q

if [[ ! -x .tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil && ! -x .tools/node_modules/.bin/anvil ]] \
   || [[ ! -e .tools/node_modules/solc/soljson.js ]]; then
  echo "==> npm: installing anvil and solc into .tools/"
  (cd .tools && npm ci --no-audit --no-fund --loglevel=error)
fi
echo "==> bootstrap done"
