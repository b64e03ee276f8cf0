"""The tray as a pure function: ``render(Status, ViewContext) -> TrayView(icon_key, tooltip, menu_items)``.

No pystray here: menu items carry an *action* string that the tray app maps to a callback which only
posts to the agent API (``op:<kind>``), opens a window (``open:<kind>``), toggles a setting
(``toggle:<name>``), pauses or resumes the automatic settle policy (``autosettle:pause|resume``), opens a folder (``logs``) or quits (``quit:keep`` / ``quit:stop``). Money actions
never post from the menu: they open the page that asks for confirmation (``open:settle``, ``open:deregister``);
so does Stop for a registered worker (``open:stop``: its jobs would time out as offences).
While the agent runs an operation (``Status.operation``) the tooltip and first line say so and every
action that would start another one is disabled.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from tray_agent.common.amounts import format_lcai
from tray_agent.common.siblings import SEVERITY, Machine, WorkerEntry
from tray_agent.common.status import Alert, Status, WorkerState

from .icons import icon_key

TOOLTIP_MAX = 127  # Windows NOTIFYICONDATA szTip holds 128 chars including NUL


@dataclass(frozen=True)
class ViewContext:
    """What the tray knows besides the agent's Status."""

    connected: bool = True  # the tray is attached to a running agent
    autostart: bool = False  # "Start at login" is on
    keep_awake: bool | None = None  # the user's keep-awake setting (None: unknown → show whether it is active)
    agent_error: str = ""  # why the tray cannot reach the agent, if it cannot
    others: tuple[WorkerEntry, ...] = ()  # the other workers (profiles) on this machine


@dataclass(frozen=True)
class MenuItem:
    label: str = ""
    action: str = ""  # "" = informational line
    enabled: bool = True
    checked: bool | None = None  # None = not a toggle
    default: bool = False
    separator: bool = False
    submenu: tuple[MenuItem, ...] = ()


SEPARATOR = MenuItem(separator=True)


@dataclass(frozen=True)
class TrayView:
    icon_key: str
    tooltip: str
    menu_items: tuple[MenuItem, ...] = field(default_factory=tuple)

    def find(self, action: str) -> MenuItem | None:
        """The item with this action, searching submenus too."""
        stack = list(self.menu_items)
        while stack:
            item = stack.pop(0)
            if item.action == action:
                return item
            stack.extend(item.submenu)
        return None


def lcai(wei: int) -> str:
    """Tray amounts: the one LCAI rule (as the dashboard and the CLI) with the unit."""
    return format_lcai(wei, unit=True)


def busy_text(status: Status) -> str:
    """"settle running" while the agent runs an operation, else ""."""
    return f"{status.operation.replace('_', ' ')} running" if status.operation else ""


_RUNNING = {WorkerState.ONLINE, WorkerState.STARTING, WorkerState.STALE}
_NO_WORKER = {WorkerState.SETUP_NEEDED, WorkerState.DOCKER_MISSING}
_ALERT_TEXT = {
    Alert.LOW_GAS: "low gas",
    Alert.EARNINGS_READY: "earnings ready",
    Alert.STUCK_JOBS: "stuck jobs",
    Alert.SLASHED: "slashed",
    Alert.SUSPENDED: "suspended",
    Alert.CRASH_LOOP: "crash loop",
    Alert.RPC_DOWN: "RPC unreachable",
    Alert.OLLAMA_DOWN: "Ollama down",
    Alert.PROTOCOL_DRIFT: "update needed",
    Alert.UNDERSTAKED: "stake below minimum",
    Alert.PAUSED_WITH_SESSIONS: "paused while registered",
}


