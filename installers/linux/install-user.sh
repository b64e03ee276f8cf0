#!/usr/bin/env bash
# Install (or update) this unpacked tarball for the current user, no root needed:
#   ~/.local/opt/lcai-worker-tray/   the app        ~/.local/bin/lcai-tray   the command
#   ~/.local/share/applications/     menu entry     ~/.local/share/icons/hicolor/  icons
# Run it again after unpacking a newer tarball; `./install-user.sh --uninstall` removes the app again.
# Keys, settings and logs (~/.local/share/lcai-worker-tray, ~/.config/lcai-worker-tray) are never touched.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DATA="${XDG_DATA_HOME:-$HOME/.local/share}"
OPT="$HOME/.local/opt/lcai-worker-tray"
BIN="$HOME/.local/bin"

if [[ "${1:-}" == "--uninstall" ]]; then
  rm -rf "$OPT" "$BIN/lcai-tray" "$DATA/applications/lcai-tray.desktop"
  find "$DATA/icons/hicolor" -name lcai-tray.png -delete 2>/dev/null || true
  echo "lcai-tray removed (your keys and data stay in $DATA/lcai-worker-tray)"
  exit 0
fi

[[ -x "$HERE/lcai-tray/lcai-tray" ]] || { echo "error: run this from the unpacked tarball (lcai-tray/ not found)" >&2; exit 1; }
mkdir -p "$(dirname "$OPT")" "$BIN" "$DATA/applications"
rm -rf "$OPT.new"
cp -a "$HERE/lcai-tray" "$OPT.new"
rm -rf "$OPT.old"; [[ -e "$OPT" ]] && mv "$OPT" "$OPT.old"
mv "$OPT.new" "$OPT"; rm -rf "$OPT.old"
ln -sfn "$OPT/lcai-tray" "$BIN/lcai-tray"
sed -e "s|^Exec=.*|Exec=\"$OPT/lcai-tray\"|" -e "s|^TryExec=.*|TryExec=$OPT/lcai-tray|" \
  "$HERE/share/applications/lcai-tray.desktop" > "$DATA/applications/lcai-tray.desktop"
cp -r "$HERE/share/icons/." "$DATA/icons/"
command -v update-desktop-database >/dev/null && update-desktop-database -q "$DATA/applications" || true
command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$DATA/icons/hicolor" 2>/dev/null || true
echo "installed: $OPT ($("$OPT/lcai-tray" --version 2>/dev/null || echo '?'))"
case ":$PATH:" in *":$BIN:"*) ;; *) echo "note: add $BIN to PATH to run 'lcai-tray' from a terminal";; esac
echo "start it from the applications menu (LCAI Worker Tray) or run: $BIN/lcai-tray"
