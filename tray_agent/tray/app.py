"""The tray process: a light client of the agent (pystray + Pillow + stdlib HTTP; no web3/docker).

The icon appears at once in "starting"; the agent (``lcai-tray serve --headless``) is started as a
detached child when none runs for the profile, then the tray attaches to its event stream. Menu
callbacks only post to the agent or open windows. ``pystray`` is imported lazily: it raises at import
time without a display.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from tray_agent.common.api_client import AgentNotRunning, ApiClient, ApiError
from tray_agent.common.ops import MONEY_OPS
from tray_agent.common.paths import Paths
from tray_agent.common.status import Status, WorkerState

from . import hosts
from .dispatcher import Dispatcher
from .icons import render_icon
from .launch import agent_command, ensure_agent, open_folder  # noqa: F401  (agent_command: tests)
from .machine import MachineWatch, open_worker_dashboard
from .stream import StatusStream
from .view import MenuItem, Notice, TrayView, ViewContext, render

log = logging.getLogger(__name__)
APP_ID = "lcai-worker-tray"


class TrayApp:
    """Owns the pystray Icon; every pystray call goes through ``self.ui`` (the dispatcher)."""

    def __init__(self, paths: Paths, network: str | None = None, backend: str | None = None,
                 start_agent: bool = True, windows: Any = None, dark_panel: bool | None = None,
                 secrets_file: Path | None = None):
        self.paths, self.network, self.backend, self.start_agent = paths, network, backend, start_agent
        self.secrets_file = secrets_file
        self._onboarding_opened = False
        self.open_onboarding = True  # first run → onboarding window
        self.ui = Dispatcher()
        self.status = Status(profile=paths.profile)
        self.ctx = ViewContext(connected=False)
        self.view: TrayView = render(self.status, self.ctx)
        self.client: ApiClient | None = None
        self.stream: StatusStream | None = None
        self.machine: MachineWatch | None = None
        self.icon: Any = None
        self.pystray: Any = None
        self.dark_panel = hosts.panel_is_dark() if dark_panel is None else dark_panel
        self._windows = windows
        self._stop = threading.Event()
        self._menu_sig: tuple | None = None
        self.quit_choice: str | None = None
        self.notified: list[Notice] = []
        self._latin1 = False  # xorg backend: titles must be Latin-1
        self._run_done = threading.Event()

    # --- lifecycle ------------------------------------------------------------------------------------
    def build_icon(self) -> Any:
        self.pystray = hosts.import_pystray(self.backend)
        size = 64
        self._latin1 = "xorg" in (self.backend or os.environ.get("PYSTRAY_BACKEND", "")) or \
            self.pystray.Icon.__module__.endswith("_xorg")
        self.icon = self.pystray.Icon(APP_ID, render_icon(self.view.icon_key, size, self.dark_panel),
                                      self._title(self.view.tooltip), self._pystray_menu(self.view))
        self._menu_sig = self.view.menu_items
        return self.icon

    def run(self) -> int:
        """Run the tray on the calling (main) thread until Quit. Returns an exit code."""
        self.build_icon()
        try:
            self.icon.run(setup=self._setup)
        except Exception as e:  # gi backend raises GLib.GError from _finalize without a notification daemon
            if not self._stop.is_set():
                raise
            log.debug("icon finalize: %s", e)
        finally:
            self._run_done.set()
            self._shutdown()
        return 0

    def _setup(self, icon: Any) -> None:
        icon.visible = True
        threading.Thread(target=self._attach, daemon=True, name="attach").start()

    def _attach(self) -> None:
        if self.start_agent:
            client, proc = ensure_agent(self.paths, self.network, stop=self._stop, secrets_file=self.secrets_file)
            if proc is not None:  # reap it when it ends, so a stopped agent never lingers as a zombie of the tray
                threading.Thread(target=proc.wait, daemon=True, name="agent-reaper").start()
            if client is None and not self._stop.is_set():
                self._disconnected(f"the agent did not start (see {self.paths.logs})")
        self.stream = StatusStream(self.paths.api_file, self._on_status, self._disconnected, self._on_event).start()
        self.machine = MachineWatch(self.paths.profile, self._on_others).start()

    def _on_others(self, others) -> None:
        """The other workers on this machine changed (one icon for all of them)."""
        self.ctx = replace(self.ctx, others=tuple(others))
        self.apply()

    def stop(self) -> None:
        """Remove the icon and end run() (callable from any thread)."""
        self._stop.set()
        if self.icon is not None:
            self.ui.submit(self._stop_icon)

    def _stop_icon(self) -> None:
        try:
            self.icon.stop()
        except Exception as e:  # gi backend: GLib.GError about org.freedesktop.Notifications without a daemon
            log.debug("icon.stop(): %s", e)
        threading.Thread(target=self._ensure_stopped, daemon=True, name="stop-watch").start()

    def _ensure_stopped(self, grace_s: float = 3.0) -> None:
        """pystray's xorg loop sometimes misses the DestroyNotify of its own window and blocks in
        next_event() forever; closing its X connection ends that loop (it logs the error and returns)."""
        if self._run_done.wait(grace_s):
            return
        display = getattr(self.icon, "_display", None)
        if display is not None:
            log.debug("the xorg tray loop did not end: closing its X connection")
            try:
                display.close()
            except Exception as e:
                log.debug("closing the X connection: %s", e)

    def _shutdown(self) -> None:
        self._stop.set()
        if self.machine is not None:
            self.machine.stop()
        if self.stream:
            self.stream.stop()
        self.ui.close()

    # --- status → view ------------------------------------------------------------------------------------
    def _on_status(self, status: Status) -> None:
        self.client = self.stream.client if self.stream else self.client
        if not self.ctx.connected:
            self._refresh_settings()
        self.status = status
        self.ctx = replace(self.ctx, connected=True, agent_error="")
        # notifications come from the agent's AlertWatcher as `notify` events (one source: tray and webhook)
        self.apply()
        if status.state is WorkerState.SETUP_NEEDED and not self._onboarding_opened and self.open_onboarding:
            self._onboarding_opened = True  # first run: the wizard opens by itself, once per tray run
            threading.Thread(target=self.perform, args=("open:onboarding",), daemon=True).start()

    def _disconnected(self, reason: str) -> None:
        if self.ctx.connected or self.ctx.agent_error != reason:
            log.info("agent connection: %s", reason)
        self.ctx = replace(self.ctx, connected=False, agent_error=reason)
        self.apply()

    def _on_event(self, event: str, data: dict) -> None:
        if event == "notify":
            self.notify(Notice(str(data.get("title", "LightChain worker")), str(data.get("message", "")),
                               str(data.get("level", "info"))))
        elif event == "result" and not data.get("ok", True):
            err = data.get("error") or {}
            msg = err.get("message", "") if isinstance(err, dict) else str(err)
            self.notify(Notice(f"{str(data.get('kind', 'Operation')).replace('_', ' ').capitalize()} failed", msg,
                               "error"))

    def _refresh_settings(self) -> None:
        client = self.stream.client if self.stream else None
        if client is None:
            return
        try:
            settings = client.settings()
            self._apply_settings(settings)
        except ApiError as e:
            log.debug("settings: %s", e)

    def _apply_settings(self, settings: dict) -> None:
        ka = settings.get("keep_awake")
        self.ctx = replace(self.ctx, autostart=bool(settings.get("autostart", False)),
                           keep_awake=ka if isinstance(ka, bool) else None)

    def apply(self) -> None:
        """Render the current status and push changes to pystray (coalesced, on the UI thread)."""
        view = render(self.status, self.ctx)
        self.view = view
        self.ui.submit_latest("view", self._push, view)

    def _push(self, view: TrayView) -> None:
        icon = self.icon
        if icon is None:
            return
        icon.icon = render_icon(view.icon_key, 64, self.dark_panel)
        title = self._title(view.tooltip)
        if icon.title != title:
            icon.title = title
        if view.menu_items != self._menu_sig and getattr(icon, "HAS_MENU", True):
            # rebuilding closes an open menu on some desktops: only when the menu really changed
            self._menu_sig = view.menu_items
            icon.menu = self._pystray_menu(view)

    def _title(self, text: str) -> str:
        """The xorg backend stores the title as a Latin-1 WM_NAME: replace what Latin-1 cannot hold."""
        if not self._latin1:
            return text
        text = text.replace("…", "...").replace("⚠", "!")
        return text.encode("latin-1", "replace").decode("latin-1")

    def _pystray_menu(self, view: TrayView) -> Any:
        ps = self.pystray

        def build(items: tuple[MenuItem, ...]) -> list:
            out = []
            for it in items:
                if it.separator:
                    out.append(ps.Menu.SEPARATOR)
                elif it.submenu:
                    out.append(ps.MenuItem(it.label, ps.Menu(*build(it.submenu)), enabled=it.enabled))
                else:
                    checked = (lambda _i, v=it.checked: v) if it.checked is not None else None
                    out.append(ps.MenuItem(it.label, self._callback(it.action), enabled=it.enabled and bool(it.action),
                                           checked=checked, default=it.default))
            return out

        return ps.Menu(*build(view.menu_items))

    def _callback(self, action: str):
        def cb(_icon=None, _item=None) -> None:
            # never block the UI thread: actions talk HTTP on a short-lived worker thread
            threading.Thread(target=self.perform, args=(action,), daemon=True, name=f"action-{action}").start()
        return cb

    # --- actions -----------------------------------------------------------------------------------------------
    @property
    def windows(self) -> Any:
        if self._windows is None:
            from tray_agent.windows.manager import WindowManager

            self._windows = WindowManager(self.paths.runtime, self._login_url, self.paths.logs)
        return self._windows

    def _login_url(self, next_path: str) -> str:
        return self._client().login_url(next_path)

    def perform(self, action: str) -> None:
        """Run one menu action. Errors become a notification, never a crash.

        Money operations never post from here: their menu items open the page that asks for confirmation.
        """
        verb, _, arg = action.partition(":")
        try:
            if verb == "open":
                self.windows.open(arg)
            elif verb == "op":
                if arg in MONEY_OPS:
                    raise ApiError("needs_confirmation", f"{arg.replace('_', ' ')} needs its confirmation window",
                                   f"use the menu item that opens it (open:{arg})")
                self._client().op(arg)
            elif verb == "toggle":
                self._toggle(arg)
            elif verb == "autosettle":
                self._client().post("/api/autosettle/pause", {"paused": arg == "pause"})
            elif verb == "worker":  # another worker of this machine: its own agent opens its dashboard
                open_worker_dashboard(arg)
            elif verb == "logs":
                open_folder(self.paths.logs)
            elif verb == "quit":
                self.quit(keep_worker=arg != "stop")
        except ApiError as e:
            self.notify(Notice("Could not do that", f"{e.message} {e.fix}".strip(), "error"))
        except Exception as e:
            log.exception("menu action %s failed", action)
            self.notify(Notice("Could not do that", str(e), "error"))

    def _client(self) -> ApiClient:
        client = self.client or ApiClient.from_api_file(self.paths.api_file)
        if client is None:
            raise AgentNotRunning("the agent is not running", "wait a moment or restart the tray")
        return client

    def _toggle(self, name: str) -> None:
        # invert what the agent has now, not a cached copy: onboarding or the dashboard may have changed it
        self._apply_settings(self._client().settings())
        if name == "keep_awake":
            current = self.status.keep_awake if self.ctx.keep_awake is None else self.ctx.keep_awake
            settings = self._client().settings(keep_awake=not current)
        elif name == "autostart":
            settings = self._client().settings(autostart=not self.ctx.autostart)
        else:
            return
        self._apply_settings(settings)
        self.apply()

    def quit(self, keep_worker: bool) -> None:
        """Quit the tray. keep_worker=True leaves agent and worker running; False stops both."""
        self.quit_choice = "keep" if keep_worker else "stop"
        if not keep_worker:
            try:
                self._client().shutdown(keep_worker=False)
            except ApiError as e:
                log.warning("could not stop the agent: %s", e.message)
        self.stop()

    def notify(self, notice: Notice) -> None:
        """Best-effort desktop notification (none on xorg; no daemon → logged only)."""
        self.notified.append(notice)
        log.info("notification: %s — %s", notice.title, notice.message)
        icon = self.icon
        if icon is None or not getattr(icon, "HAS_NOTIFICATION", False):
            return

        def show() -> None:
            try:
                icon.notify(notice.message, notice.title)
            except Exception as e:
                log.debug("notification not shown: %s", e)

        self.ui.submit(show)


def run(profile: str | None = None, network: str | None = None, backend: str | None = None,
        secrets_file: Path | None = None) -> int:
    """Run the tray process: icon at once, agent started or attached; no tray host → dashboard window."""
    paths = Paths.for_profile(profile).ensure()
    host = hosts.detect_tray_host(backend, wait_s=float(os.environ.get("LCAI_TRAY_HOST_WAIT", "10")))
    if not host.available:
        log.warning("no system tray found (%s): opening the dashboard window instead; the worker keeps running",
                    host.reason)
        client, _ = ensure_agent(paths, network, secrets_file=secrets_file)
        if client is None:
            log.error("the agent did not start; see %s", paths.logs)
            return 1
        from tray_agent.windows.manager import WindowManager

        first_run = client.status().state.value == "setup_needed"
        WindowManager(paths.runtime, client.login_url, paths.logs).open("onboarding" if first_run else "dashboard")
        return 0
    app = TrayApp(paths, network, backend or host.backend, secrets_file=secrets_file)
    return app.run()


def main(network: str | None = None, secrets_file: Path | None = None, profile: str | None = None,
         backend: str | None = None) -> int:
    """Entry point used by ``lcai-tray`` (no subcommand)."""
    from tray_agent.common.logsetup import setup_logging
    from tray_agent.common.memory import limit_arenas
    from tray_agent.common.paths import Paths

    limit_arenas()
    # GTK would load Mesa's software OpenGL (libLLVM, ~55 MB) for an icon that never draws with GL
    os.environ.setdefault("GDK_GL", "disable")
    if not logging.getLogger().handlers:
        setup_logging(Paths.for_profile(profile).logs, "tray", console=True)  # redacted, rotating
    return run(profile, network, backend, secrets_file)


def cli(argv: list[str] | None = None) -> int:
    """``python -m tray_agent.tray [--profile P] [--network N] [--backend B]``."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m tray_agent.tray", description="LightChain worker tray icon")
    ap.add_argument("--profile")
    ap.add_argument("--network")
    ap.add_argument("--backend", help="pystray backend: appindicator, gtk, xorg, win32, darwin")
    ap.add_argument("--secrets-file", type=Path)
    a = ap.parse_args(argv)
    return main(a.network, a.secrets_file, a.profile, a.backend)
