"""Headless mode: the agent process runs supervisor + API without importing pystray, PIL or webview,
and a second launch for the same profile reports the running instance instead of starting twice."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from agent.agent_harness import AgentProc


def test_headless_agent_imports_no_gui(tmp_path):
    code = textwrap.dedent(
        """
        import sys, threading
        from tray_agent.serve import run_agent
        from tray_agent.api.client import ApiClient, read_api_info
        from tray_agent.common.paths import Paths
        ready = threading.Event()
        t = threading.Thread(target=run_agent, kwargs=dict(network="devnet", ready=ready,
                             secrets_file=__import__("pathlib").Path(sys.argv[1])), daemon=True)
        t.start()
        assert ready.wait(60), "agent did not start"
        client = ApiClient(read_api_info(Paths.for_profile().api_file))
        assert client.get("/api/status")["network"] == "devnet"
        bad = sorted({m.split(".")[0] for m in sys.modules} & {"pystray", "PIL", "webview", "gi", "PyQt6"})
        print("GUI:" + ",".join(bad))
        client.post("/api/shutdown", {"keep_worker": True})
        t.join(30)
        """
    )
    a = AgentProc(tmp_path / "home", "headless")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "s.json")], env=a.env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "GUI:\n" in r.stdout or r.stdout.strip().endswith("GUI:"), r.stdout


def test_second_launch_reports_running_instance(tmp_path):
    a = AgentProc(tmp_path / "home", "single", extra_env={})
    a.start()
    try:
        r = subprocess.run([sys.executable, "-m", "tray_agent", "--network", "devnet", "serve", "--headless"],
                           env=a.env, capture_output=True, text=True, timeout=60)
        assert r.returncode == 3
        assert "already running" in r.stderr and str(a.proc.pid) in r.stderr
        st = a.cli("status", "--json")
        assert st.returncode == 0 and '"network": "devnet"' in st.stdout
    finally:
        a.stop()
