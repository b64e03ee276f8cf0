"""Docker engine discovery and classification: DOCKER_HOST, contexts, not installed / not running /
permission denied / wrong context, and starting the engine with a timeout."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile

import pytest

from tests.conftest import need
from tests.plugins.docker import PrivateDockerd
from tray_agent.core.runtime import docker_engine as de


def write_context(home, name: str, host: str) -> None:
    meta = home / ".docker" / "contexts" / "meta" / hashlib.sha256(name.encode()).hexdigest()
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(json.dumps({"Name": name, "Endpoints": {"docker": {"Host": host}}}))


def test_docker_host_is_the_only_candidate(tmp_path):
    eps = de.candidate_endpoints({"DOCKER_HOST": "unix:///x/d.sock"}, tmp_path)
    assert eps == [de.Endpoint("unix:///x/d.sock", "DOCKER_HOST")]


def test_current_context_from_config_and_env(tmp_path):
    (tmp_path / ".docker").mkdir()
    (tmp_path / ".docker" / "config.json").write_text(json.dumps({"currentContext": "colima"}))
    write_context(tmp_path, "colima", "unix:///home/u/.colima/default/docker.sock")
    assert de.current_context({}, tmp_path) == "colima"
    assert de.current_context({"DOCKER_CONTEXT": "desktop-linux"}, tmp_path) == "desktop-linux"
    eps = de.candidate_endpoints({}, tmp_path)
    assert eps[0] == de.Endpoint("unix:///home/u/.colima/default/docker.sock", "context:colima")
    assert any(e.source == "desktop" for e in eps) and any(e.source == "rootless" for e in eps)


def test_unknown_context_is_wrong_context(tmp_path):
    with pytest.raises(de.DockerWrongContext) as ei:
        de.candidate_endpoints({"DOCKER_CONTEXT": "nope"}, tmp_path)
    assert "docker context use" in ei.value.fix and ei.value.retry is False


def test_context_pointing_at_dead_engine_is_wrong_context(tmp_path):
    write_context(tmp_path, "remote", f"unix://{tmp_path}/gone.sock")
    with pytest.raises(de.DockerWrongContext) as ei:
        de.connect({"DOCKER_CONTEXT": "remote"}, tmp_path, timeout=2, installed=True)
    assert "remote" in ei.value.message


def test_not_installed(tmp_path):
    with pytest.raises(de.DockerNotInstalled) as ei:
        de.connect({}, tmp_path, timeout=2, installed=False)
    assert ei.value.fix and ei.value.retry is False and ei.value.code == "docker_not_installed"


def test_not_running(tmp_path):
    with pytest.raises(de.DockerNotRunning) as ei:
        de.connect({"DOCKER_HOST": f"unix://{tmp_path}/none.sock"}, tmp_path, timeout=2, installed=True)
    assert ei.value.retry is True and "not running" in ei.value.message


def test_permission_denied_socket():
    """A real socket the caller may not open: uid 0 without CAP_DAC_OVERRIDE on a socket owned by nobody."""
    need(os.geteuid() == 0 and shutil.which("setpriv") is not None, "root + setpriv")
    d = tempfile.mkdtemp(prefix="lcai-perm-", dir="/tmp")
    path = os.path.join(d, "docker.sock")
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(path)
    srv.listen(1)
    os.chown(path, 65534, 65534)
    os.chmod(path, 0o600)
    code = ("import json,sys; from tray_agent.core.runtime import docker_engine as de\n"
            "try:\n de.connect({'DOCKER_HOST': sys.argv[1]}, timeout=3)\n"
            "except de.DockerUnavailable as e: print(json.dumps([e.code, e.fix]))\n")
    try:
        out = subprocess.run(
            ["setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search", sys.executable,
             "-c", code, f"unix://{path}"], capture_output=True, text=True, timeout=60,
            cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
        assert out.returncode == 0, out.stderr
        err_code, fix = json.loads(out.stdout.strip().splitlines()[-1])
        assert err_code == "docker_permission_denied"
        assert "docker" in fix
    finally:
        srv.close()
        shutil.rmtree(d, ignore_errors=True)


@pytest.mark.docker
def test_connect_real_engine(docker_client):
    client, ep = de.connect(timeout=10)
    try:
        assert ep.source == "DOCKER_HOST" and client.ping()
    finally:
        client.close()


@pytest.mark.docker
def test_start_engine_runs_start_command_and_waits():
    need(os.geteuid() == 0 and shutil.which("dockerd") is not None, "root + dockerd")
    root = tempfile.mkdtemp(prefix="lcai-se-", dir="/tmp")
    engine = PrivateDockerd(root)
    calls: list[list[str]] = []

    def runner(cmd):
        calls.append(list(cmd))
        if len(calls) == 1:
            engine.start()  # the first start command "works"
            return 0
        return 1

    try:
        client, ep = de.start_engine(timeout=60, runner=runner, platform="linux", env={"DOCKER_HOST": engine.url})
        assert client.ping() and ep.url == engine.url and len(calls) == 1
        client.close()
    finally:
        engine.cleanup()


def test_start_engine_gives_up_after_timeout(tmp_path):
    with pytest.raises(de.DockerNotRunning):
        de.start_engine(timeout=1.0, runner=lambda cmd: 1, platform="linux",
                        env={"DOCKER_HOST": f"unix://{tmp_path}/none.sock"}, installed=True)


def test_start_commands_per_os(tmp_path):
    assert ["open", "-a", "Docker"] in de.start_commands("darwin", tmp_path)
    win = de.start_commands("win32", tmp_path)
    assert any("Docker Desktop.exe" in " ".join(c) for c in win)
