#!/usr/bin/env bash
# Headless Linux install of lcai-worker-tray: verify → install → enable the systemd user unit with
# lingering → print how to reach the dashboard over an SSH tunnel. Safe to run again (updates in place).
#
#   sudo ./server-install.sh [options] [ARTIFACT]
#
# ARTIFACT  a lcai-worker-tray .deb or linux .tar.gz: a path, or an https:// URL. Default: the newest .deb
#           (else .tar.gz) next to this script. Its SHA256SUMS file must sit next to it (same folder /
#           same URL folder); the install stops unless the artifact's SHA-256 matches its line there.
# --sha256 HEX      expected SHA-256 instead of a SHA256SUMS file (e.g. copied from the release page)
# --user NAME       who runs the worker (default: the user who ran sudo; root when there is none)
# --network NAME    testnet | mainnet | devnet for the service (default: the saved one, testnet at first)
# --secrets-file P  keep keystore passwords in this 0600 file (servers without a keychain: an explicit
#                   opt-in the agent asks for; relative paths are below the user's home)
# --no-docker       do not install Docker (the .deb recommends docker.io)
# --no-enable       install only; do not enable lingering or the unit
# --check-only      verify and print the plan; change nothing
# --uninstall       stop and disable the unit for --user, remove the package or the tarball install
#                   (keys and data stay; lingering stays: other services may rely on it)
#
# Installs: the .deb through apt (or dpkg), or the tarball into /opt/lcai-worker-tray with
# /usr/local/bin/lcai-tray and /usr/local/lib/systemd/user/lcai-tray-default.service. Keys and data live
# in the user's home (~/.local/share/lcai-worker-tray) and are never touched.
set -euo pipefail

ARTIFACT=""; SHA=""; RUN_USER=""; NETWORK=""; SECRETS=""; NO_DOCKER=0; ENABLE=1; CHECK_ONLY=0; UNINSTALL=0
while (($#)); do
  case "$1" in
    --sha256) SHA="${2:?--sha256 needs a value}"; shift 2 ;;
    --user) RUN_USER="${2:?--user needs a value}"; shift 2 ;;
    --network) NETWORK="${2:?--network needs a value}"; shift 2 ;;
    --secrets-file) SECRETS="${2:?--secrets-file needs a value}"; shift 2 ;;
    --no-docker) NO_DOCKER=1; shift ;;
    --no-enable) ENABLE=0; shift ;;
    --check-only) CHECK_ONLY=1; shift ;;
    --uninstall) UNINSTALL=1; shift ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    -*) echo "unknown option: $1" >&2; exit 2 ;;
    *) ARTIFACT="$1"; shift ;;
  esac
done

say() { printf '==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
UNIT=lcai-tray-default.service
PORT_HINT=""

case "$NETWORK" in ""|testnet|mainnet|devnet) ;; *) die "--network must be testnet, mainnet or devnet";; esac
[[ -z "$SHA" || "$SHA" =~ ^[0-9a-fA-F]{64}$ ]] || die "--sha256 must be 64 hex digits"
command -v sha256sum >/dev/null || die "sha256sum not found (coreutils)"

# --- uninstall ----------------------------------------------------------------------------------------
if ((UNINSTALL)); then
  [[ $(id -u) -eq 0 ]] || die "run as root (sudo $0 --uninstall)"
  RUN_USER="${RUN_USER:-${SUDO_USER:-$(id -un)}}"
  RUN_UID="$(id -u "$RUN_USER" 2>/dev/null)" || die "no user named $RUN_USER (use --user)"
  if [[ -S "/run/user/$RUN_UID/bus" ]] && command -v systemctl >/dev/null; then
    runuser -u "$RUN_USER" -- env XDG_RUNTIME_DIR="/run/user/$RUN_UID" \
      systemctl --user disable --now "$UNIT" >/dev/null 2>&1 || true
  fi
  if dpkg-query -W -f='${Status}' lcai-worker-tray 2>/dev/null | grep -q "install ok installed"; then
    say "removing the lcai-worker-tray package"
    if command -v apt-get >/dev/null; then DEBIAN_FRONTEND=noninteractive apt-get remove -y -q lcai-worker-tray
    else dpkg -r lcai-worker-tray; fi
  fi
  if [[ -e /opt/lcai-worker-tray && ! -e /usr/bin/lcai-tray ]]; then
    say "removing the tarball install"
    rm -rf /opt/lcai-worker-tray /usr/local/bin/lcai-tray "/usr/local/lib/systemd/user/$UNIT" \
      /usr/local/share/applications/lcai-tray.desktop
    find /usr/local/share/icons/hicolor -name lcai-tray.png -delete 2>/dev/null || true
  fi
  say "removed; keys and data in the users' homes are kept"
  exit 0
fi

