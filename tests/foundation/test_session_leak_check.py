"""The session-end leak check (tests/plugins/leaks.py) fails a run that leaves processes behind, and only then."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil

from tests.conftest import ROOT

LEAKY = '''
import os, subprocess

def test_leaves_an_orphan(tmp_path):
    # like an agent killed with SIGKILL: its child keeps running, re-parented away from pytest
    home = tmp_path / "lcai-home"
    home.mkdir()
    env = dict(os.environ, LCAI_TRAY_HOME=str(home))
    subprocess.run(["sh", "-c", "sleep 300 >/dev/null 2>&1 & echo $! > " + str(tmp_path / "orphan.pid")],
                   env=env, check=True)
    (tmp_path.parent / "orphan.pid").write_text((tmp_path / "orphan.pid").read_text())

def test_leaves_a_child(tmp_path):
    p = subprocess.Popen(["sleep", "301"], start_new_session=True)
    (tmp_path.parent / "child.pid").write_text(str(p.pid))
'''

CLEAN = '''
import subprocess

def test_waits_for_its_child():
    p = subprocess.Popen(["sleep", "0.2"])
    p.wait()
'''


def _run(tmp_path: Path, body: str) -> subprocess.CompletedProcess:
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(body))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "tests"), str(ROOT)]), LCAI_TEST_RUN_DIR="", LCAI_TEST_LEAK_GRACE_S="2")
    env.pop("LCAI_TEST_ALLOW_LEAKS", None)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "plugins.leaks", "-q",
                           "--basetemp", str(tmp_path / "bt"), "-o", "tmp_path_retention_policy=all",
                           str(tmp_path / "test_inner.py")], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)


def test_leftover_processes_fail_the_run_and_are_stopped(tmp_path):
    r = _run(tmp_path, LEAKY)
    out = r.stdout + r.stderr
    orphan = int((tmp_path / "bt" / "orphan.pid").read_text())
    child = int((tmp_path / "bt" / "child.pid").read_text())
    assert "2 passed" in out, out
    assert r.returncode == 1, out  # the tests passed, the run did not
    assert "leaked processes" in out and f"pid {orphan} " in out and f"pid {child} " in out, out
    assert "environment LCAI_TRAY_HOME=" in out  # the orphan was found by its run directory, not its parent
    for pid in (orphan, child):  # and both were stopped by PID
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE, pid


def test_a_clean_run_passes(tmp_path):
    r = _run(tmp_path, CLEAN)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "leaked processes" not in r.stdout
