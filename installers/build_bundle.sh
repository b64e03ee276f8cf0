#!/usr/bin/env bash
# Build the self-contained app with PyInstaller (installers/pyinstaller/lcai-tray.spec).
#
#   installers/build_bundle.sh [--lean] [--no-tarball] [--clean]
#
# Linux:  $DIST/lcai-tray/                                   folder bundle (run lcai-tray/lcai-tray)
#         $DIST/lcai-worker-tray-<version>-linux-<arch>.tar.gz  bundle + .desktop + icons + install-user.sh
# macOS:  $DIST/LCAI Worker Tray.app (the .dmg: installers/macos/build_dmg.sh, which calls this script)
# Both:   $DIST/SHA256SUMS gets a line per artifact (replaced on rebuild).
#
# --lean        no Qt WebEngine (Linux): smaller and faster; the dashboard opens in the browser instead
# --no-tarball  folder bundle only
# --clean       discard PyInstaller's cache first
# Environment: PYTHON (default .venv/bin/python, needs the `build` extra), LCAI_DIST (default dist/),
#   LCAI_BUILD (default build/pyinstaller), LCAI_TAR_GZIP (gzip level, default 6), SOURCE_DATE_EPOCH.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
DIST="${LCAI_DIST:-$ROOT/dist}"
WORK="${LCAI_BUILD:-$ROOT/build/pyinstaller}"
LEAN=0; TARBALL=1; CLEAN=()
for arg in "$@"; do
  case "$arg" in
    --lean) LEAN=1 ;;
    --no-tarball) TARBALL=0 ;;
    --clean) CLEAN=(--clean) ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "unknown option: $arg" >&2; exit 2 ;;
  esac
done
[[ "${LCAI_BUNDLE_LEAN:-0}" == 1 ]] && LEAN=1

"$PY" -c 'import PyInstaller' 2>/dev/null || {
  echo "error: PyInstaller missing in $PY; run: uv sync --extra gui --extra linux-tray --extra build" >&2; exit 1; }
VERSION="$("$PY" "$ROOT/installers/version.py")"
OS="$(uname -s | tr '[:upper:]' '[:lower:]')"; ARCH="$(uname -m)"
mkdir -p "$DIST" "$WORK"
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git -C "$ROOT" log -1 --format=%ct 2>/dev/null || date +%s)}"

t0=$(date +%s)
echo "==> icons"
"$PY" "$ROOT/installers/make_icons.py" "$WORK/icons" >/dev/null

echo "==> pyinstaller (version $VERSION, lean=$LEAN)"
spec_args=(--icons "$WORK/icons"); [[ $LEAN == 1 ]] && spec_args+=(--lean)
"$PY" -m PyInstaller --noconfirm ${CLEAN[@]+"${CLEAN[@]}"} --log-level WARN \
  --distpath "$DIST" --workpath "$WORK" "$ROOT/installers/pyinstaller/lcai-tray.spec" -- "${spec_args[@]}"
t1=$(date +%s)
"$DIST/lcai-tray/lcai-tray" --bundle-info >/dev/null || { echo "error: the bundle does not start" >&2; exit 1; }
echo "    bundle: $DIST/lcai-tray ($(du -sh "$DIST/lcai-tray" | cut -f1), $((t1 - t0)) s)"

sums_put() {  # sums_put FILE: (re)place FILE's line in $DIST/SHA256SUMS
  local f; f="$(basename "$1")"
  touch "$DIST/SHA256SUMS"
  grep -v "  $f\$" "$DIST/SHA256SUMS" > "$DIST/SHA256SUMS.tmp" || true
  (cd "$DIST" && sha256sum "$f") >> "$DIST/SHA256SUMS.tmp"
  sort -k2 "$DIST/SHA256SUMS.tmp" > "$DIST/SHA256SUMS"; rm -f "$DIST/SHA256SUMS.tmp"
}

if [[ "$OS" == linux && $TARBALL == 1 ]]; then
  NAME="lcai-worker-tray-$VERSION"
  TAR="$DIST/$NAME-linux-$ARCH.tar.gz"
  STAGE="$WORK/stage"
  rm -rf "$STAGE"; mkdir -p "$STAGE/$NAME/share/applications" "$STAGE/$NAME/share/icons"
  cp -al "$DIST/lcai-tray" "$STAGE/$NAME/lcai-tray" 2>/dev/null || cp -a "$DIST/lcai-tray" "$STAGE/$NAME/lcai-tray"
  cp "$ROOT/installers/linux/lcai-tray.desktop" "$STAGE/$NAME/share/applications/"
  cp -r "$WORK/icons/hicolor" "$STAGE/$NAME/share/icons/"
  install -m 0755 "$ROOT/installers/linux/install-user.sh" "$STAGE/$NAME/install-user.sh"
  unit="$("$PY" "$ROOT/installers/systemd_unit.py" --exec /usr/local/bin/lcai-tray 2>/dev/null || true)"
  if [[ -n "$unit" ]]; then
    mkdir -p "$STAGE/$NAME/share/systemd/user"; printf '%s\n' "$unit" > "$STAGE/$NAME/share/systemd/user/lcai-tray-default.service"
  fi
  cat > "$STAGE/$NAME/README.txt" <<EOF
lcai-worker-tray $VERSION for Linux ($ARCH)

Run without installing:   ./lcai-tray/lcai-tray            (tray app; --help for the commands)
Install for this user:    ./install-user.sh                (menu entry, icons, ~/.local/bin/lcai-tray)
Headless server:          sudo ./server-install.sh from the release page installs this tarball
                          or the .deb with a systemd user unit (see installers/README.md).
Check what this build carries (Qt WebEngine, AppIndicator): ./lcai-tray/lcai-tray --bundle-info
EOF
  echo "==> tarball"
  rm -f "$TAR"
  tar -C "$STAGE" --owner=0 --group=0 --numeric-owner --sort=name --mtime="@$SOURCE_DATE_EPOCH" -cf - "$NAME" \
    | gzip -n -"${LCAI_TAR_GZIP:-6}" > "$TAR.part"
  mv "$TAR.part" "$TAR"
  rm -rf "$STAGE"
  sums_put "$TAR"
  t2=$(date +%s)
  echo "    tarball: $TAR ($(du -h "$TAR" | cut -f1), $((t2 - t1)) s)"
fi
if [[ "$OS" == darwin ]]; then
  echo "    app: $DIST/LCAI Worker Tray.app (dmg: installers/macos/build_dmg.sh)"
fi
echo "==> done in $(( $(date +%s) - t0 )) s"