# --- 1. the artifact and its checksum -------------------------------------------------------------------
TMP="$(mktemp -d)"; trap 'rm -rf "$TMP"' EXIT
if [[ -z "$ARTIFACT" ]]; then
  # shellcheck disable=SC2012  # our own file names; newest first
  ARTIFACT="$(ls -1t "$HERE"/lcai-worker-tray_*.deb 2>/dev/null | head -1 || true)"
  # shellcheck disable=SC2012
  [[ -n "$ARTIFACT" ]] || ARTIFACT="$(ls -1t "$HERE"/lcai-worker-tray-*-linux-*.tar.gz 2>/dev/null | head -1 || true)"
  [[ -n "$ARTIFACT" ]] || die "no lcai-worker-tray .deb or .tar.gz next to this script; pass its path or URL"
fi
NAME="$(basename "${ARTIFACT%%\?*}")"
case "$NAME" in
  *.deb) KIND=deb ;;
  *.tar.gz) KIND=tarball ;;
  *) die "$NAME is neither a .deb nor a .tar.gz" ;;
esac
if [[ "$ARTIFACT" =~ ^https?:// ]]; then
  [[ "$ARTIFACT" =~ ^https:// ]] || die "downloads must use https://"
  command -v curl >/dev/null || die "curl is needed to download $ARTIFACT"
  say "downloading $NAME"
  curl -fsSL --proto '=https' --retry 3 -o "$TMP/$NAME" "$ARTIFACT"
  if [[ -z "$SHA" ]]; then
    curl -fsSL --proto '=https' --retry 3 -o "$TMP/SHA256SUMS" "${ARTIFACT%/*}/SHA256SUMS" \
      || die "no SHA256SUMS next to $ARTIFACT (or pass --sha256)"
  fi
  FILE="$TMP/$NAME"; SUMS="$TMP/SHA256SUMS"
else
  [[ -f "$ARTIFACT" ]] || die "$ARTIFACT not found"
  FILE="$(cd "$(dirname "$ARTIFACT")" && pwd)/$NAME"; SUMS="$(dirname "$FILE")/SHA256SUMS"
fi
if [[ -z "$SHA" ]]; then
  [[ -f "$SUMS" ]] || die "no SHA256SUMS next to $NAME: refusing to install an unverified file (or pass --sha256)"
  SHA="$(awk -v f="$NAME" '{n=$2; sub(/^\*/, "", n)} n == f {print $1; exit}' "$SUMS")"
  [[ -n "$SHA" ]] || die "SHA256SUMS has no line for $NAME"
fi
GOT="$(sha256sum "$FILE" | cut -d' ' -f1)"
[[ "${GOT,,}" == "${SHA,,}" ]] || die "SHA-256 mismatch for $NAME: expected $SHA, got $GOT — not installing"
say "verified $NAME (sha256 $GOT)"

# --- 2. who runs it ------------------------------------------------------------------------------------
RUN_USER="${RUN_USER:-${SUDO_USER:-$(id -un)}}"
id "$RUN_USER" >/dev/null 2>&1 || die "no user named $RUN_USER (use --user)"
RUN_UID="$(id -u "$RUN_USER")"
RUN_HOME="$(getent passwd "$RUN_USER" | cut -d: -f6)"
[[ "$RUN_UID" == 0 ]] && echo "warning: the worker agent will run as root; a normal user (--user NAME) is better" >&2

if ((CHECK_ONLY)); then
  say "plan: install $KIND $NAME; enable $UNIT for $RUN_USER (uid $RUN_UID) with lingering: $([[ $ENABLE == 1 ]] && echo yes || echo no)"
  exit 0
fi
[[ $(id -u) -eq 0 ]] || die "run as root (sudo $0 …): it installs a package and enables lingering"

# --- 3. install ----------------------------------------------------------------------------------------
if [[ $KIND == deb ]]; then
  if command -v apt-get >/dev/null; then
    say "installing $NAME with apt"
    cp "$FILE" "$TMP/install.deb" && chmod 0644 "$TMP/install.deb" && chmod 0755 "$TMP"
    rec=(); ((NO_DOCKER)) && rec=(--no-install-recommends)
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q ${rec[@]+"${rec[@]}"} --reinstall "$TMP/install.deb"
  else
    say "installing $NAME with dpkg"
    dpkg -i "$FILE"
  fi
  EXE=/usr/bin/lcai-tray
else
  say "installing $NAME into /opt/lcai-worker-tray"
  tar -xzf "$FILE" -C "$TMP"
  SRC="$(find "$TMP" -mindepth 2 -maxdepth 2 -type d -name lcai-tray | head -1)"
  [[ -n "$SRC" && -x "$SRC/lcai-tray" ]] || die "$NAME does not contain lcai-tray/lcai-tray"
  TOP="$(dirname "$SRC")"
  rm -rf /opt/lcai-worker-tray.new; cp -a "$SRC" /opt/lcai-worker-tray.new
  rm -rf /opt/lcai-worker-tray.old; [[ -e /opt/lcai-worker-tray ]] && mv /opt/lcai-worker-tray /opt/lcai-worker-tray.old
  mv /opt/lcai-worker-tray.new /opt/lcai-worker-tray; rm -rf /opt/lcai-worker-tray.old
  ln -sfn /opt/lcai-worker-tray/lcai-tray /usr/local/bin/lcai-tray
  mkdir -p /usr/local/lib/systemd/user /usr/local/share/applications
  if [[ -f "$TOP/share/systemd/user/$UNIT" ]]; then
    install -m 0644 "$TOP/share/systemd/user/$UNIT" "/usr/local/lib/systemd/user/$UNIT"
  else
    die "$NAME has no systemd unit (share/systemd/user/$UNIT)"
  fi
  install -m 0644 "$TOP/share/applications/lcai-tray.desktop" /usr/local/share/applications/ 2>/dev/null || true
  cp -r "$TOP/share/icons/." /usr/local/share/icons/ 2>/dev/null || true
  if ! ((NO_DOCKER)) && ! command -v docker >/dev/null && command -v apt-get >/dev/null; then
    say "installing Docker (docker.io)"; DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io
  fi
  EXE=/usr/local/bin/lcai-tray
fi
VERSION="$("$EXE" --version 2>/dev/null || true)"
[[ -n "$VERSION" ]] || die "$EXE does not run after installing"
say "installed: $VERSION"

# Docker socket access for the worker user (docker group = root-equivalent: this is the usual setup)
if [[ "$RUN_UID" != 0 ]] && getent group docker >/dev/null && ! id -nG "$RUN_USER" | tr ' ' '\n' | grep -qx docker; then
  usermod -aG docker "$RUN_USER"; say "added $RUN_USER to the docker group"
fi

# --- 4. enable the user unit with lingering -----------------------------------------------------------
if ((ENABLE)); then
  if ! command -v loginctl >/dev/null || ! command -v systemctl >/dev/null; then
    die "systemd is needed to enable the service (or use --no-enable)"
  fi
  loginctl enable-linger "$RUN_USER"
  say "lingering enabled for $RUN_USER (the agent runs without a login session)"
  for _ in $(seq 1 50); do [[ -S "/run/user/$RUN_UID/bus" ]] && break; sleep 0.2; done
  [[ -S "/run/user/$RUN_UID/bus" ]] || die "the user manager of $RUN_USER did not start (/run/user/$RUN_UID/bus)"
  as_user() { runuser -u "$RUN_USER" -- env XDG_RUNTIME_DIR="/run/user/$RUN_UID" \
    DBUS_SESSION_BUS_ADDRESS="unix:path=/run/user/$RUN_UID/bus" HOME="$RUN_HOME" "$@"; }
  dropin="$RUN_HOME/.config/systemd/user/$UNIT.d"
  if [[ -n "$NETWORK" || -n "$SECRETS" ]]; then  # a drop-in: the packaged unit stays as shipped
    [[ -z "$SECRETS" || "$SECRETS" == /* ]] || SECRETS="$RUN_HOME/$SECRETS"
    args=("$EXE")
    [[ -n "$NETWORK" ]] && args+=(--network "$NETWORK")
    [[ -n "$SECRETS" ]] && args+=(--secrets-file "$SECRETS")
    args+=(--headless)
    as_user mkdir -p "$dropin"
    printf '# written by server-install.sh\n[Service]\nExecStart=\nExecStart=%s\n' "${args[*]}" \
      | as_user tee "$dropin/install.conf" >/dev/null
  fi
  as_user systemctl --user daemon-reload
  as_user systemctl --user enable "$UNIT" >/dev/null
  as_user systemctl --user restart "$UNIT"
  for _ in $(seq 1 30); do as_user systemctl --user is-active --quiet "$UNIT" && break; sleep 1; done
  if as_user systemctl --user is-active --quiet "$UNIT"; then
    say "$UNIT is running for $RUN_USER"
  else
    echo "warning: $UNIT is not active yet: journalctl --user -u $UNIT (as $RUN_USER)" >&2
  fi
  if as_user systemctl --user is-active --quiet "$UNIT"; then  # (else `open` would start a second agent)
    PORT_HINT="$(as_user timeout 20 "$EXE" open --print-url 2>/dev/null \
      | sed -n 's|.*127\.0\.0\.1:\([0-9]*\).*|\1|p' | head -1 || true)"
  fi
fi

# --- 5. how to reach it -----------------------------------------------------------------------------
PORT="${PORT_HINT:-PORT}"
HOST="$(hostname -f 2>/dev/null || hostname)"
cat <<EOF

lcai-worker-tray is installed.
  Finish setup (as $RUN_USER):  lcai-tray setup   (or in the dashboard, below)
  Status:                lcai-tray status
  Service logs:          journalctl --user -u $UNIT   (as $RUN_USER)

Dashboard from your own computer, over an SSH tunnel (it listens on 127.0.0.1 only):
  1. on the server, as $RUN_USER:  lcai-tray open --print-url   → http://127.0.0.1:$PORT/…
  2. on your computer:  ssh -N -L $PORT:127.0.0.1:$PORT $RUN_USER@$HOST
  3. open the printed URL in your browser (same port on your side).
Removing the package (apt remove lcai-worker-tray) keeps keys and data in $RUN_HOME.
EOF
if [[ -z "$SECRETS" ]]; then
  echo "Note: with no keychain on the server the agent needs a secrets file; if 'lcai-tray status' reports"
  echo "      'only insecure file keyrings', run again with: --secrets-file .config/lcai-worker-tray/secrets"
fi
