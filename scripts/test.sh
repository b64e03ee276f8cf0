#!/usr/bin/env bash
# Set up everything and run the full test suite with real parts:
# a private dockerd (own data-root/exec-root/pidfile/unix socket, no TCP), Xvfb, a D-Bus session with an
# unlocked GNOME keyring. anvil is started per test session by the tests. Every service is stopped by PID.
# Extra arguments go to pytest, e.g.  scripts/test.sh tests/test_keys.py -x
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/bootstrap.sh test

RUN="$(mktemp -d /tmp/lcai-test.XXXXXX)"   # short path: unix socket paths are limited to 108 bytes
mkdir -p "$RUN/docker-data" "$RUN/docker-exec" test-output
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
  done
  # dockerd leaves network-namespace mounts behind; unmount them so the folder can go
  grep -o " $RUN[^ ]*" /proc/mounts 2>/dev/null | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$RUN" 2>/dev/null || true
}
trap cleanup EXIT

# --- private dockerd ---------------------------------------------------------------------------
if command -v dockerd >/dev/null && [[ $(id -u) -eq 0 ]]; then
  dockerd --data-root "$RUN/docker-data" --exec-root "$RUN/docker-exec" --pidfile "$RUN/dockerd.pid" \
    -H "unix://$RUN/docker.sock" --containerd-namespace "lcai-test-$$" --containerd-plugins-namespace "lcai-test-p-$$" \
    --iptables=false --ip6tables=false --bridge=none --shutdown-timeout 5 >"$ROOT/test-output/dockerd.log" 2>&1 &
  PIDS+=($!)
  export DOCKER_HOST="unix://$RUN/docker.sock"
  export LCAI_TEST_DOCKERD_PID=$!
  for _ in $(seq 1 100); do docker -H "$DOCKER_HOST" version >/dev/null 2>&1 && break; sleep 0.2; done
  docker -H "$DOCKER_HOST" version --format 'dockerd {{.Server.Version}} ready' || { echo "dockerd did not start"; tail -20 test-output/dockerd.log; exit 1; }
else
  echo "WARNING: no root or no dockerd: Docker tests will be skipped (they fail under CI=true)"
fi

# --- Xvfb -------------------------------------------------------------------------------------
for n in $(seq 90 140); do [[ -e /tmp/.X11-unix/X$n || -e /tmp/.X$n-lock ]] || { DISP=$n; break; }; done
Xvfb ":$DISP" -screen 0 1280x800x24 -nolisten tcp >"$ROOT/test-output/xvfb.log" 2>&1 &
PIDS+=($!)
export DISPLAY=":$DISP"
for _ in $(seq 1 50); do [[ -e /tmp/.X11-unix/X$DISP ]] && break; sleep 0.1; done

export QTWEBENGINE_CHROMIUM_FLAGS="--no-sandbox"
export LCAI_DOCKER_AUTOSTART=0          # never start a real Docker Desktop/systemd service from tests
export LCAI_SIM_OLLAMA_TIME_SCALE=0.02  # the devnet simulated Ollama reports real timings, waits 2 % of them
export PYTHONDONTWRITEBYTECODE=1
export LCAI_TEST_RUN_DIR="$RUN"

# --- D-Bus session + unlocked GNOME keyring, then pytest -----------------------------------------
KEYRING_HOME="$RUN/home"; mkdir -p "$KEYRING_HOME"
set +e
REAL_HOME="$HOME" HOME="$KEYRING_HOME" dbus-run-session -- bash -c '
  printf lcai-test-keyring | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1
  # tests run with a throw-away HOME: autostart entries and user configs never touch the real one
  export HOME="$LCAI_TEST_RUN_DIR/test-home"; mkdir -p "$HOME"
  export UV_CACHE_DIR="${UV_CACHE_DIR:-$REAL_HOME/.cache/uv}"
  .venv/bin/python -m pytest -p no:cacheprovider "$@"; rc=$?
  echo "==> ruff"
  .venv/bin/ruff check tray_agent tests benchmarks scripts installers || { [[ $rc -eq 0 ]] && rc=3; }
  exit $rc
' bash "$@"
rc=$?
set -e
echo "pytest exit code: $rc"
exit $rc
