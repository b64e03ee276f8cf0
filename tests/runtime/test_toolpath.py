"""Lesson 6/7/10: tools found outside a GUI app's PATH, start attempts and `ollama serve` kept in log files,
free disk checked before Docker starts and before pulls."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from tests.plugins.docker import free_port
from tray_agent.core.runtime import docker_engine as de
from tray_agent.core.runtime.toolpath import extended_path, extra_dirs, find_tool, tool_env

FINDER_PATH = "/usr/bin:/bin:/usr/sbin:/sbin"  # what launchd gives a Finder-launched app


def _exe(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_macos_path_gets_homebrew_docker_desktop_colima_and_ollama():
    home = Path("/Users/ann")
    dirs = extended_path(FINDER_PATH, platform="darwin", home=home, env={}).split(":")
    assert dirs[:4] == FINDER_PATH.split(":")  # the inherited PATH stays first
    for d in ("/opt/homebrew/bin", "/usr/local/bin", "/Applications/Docker.app/Contents/Resources/bin",
              "/Users/ann/.docker/bin", "/Users/ann/.colima/bin", "/Applications/Ollama.app/Contents/Resources"):
        assert d in dirs, d
    assert len(dirs) == len(set(dirs))  # no duplicates (/usr/bin was already there)
    assert dirs.index("/opt/homebrew/bin") < dirs.index("/usr/local/bin")  # Apple silicon Homebrew first


def test_user_path_wins_and_is_not_duplicated():
    cur = "/opt/homebrew/bin:/my/tools"
    dirs = extended_path(cur, platform="darwin", home=Path("/Users/ann"), env={}).split(":")
    assert dirs[:2] == ["/opt/homebrew/bin", "/my/tools"] and dirs.count("/opt/homebrew/bin") == 1


def test_windows_and_linux_lists():
    win = extra_dirs("win32", Path("C:/Users/ann"), {"ProgramFiles": r"C:\Program Files", "LOCALAPPDATA": r"C:\L"})
    assert r"C:\Program Files\Docker\Docker\resources\bin" in win and r"C:\L\Programs\Ollama" in win
    assert ";" in extended_path(r"C:\Windows", platform="win32", home=Path("C:/Users/ann"), env={})
    assert "/snap/bin" in extra_dirs("linux", Path("/home/ann"), {})


def test_find_tool_sees_a_colima_a_bare_path_misses(tmp_path):
    import shutil

    colima = _exe(tmp_path / ".colima" / "bin" / "colima", "#!/bin/sh\nexit 0\n")
    assert shutil.which("colima", path="/nonexistent") is None
    assert find_tool("colima", env={"PATH": "/nonexistent"}, platform="darwin", home=tmp_path) == str(colima)


def test_start_commands_and_runner_use_the_extended_path(tmp_path, monkeypatch):
    """colima only in ~/.local/bin, PATH without it: it is offered, run, and its output kept in the log."""
    _exe(tmp_path / ".local" / "bin" / "colima", "#!/bin/sh\necho \"colima says: starting $1\"\necho oops >&2\nexit 3\n")
    (tmp_path / ".colima").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("PATH", "/nonexistent")
    cmds = de.start_commands("linux", tmp_path)
    assert cmds[0] == ["colima", "start"]
    log = tmp_path / "logs" / "docker-start.log"
    rc = de.logged_runner(log)(["colima", "start"])
    assert rc == 3
    text = log.read_text()
    assert "$ colima start" in text and "colima says: starting start" in text and "oops" in text
    assert "exit code 3" in text
    assert de.logged_runner(log)(["no-such-tool-xyz"]) == 127
    assert "failed to run" in log.read_text()


def test_tool_env_extends_path(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    assert tool_env()["PATH"].startswith("/nonexistent:") and "/usr/local/bin" in tool_env()["PATH"]


def test_ollama_serve_found_off_path_and_its_output_logged(tmp_path, monkeypatch):
    from tray_agent.core.runtime.ollama import OllamaManager

    root = str(Path(__file__).resolve().parents[2])
    _exe(tmp_path / ".local" / "bin" / "ollama",
         f"#!{sys.executable}\n"
         "import os, sys, time\n"
         f"sys.path.insert(0, {root!r})\n"
         "print('fake ollama serve: listening', flush=True)\n"
         "import tests.fakes.fake_ollama as fo\n"
         "host, port = os.environ['OLLAMA_HOST'].rsplit(':', 1)\n"
         "class Server(fo.ThreadingHTTPServer):\n"
         "    def __init__(self, addr, handler):\n"
         "        super().__init__((host, int(port)), handler)\n"
         "fo.ThreadingHTTPServer = Server\n"
         "fo.FakeOllama().start()\n"
         "time.sleep(3600)\n")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("PATH", "/nonexistent")
    log = tmp_path / "logs" / "ollama-serve.log"
    m = OllamaManager(f"http://127.0.0.1:{free_port()}", serve_log=log)
    try:
        assert m.ensure_running(wait=30) is True and m.mode == "host"
        assert "fake ollama serve: listening" in log.read_text()
        assert "starting ollama serve" in log.read_text()
    finally:
        m.stop_started()


def test_disk_guard(tmp_path):
    from tray_agent.common.errors import DiskError
    from tray_agent.core.diskspace import free_bytes, require_free

    free = free_bytes(tmp_path / "not" / "yet")  # nearest existing parent
    assert free == free_bytes(tmp_path) > 0
    assert require_free(tmp_path, 0, "starting Docker") == free or free < 3 * 1024**3
    with pytest.raises(DiskError) as e:
        require_free(tmp_path, free + 10**15, "pulling llama3-8b")
    assert e.value.code == "disk_low" and "pulling llama3-8b" in e.value.message and e.value.fix
    assert os.path.exists(tmp_path)


def test_docker_start_checks_free_disk_before_any_attempt(tmp_path):
    from tray_agent.common.errors import DiskError

    log = tmp_path / "docker-start.log"
    with pytest.raises(DiskError) as e:
        de.start_engine_logged(log, tmp_path, need_bytes=10**16, platform="linux",
                               env={"DOCKER_HOST": f"unix://{tmp_path}/none.sock"}, installed=True)
    assert e.value.code == "disk_low" and "starting Docker" in e.value.message
    assert not log.exists()  # nothing was attempted
