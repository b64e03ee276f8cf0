#!/usr/bin/env bash
# Build the Debian package from the PyInstaller bundle (dpkg-deb only: no debhelper, no root needed).
#
#   installers/build_deb.sh [--lean] [--rebuild]
#
# Output: $DIST/lcai-worker-tray_<version>_<arch>.deb (+ its line in $DIST/SHA256SUMS), installing
#   /opt/lcai-worker-tray/                       the bundle (lcai-tray + _internal/)
#   /usr/bin/lcai-tray -> /opt/lcai-worker-tray/lcai-tray
#   /usr/share/applications/lcai-tray.desktop    menu entry
#   /usr/share/icons/hicolor/<n>x<n>/apps/lcai-tray.png
#   /usr/lib/systemd/user/lcai-tray-default.service   the runtime's user unit (installers/autostart/)
#   /usr/share/doc/lcai-worker-tray/copyright
# No maintainer scripts: the menu and icon caches are refreshed by the dpkg triggers of
# desktop-file-utils / gtk-update-icon-cache, a new user unit needs no daemon-reload, and nothing may
# touch the users' keys and data (~/.local/share/lcai-worker-tray …), so remove and purge leave them.
#
# Uses $DIST/lcai-tray when it is a bundle of this version (else runs build_bundle.sh --no-tarball).
# --lean     build the bundle without Qt WebEngine (see build_bundle.sh)
# --rebuild  always rebuild the bundle
# Environment: PYTHON, LCAI_DIST, LCAI_BUILD as build_bundle.sh; LCAI_DEB_COMPRESS (xz|gzip|zstd|none,
#   default xz) and LCAI_DEB_LEVEL (default 6; tests use gzip 1), SOURCE_DATE_EPOCH.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
DIST="${LCAI_DIST:-$ROOT/dist}"
WORK="${LCAI_BUILD:-$ROOT/build/pyinstaller}"
LEAN=(); REBUILD=0
for arg in "$@"; do
  case "$arg" in
    --lean) LEAN=(--lean) ;;
    --rebuild) REBUILD=1 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "unknown option: $arg" >&2; exit 2 ;;
  esac
done
command -v dpkg-deb >/dev/null || { echo "error: dpkg-deb not found (apt-get install dpkg)" >&2; exit 1; }

PKGNAME=lcai-worker-tray
VERSION="$("$PY" "$ROOT/installers/version.py")"
DEBVER="$("$PY" "$ROOT/installers/version.py" --deb)"
ARCH="$(dpkg --print-architecture)"
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git -C "$ROOT" log -1 --format=%ct 2>/dev/null || date +%s)}"
t0=$(date +%s)