def countdown(at: float, now: float | None = None) -> str:
    """'in 23 h 05 min' (or 'now') until a unix time."""
    left = int(at - (time.time() if now is None else now))
    if left <= 60:
        return "now"
    h, m = divmod(left // 60, 60)
    return f"in {h} h {m:02d} min" if h else f"in {m} min"


def status_line(status: Status, ctx: ViewContext) -> str:
    """The first (disabled) menu line: state plus the one thing that matters most now."""
    if not ctx.connected:
        return "Starting the agent…" if not ctx.agent_error else f"Agent not reachable: {ctx.agent_error}"
    parts = [status.state.label]
    if status.operation:
        parts.append(busy_text(status))
    elif status.deregister_at:
        parts.append(f"deregistering {countdown(status.deregister_at)}")
    elif status.state is WorkerState.ONLINE:
        parts.append(f"{status.active_jobs} job{'s' if status.active_jobs != 1 else ''} running")
    elif status.message:
        parts.append(status.message)
    return " · ".join(parts)[:90]


def tooltip(status: Status, ctx: ViewContext) -> str:
    """Tooltip: app name, state, earnings; at most :data:`TOOLTIP_MAX` characters."""
    if not ctx.connected:
        return "LightChain worker: starting…"
    bits = [f"LightChain worker: {status.state.label}"]
    if status.network != "mainnet":
        bits[0] += f" ({status.network})"
    if status.operation:
        bits.append(f"busy: {busy_text(status)}")
    if status.deregister_at:
        bits.append(f"deregistering {countdown(status.deregister_at)}")
    if status.releasable_wei:
        bits.append(f"ready to settle {lcai(status.releasable_wei)}")
    if status.wallet_wei:
        bits.append(f"wallet {lcai(status.wallet_wei)}")
    alerts = [_ALERT_TEXT[a] for a in status.alerts if a in _ALERT_TEXT and a is not Alert.EARNINGS_READY]
    if alerts:
        bits.append("⚠ " + ", ".join(alerts))
    text = "\n".join(bits)
    return text if len(text) <= TOOLTIP_MAX else text[: TOOLTIP_MAX - 1] + "…"


def render(status: Status, ctx: ViewContext | None = None) -> TrayView:
    """Map a Status (and tray context) to icon key, tooltip and menu. Pure and deterministic."""
    ctx = ctx or ViewContext()
    state = status.state if ctx.connected else WorkerState.STARTING
    alerts = status.alerts if ctx.connected else ()
    live = ctx.connected
    busy = bool(status.operation)
    has_worker = live and state not in _NO_WORKER
    leaving = bool(status.deregister_at)  # a scheduled deregistration: the worker stays stopped until it is cancelled
    setup = live and state is WorkerState.SETUP_NEEDED

    free = live and not busy  # nothing else may start while an operation runs
    registered = free and status.registered
    items: list[MenuItem] = [
        MenuItem(status_line(status, ctx), enabled=False),
        MenuItem("Finish setup…" if setup else "Open dashboard", "open:onboarding" if setup else "open:dashboard",
                 enabled=True, default=True),
        SEPARATOR,
        MenuItem("Start worker", "op:start",
                 enabled=has_worker and not busy and not leaving and state in {WorkerState.PAUSED, WorkerState.ERROR,
                                                               WorkerState.DOCKER_DOWN}),
        # a registered worker keeps getting jobs while stopped: Stop opens the page that says so and asks
        MenuItem("Stop worker", "open:stop" if status.registered else "op:stop",
                 enabled=has_worker and not busy and (state in _RUNNING or  # suspended/understaked: still running
                                                      (status.container_running and state is not WorkerState.STOPPING))),
        MenuItem("Restart worker", "op:restart",
                 enabled=has_worker and not busy and not leaving and state is not WorkerState.STOPPING),
        SEPARATOR,
        MenuItem(
            f"Settle earnings ({lcai(status.releasable_wei)})…" if status.releasable_wei else "Settle earnings…",
            "open:settle", enabled=has_worker and registered,
        ),
        MenuItem("Withdraw…", "open:withdraw", enabled=free and bool(status.address)),
        *autosettle_items(status, ctx),
        MenuItem("Models this worker serves…", "open:models", enabled=free),
        MenuItem("Speed test…", "open:speedtest", enabled=has_worker and not busy),
    ]
    if live and status.stuck_jobs > 0:
        items.append(MenuItem(f"Clear stuck jobs ({status.stuck_jobs})…", "open:stuck", enabled=not busy))
    items += [
        MenuItem("Recover a replaced key…", "open:recover", enabled=free and not leaving),
    ]
    if live and leaving:
        items.append(MenuItem(f"Cancel deregistration ({countdown(status.deregister_at)})", "op:cancel_deregister",
                              enabled=True))
    elif live and status.registered:
        items.append(MenuItem("Deregister and get the stake back…", "open:deregister", enabled=registered))
    items += [
        SEPARATOR,
        keep_awake_item(status, ctx),
        MenuItem("Start at login", "toggle:autostart", enabled=True, checked=ctx.autostart),
        MenuItem("Open logs folder", "logs"),
        SEPARATOR,
        MenuItem("Quit", "quit", submenu=(
            MenuItem("Quit, keep the worker running", "quit:keep"),
            MenuItem("Quit and stop the worker", "quit:stop", enabled=live),
        )),
    ]
    working = status.active_jobs > 0 or bool(status.operation)
    if ctx.others:  # one icon for the machine: the worst state of all its workers, and a line per worker
        items[2:2] = [workers_menu(status, ctx), SEPARATOR]
        machine = Machine((WorkerEntry(status.profile, status.evolve(state=state, alerts=alerts)), *ctx.others))
        worst = machine.worst()
        if worst is not None and worst.profile != status.profile:
            state, alerts = worst.state, machine.alerts()
            working = False
        else:
            alerts = machine.alerts()
        return TrayView(icon_key(state, alerts, working=working), machine_tooltip(status, ctx), tuple(items))
    return TrayView(icon_key(state, alerts, working=working), tooltip(status, ctx), tuple(items))


def autosettle_items(status: Status, ctx: ViewContext) -> tuple[MenuItem, ...]:
    """Pause / resume the automatic settle policy (only shown while it is on). Pausing moves no funds, so it
    posts from the menu; what the policy does is on the dashboard and in Settings."""
    a = status.autosettle or {}
    if not ctx.connected or not a.get("enabled"):
        return ()
    if a.get("paused"):
        return (MenuItem("Resume automatic settle", "autosettle:resume"),)
    label = "Pause automatic settle" + (" (retrying)" if a.get("state") == "retrying" else "")
    return (MenuItem(label, "autosettle:pause"),)


def worker_line(profile: str, status: Status | None, current: bool = False) -> str:
    """"gpu1: Online · 2 jobs" — one worker of the machine in the menu."""
    if status is None:
        return f"{profile}: agent not running"
    bits = [status.state.label]
    if status.operation:
        bits.append(busy_text(status))
    elif status.state is WorkerState.ONLINE:
        bits.append(f"{status.active_jobs} job{'s' if status.active_jobs != 1 else ''}")
    return f"{profile}{' (this)' if current else ''}: {' · '.join(bits)}"[:80]


def workers_menu(status: Status, ctx: ViewContext) -> MenuItem:
    """"Workers on this machine (N)": each worker with its state; choosing one opens its dashboard."""
    mine = MenuItem(worker_line(status.profile, status if ctx.connected else None, current=True), "open:dashboard")
    rows = [mine, *(MenuItem(worker_line(w.profile, w.status), f"worker:{w.profile}", enabled=w.running)
                    for w in ctx.others)]
    return MenuItem(f"Workers on this machine ({len(rows)})", submenu=tuple(rows))


def machine_tooltip(status: Status, ctx: ViewContext) -> str:
    """The tooltip with several workers: how many are in each state, worst first."""
    states = [status.state if ctx.connected else WorkerState.STARTING] + \
        [w.status.state for w in ctx.others if w.status is not None]
    counts: dict[WorkerState, int] = {}
    for st in states:
        counts[st] = counts.get(st, 0) + 1
    parts = [f"{n} {st.label.lower()}" for st, n in sorted(counts.items(), key=lambda kv: SEVERITY.index(kv[0]))]
    down = sum(1 for w in ctx.others if w.status is None)
    if down:
        parts.append(f"{down} agent{'s' if down != 1 else ''} not running")
    text = f"LightChain workers ({len(states) + down}): " + ", ".join(parts)
    return text if len(text) <= TOOLTIP_MAX else text[: TOOLTIP_MAX - 1] + "…"


def keep_awake_item(status: Status, ctx: ViewContext) -> MenuItem:
    """The keep-awake toggle; when the agent cannot keep this machine awake it says so, with the reason."""
    if ctx.connected and not status.keep_awake_available:
        reason = status.keep_awake_reason or "not supported here"
        return MenuItem(f"Keep machine awake: unavailable ({reason})"[:80], "toggle:keep_awake", enabled=False,
                        checked=False)
    on = status.keep_awake if ctx.keep_awake is None else ctx.keep_awake
    return MenuItem("Keep machine awake", "toggle:keep_awake", enabled=ctx.connected, checked=ctx.connected and on)


@dataclass(frozen=True)
class Notice:
    """A desktop notification the tray shows once, on a change."""

    title: str
    message: str
    level: str = "info"  # info | warning | error


_DOWN = {WorkerState.STALE, WorkerState.ERROR, WorkerState.DOCKER_DOWN, WorkerState.DOCKER_MISSING}
