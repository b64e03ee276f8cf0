"""A small real fleet: devnet agents with metrics listeners, and a real Prometheus (Debian package) scraping them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from agent.agent_harness import AgentProc

from tray_agent.core.devnet import free_port

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "installers/fleet/prometheus/rules.yml"
JOB = "lcai-workers"


def serve_has_metrics_flag() -> bool:
    """True once the lead has wired ``--metrics-listen`` into ``lcai-tray serve``."""
    r = subprocess.run([sys.executable, "-m", "tray_agent", "serve", "--help"], capture_output=True, text=True,
                       timeout=60)
    return "--metrics-listen" in r.stdout


class FleetAgent(AgentProc):
    """An AgentProc with a metrics listener. ``mode``: ``flag`` (``serve --metrics-listen``, once wired),
    ``env`` (``LCAI_METRICS_LISTEN``, read by run_agent: the systemd drop-in way) or ``sidecar`` (a separate
    exporter process reading the agent's local API)."""

    def __init__(self, home: Path, profile: str, mode: str):
        super().__init__(home, profile)
        self.mode = mode
        self.metrics_port = free_port()
        self.sidecar: subprocess.Popen | None = None
        self.extra_env.pop("LCAI_METRICS_LISTEN", None)
        if mode == "env":  # the systemd drop-in way: the agent reads it from its environment
            self.extra_env["LCAI_METRICS_LISTEN"] = self.target

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.metrics_port}"

    @property
    def container(self) -> str:
        return f"lightchain-worker-devnet-{self.profile}"

    def start(self, timeout: float = 60):
        """Like AgentProc.start, with ``--metrics-listen`` in ``flag`` mode."""
        self.home.mkdir(parents=True, exist_ok=True)
        out = open(self.log, "ab")
        args = ["--network", self.network, "serve", "--headless"]
        if self.mode == "flag":
            args += ["--metrics-listen", self.target]
        self.proc = subprocess.Popen([sys.executable, "-m", "tray_agent", *args], env=self.env, stdout=out, stderr=out,
                                     stdin=subprocess.DEVNULL)
        self.wait_ready(timeout)  # the one meaning of "ready" (tests/harness)
        return self.client

    def start_metrics(self) -> None:
        if self.mode != "sidecar":
            return
        out = open(self.home / f"{self.profile}-sidecar.out", "ab")
        self.sidecar = subprocess.Popen([sys.executable, "-m", "tray_agent.api.metrics_sidecar", "--profile",
                                         self.profile, "--listen", self.target], env=self.env, stdout=out, stderr=out,
                                        stdin=subprocess.DEVNULL)

    def stop(self) -> None:
        if self.sidecar is not None and self.sidecar.poll() is None:
            self.sidecar.terminate()
            try:
                self.sidecar.wait(10)
            except subprocess.TimeoutExpired:
                self.sidecar.kill()
        super().stop()


def fast_rules(src: Path, dst: Path, hold: str = "3s") -> Path:
    """The shipped rules with every ``for:`` shortened to ``hold`` (expressions unchanged) for a short test."""
    text = re.sub(r"^(\s+for:\s*)\S+$", rf"\g<1>{hold}", src.read_text(), flags=re.M)
    dst.write_text(text)
    return dst


class PrometheusProc:
    """``prometheus`` from the Debian package on a loopback port, scraping ``targets`` every second."""

    def __init__(self, work: Path, targets: list[str], rules: Path | None, interval: str = "1s",
                 scrape_configs: list[dict] | None = None):
        self.work, self.targets, self.rules, self.interval = work, targets, rules, interval
        self.scrape_configs = scrape_configs or [{"job_name": JOB, "static_configs": [{"targets": targets}]}]
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.log = work / "prometheus.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write_config(self) -> Path:
        cfg = {"global": {"scrape_interval": self.interval, "evaluation_interval": self.interval,
                          "scrape_timeout": self.interval},
               "rule_files": [str(self.rules)] if self.rules else [],
               "scrape_configs": self.scrape_configs}
        path = self.work / "prometheus.yml"
        path.write_text(json.dumps(cfg))  # JSON is YAML
        return path

    def start(self, timeout: float = 30) -> PrometheusProc:
        self.work.mkdir(parents=True, exist_ok=True)
        cfg = self.write_config()
        out = open(self.log, "ab")
        self.proc = subprocess.Popen(["prometheus", f"--config.file={cfg}", f"--web.listen-address=127.0.0.1:{self.port}",
                                      f"--storage.tsdb.path={self.work / 'tsdb'}", "--log.level=warn"],
                                     stdout=out, stderr=out, stdin=subprocess.DEVNULL)
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError(f"prometheus did not start: {self.log.read_text()[-2000:]}")

    def api(self, path: str, **params: str) -> Any:
        url = f"{self.url}/api/v1/{path}" + ("?" + urllib.parse.urlencode(params) if params else "")
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                body = json.loads(r.read())
        except urllib.error.HTTPError as e:
            body = json.loads(e.read())
        return body

    def query(self, expr: str) -> list[dict]:
        body = self.api("query", query=expr)
        assert body["status"] == "success", (expr, body)
        return body["data"]["result"]

    def firing(self) -> list[dict]:
        return [a for a in self.api("alerts")["data"]["alerts"] if a["state"] == "firing"]

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def env_with_home(home: Path, profile: str) -> dict[str, str]:
    return {**os.environ, "LCAI_TRAY_HOME": str(home), "LCAI_TRAY_PROFILE": profile}
