"""The one API client (common/api_client.py): SSE parsing, the one liveness check, the one error shape."""

from __future__ import annotations

import ast
import json
import os
import socket
from pathlib import Path

from tray_agent.common import api_client
from tray_agent.common.api_client import AgentNotRunning, ApiClient, ApiError, find_agent, iter_sse
from tray_agent.common.errors import AgentError

ROOT = Path(__file__).resolve().parents[2]


def test_sse_parser_events_comments_multiline_and_bad_json():
    raw = [b": keep-alive\n", b"\n", b"event: status\n", b"id: 7\n", b'data: {"state": "online"}\n', b"\n",
           b'data: {"a":\n', b"data: 1}\r\n", b"\r\n", b"event: x\n", b"data: not json\n", b"\n",
           b"event: notify\n", b'data:{"title": "t"}\n', b"\n", b'data: {"unterminated": true}\n']
    assert list(iter_sse(raw)) == [("status", {"state": "online"}), ("message", {"a": 1}),
                                   ("notify", {"title": "t"})]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_alive_means_answering_not_a_live_pid(tmp_path):
    """A stale api.json naming a live pid (here: this test process) is not an agent; no signal is sent."""
    api = tmp_path / "api.json"
    assert find_agent(api) is None  # no file
    api.write_text(json.dumps({"port": free_port(), "token": "t", "pid": os.getpid()}))
    assert find_agent(api) is None
    from tray_agent.api.client import read_api_info  # the compatibility name answers the same way

    assert read_api_info(api) is None
    api.write_text("{not json")
    assert find_agent(api) is None


def test_no_process_signals_in_the_light_processes():
    """os.kill(pid, 0) terminates a process on Windows: the tray, windows, CLI and common never call os.kill."""
    calls = []
    files = [f for d in ("common", "tray", "windows") for f in (ROOT / "tray_agent" / d).rglob("*.py")]
    for f in [*files, ROOT / "tray_agent" / "cli.py", ROOT / "tray_agent" / "api" / "client.py"]:
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in ("kill", "killpg") and \
                    isinstance(node.value, ast.Name) and node.value.id == "os":
                calls.append(f"{f.relative_to(ROOT)}:{node.lineno}")
    assert calls == []


def test_errors_have_the_common_shape(paths):
    err = ApiError("busy", "another operation is running", "wait", 409, "kind")
    assert isinstance(err, AgentError) and err.to_dict() == {"code": "busy", "message": "another operation is running",
                                                             "fix": "wait", "field": "kind"}
    assert err.status == 409
    gone = AgentNotRunning()
    assert isinstance(gone, ApiError) and gone.code == "agent_not_running" and gone.fix


def test_client_round_trip_against_the_stdlib_fake(paths):
    import sys

    sys.path.insert(0, str(ROOT / "tests" / "ui"))
    from ui_fakes import FakeAgent

    agent = FakeAgent(paths.api_file).start()
    try:
        client = find_agent(paths.api_file)
        assert isinstance(client, ApiClient) and "fake-token" not in repr(client.info)
        assert client.status().state.value == "starting"
        assert api_client.connect(paths.api_file).info.port == agent.port
    finally:
        agent.stop()
    assert find_agent(paths.api_file) is None