# --- the bundle ---------------------------------------------------------------------------------------
bundle_version() { "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' \
  "$DIST/lcai-tray/_internal/lcai_bundle.json" 2>/dev/null || true; }
if [[ $REBUILD == 1 || ! -x "$DIST/lcai-tray/lcai-tray" || "$(bundle_version)" != "$VERSION" ]]; then
  LCAI_DIST="$DIST" LCAI_BUILD="$WORK" PYTHON="$PY" bash "$ROOT/installers/build_bundle.sh" --no-tarball ${LEAN[@]+"${LEAN[@]}"}
fi

# --- the tree -----------------------------------------------------------------------------------------
PKG="$WORK/deb/${PKGNAME}_${DEBVER}_${ARCH}"
rm -rf "$PKG"
mkdir -p "$PKG/DEBIAN" "$PKG/opt" "$PKG/usr/bin" "$PKG/usr/share/applications" "$PKG/usr/share/icons" \
  "$PKG/usr/lib/systemd/user" "$PKG/usr/share/doc/$PKGNAME"
cp -al "$DIST/lcai-tray" "$PKG/opt/$PKGNAME" 2>/dev/null || cp -a "$DIST/lcai-tray" "$PKG/opt/$PKGNAME"
ln -s "/opt/$PKGNAME/lcai-tray" "$PKG/usr/bin/lcai-tray"
install -m 0644 "$ROOT/installers/linux/lcai-tray.desktop" "$PKG/usr/share/applications/lcai-tray.desktop"
"$PY" "$ROOT/installers/make_icons.py" "$WORK/icons" >/dev/null
cp -r "$WORK/icons/hicolor" "$PKG/usr/share/icons/"
UNIT="$("$PY" "$ROOT/installers/systemd_unit.py" --name)"
{
  echo "# Shipped by the $PKGNAME package. Headless agent of the default profile for this user:"
  echo "#   systemctl --user enable --now $UNIT     (+ 'sudo loginctl enable-linger USER' on servers)"
  "$PY" "$ROOT/installers/systemd_unit.py" --exec /usr/bin/lcai-tray
} > "$PKG/usr/lib/systemd/user/$UNIT"
if command -v systemd-analyze >/dev/null; then
  # warn when the unit does not parse cleanly (its ExecStart does not exist on the build host: ignored)
  rt="$(mktemp -d)"
  XDG_RUNTIME_DIR="$rt" systemd-analyze --user verify "$PKG/usr/lib/systemd/user/$UNIT" 2>&1 \
    | grep -v "is not executable" | sed 's/^/warning: /' >&2 || true
  rm -rf "$rt"
fi
cat > "$PKG/usr/share/doc/$PKGNAME/copyright" <<'EOF'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: lcai-worker-tray
Comment: /opt/lcai-worker-tray bundles Python and the third-party libraries listed in its
 _internal/ folder (PyInstaller), each under its own licence.

Files: *
Copyright: lcai-worker-tray contributors
License: MIT
EOF
# modes: nothing group/world-writable; directories 0755; the bundle keeps its executable bits
chmod -R u+rwX,go+rX,go-w "$PKG"
find "$PKG" -type d -exec chmod 0755 {} +

# --- control ----------------------------------------------------------------------------------------
GLIBC="$(find "$PKG/opt/$PKGNAME" -type f \( -name '*.so*' -o -name lcai-tray -o -perm -u+x \) -print0 \
  | xargs -0 objdump -T 2>/dev/null | grep -o 'GLIBC_2\.[0-9]*' | sed 's/GLIBC_//' | sort -uV | tail -1)"
SIZE="$(du -sk --apparent-size "$PKG" | cut -f1)"
cat > "$PKG/DEBIAN/control" <<EOF
Package: $PKGNAME
Version: $DEBVER
Architecture: $ARCH
Maintainer: lcai-worker-tray maintainers <maintainers@lcai-worker-tray.invalid>
Installed-Size: $SIZE
Depends: libc6 (>= ${GLIBC:-2.31})
Recommends: docker.io | docker-ce
Suggests: gnome-shell-extension-appindicator
Section: net
Priority: optional
Description: tray app and headless agent for a LightChain AI worker
 lcai-tray creates and keeps a worker key in the OS keychain, funds and registers
 the worker, runs the official worker container under Docker and keeps it online
 (supervision, keep-awake, alerts), with a local dashboard for earnings, settle,
 withdraw, deregister and key recovery.
 .
 This package carries a self-contained build (Python and all libraries under
 /opt/lcai-worker-tray). Desktop: start "LCAI Worker Tray" from the menu. Server:
 systemctl --user enable --now lcai-tray-default.service. Removing the package
 leaves every user's keys and data in place.
EOF
(cd "$PKG" && find . -path ./DEBIAN -prune -o -type f -print0 | LC_ALL=C sort -z | xargs -0 md5sum \
  | sed 's|  \./|  |') > "$PKG/DEBIAN/md5sums"
chmod 0644 "$PKG/DEBIAN/control" "$PKG/DEBIAN/md5sums"
find "$PKG" -print0 | xargs -0 touch -h -d "@$SOURCE_DATE_EPOCH"  # reproducible member times

# --- build ------------------------------------------------------------------------------------------
OUT="$DIST/${PKGNAME}_${DEBVER}_${ARCH}.deb"
COMP="${LCAI_DEB_COMPRESS:-xz}"; LEVEL="${LCAI_DEB_LEVEL:-6}"
[[ "$COMP" == none ]] && LEVEL=0
echo "==> dpkg-deb ($COMP -$LEVEL)"
rm -f "$OUT"
threads=()  # xz in parallel where dpkg-deb can (>= 1.21.9); older ones compress on one core
dpkg-deb --help 2>/dev/null | grep -q -- --threads-max && threads=(--threads-max="${LCAI_DEB_THREADS:-$(nproc)}")
dpkg-deb --root-owner-group ${threads[@]+"${threads[@]}"} -Z"$COMP" -z"$LEVEL" --build "$PKG" "$OUT.part" >/dev/null
mv "$OUT.part" "$OUT"
rm -rf "$PKG"
touch "$DIST/SHA256SUMS"
f="$(basename "$OUT")"
{ grep -v "  $f\$" "$DIST/SHA256SUMS" || true; (cd "$DIST" && sha256sum "$f"); } | sort -k2 > "$DIST/SHA256SUMS.tmp"
mv "$DIST/SHA256SUMS.tmp" "$DIST/SHA256SUMS"
echo "    deb: $OUT ($(du -h "$OUT" | cut -f1), $(( $(date +%s) - t0 )) s)"
