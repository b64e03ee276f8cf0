#!/usr/bin/env bash
# Build the macOS app and its disk image (runs on macOS only: a GitHub macos runner or a Mac).
#
#   installers/macos/build_dmg.sh
#
# Output: dist/LCAI Worker Tray.app (menu-bar only: LSUIElement), dist/lcai-worker-tray-<v>-macos-<arch>.dmg
# (the .app + an Applications link for drag-and-drop), and the .dmg's line in dist/SHA256SUMS.
# Signing: LCAI_CODESIGN_IDENTITY="Developer ID Application: …" signs the app (else an ad-hoc signature,
# enough to run on the build machine; Gatekeeper then asks on other Macs: right-click → Open).
# Notarisation when APPLE_ID, APPLE_TEAM_ID and APPLE_APP_PASSWORD are set (xcrun notarytool + stapler).
# Written for the bash 3.2 that macOS ships.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
DIST="${LCAI_DIST:-$ROOT/dist}"
WORK="${LCAI_BUILD:-$ROOT/build/pyinstaller}"
[ "$(uname -s)" = Darwin ] || { echo "error: build_dmg.sh runs on macOS" >&2; exit 1; }

LCAI_DIST="$DIST" LCAI_BUILD="$WORK" PYTHON="$PY" bash "$ROOT/installers/build_bundle.sh"
VERSION="$("$PY" "$ROOT/installers/version.py")"
ARCH="$(uname -m)"
APP="$DIST/LCAI Worker Tray.app"
[ -d "$APP" ] || { echo "error: $APP was not built" >&2; exit 1; }
/usr/libexec/PlistBuddy -c "Print :LSUIElement" "$APP/Contents/Info.plist" | grep -qi true \
  || { echo "error: LSUIElement missing from Info.plist" >&2; exit 1; }

if [ -n "${LCAI_CODESIGN_IDENTITY:-}" ]; then
  codesign --force --deep --options runtime --timestamp -s "$LCAI_CODESIGN_IDENTITY" "$APP"
else
  codesign --force --deep -s - "$APP"
fi
codesign --verify --deep --strict "$APP"

DMG="$DIST/lcai-worker-tray-$VERSION-macos-$ARCH.dmg"
STAGE="$WORK/dmg"
rm -rf "$STAGE" "$DMG"; mkdir -p "$STAGE"
cp -R "$APP" "$STAGE/"
ln -s /Applications "$STAGE/Applications"
hdiutil create -volname "LCAI Worker Tray $VERSION" -srcfolder "$STAGE" -fs HFS+ -format UDZO -ov "$DMG"
rm -rf "$STAGE"

if [ -n "${APPLE_ID:-}" ] && [ -n "${APPLE_TEAM_ID:-}" ] && [ -n "${APPLE_APP_PASSWORD:-}" ]; then
  xcrun notarytool submit "$DMG" --apple-id "$APPLE_ID" --team-id "$APPLE_TEAM_ID" \
    --password "$APPLE_APP_PASSWORD" --wait
  xcrun stapler staple "$DMG"
fi

touch "$DIST/SHA256SUMS"
f="$(basename "$DMG")"
{ grep -v "  $f\$" "$DIST/SHA256SUMS" || true; (cd "$DIST" && shasum -a 256 "$f"); } | sort -k2 > "$DIST/SHA256SUMS.tmp"
mv "$DIST/SHA256SUMS.tmp" "$DIST/SHA256SUMS"
echo "    dmg: $DMG ($(du -h "$DMG" | cut -f1))"
