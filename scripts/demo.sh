#!/usr/bin/env bash
# Set up and run the agent on devnet: a local anvil chain with replica contracts, a simulated worker and a
# simulated consumer — the whole loop offline. With a display it opens the tray + onboarding window; without one
# it runs headless and prints a one-time dashboard URL. Safe to run twice. Ctrl-C stops it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/bootstrap.sh

PROFILE="${LCAI_TRAY_PROFILE:-demo}"
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

# Docker for the simulated worker container: use the user's engine; as root with none running, start a private one.
if ! docker version >/dev/null 2>&1 && [[ -z "${DOCKER_HOST:-}" ]] && [[ $(id -u) -eq 0 ]] && command -v dockerd >/dev/null; then
  RUN="$ROOT/.run/demo-docker"; mkdir -p "$RUN"
  SOCK="/tmp/lcai-demo-docker.sock"
  dockerd --data-root "$RUN/data" --exec-root /tmp/lcai-demo-exec --pidfile "$RUN/dockerd.pid" -H "unix://$SOCK" \
    --containerd-namespace lcai-demo --containerd-plugins-namespace lcai-demo-p \
    --iptables=false --ip6tables=false --bridge=none >"$RUN/dockerd.log" 2>&1 &
  PIDS+=($!)
  export DOCKER_HOST="unix://$SOCK"
  for _ in $(seq 1 100); do docker -H "$DOCKER_HOST" version >/dev/null 2>&1 && break; sleep 0.2; done
fi

SECRETS=()
if [[ -z "${DBUS_SESSION_BUS_ADDRESS:-}" ]]; then
  # No desktop session, so no OS keychain: the demo opts in explicitly to a 0600 file for its devnet-only keys.
  mkdir -p "$ROOT/.run/demo"; chmod 700 "$ROOT/.run" "$ROOT/.run/demo"
  SECRETS=(--secrets-file "$ROOT/.run/demo/secrets.json")
  echo "No keychain session here: devnet passwords go to .run/demo/secrets.json (explicit opt-in; never for real networks)."
fi

if [[ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]]; then
  exec .venv/bin/lcai-tray --profile "$PROFILE" --network devnet "${SECRETS[@]}" "$@"
fi
.venv/bin/lcai-tray --profile "$PROFILE" --network devnet "${SECRETS[@]}" serve --headless "$@" &
AGENT=$!; PIDS+=($AGENT)
for _ in $(seq 1 150); do .venv/bin/lcai-tray --profile "$PROFILE" status >/dev/null 2>&1 && break; sleep 0.2; done
.venv/bin/lcai-tray --profile "$PROFILE" status || true
echo
echo "Dashboard (one-time link, valid 60 s; get a new one with: .venv/bin/lcai-tray --profile $PROFILE open --print-url):"
.venv/bin/lcai-tray --profile "$PROFILE" open --print-url --page onboarding || true
echo "Press Ctrl-C to stop the agent."
wait "$AGENT"
