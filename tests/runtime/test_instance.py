"""Single instance per profile: the lock holds pid + API port; a second launch learns the running one."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tray_agent.core.instance import InstanceLock, RunningInstance, running_instance

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_second_launch_sees_the_first(paths):
    lock = InstanceLock(paths).acquire()
    lock.update(port=8765)
    try:
        info = running_instance(paths)
        assert info["pid"] == os.getpid() and info["port"] == 8765
        with pytest.raises(RunningInstance) as ei:
            InstanceLock(paths).acquire()
        assert ei.value.pid == os.getpid() and ei.value.port == 8765 and "8765" in ei.value.message
        # another process gets the same answer
        code = ("import json; from tray_agent.common.paths import Paths; from tray_agent.core.instance import *\n"
                "p = Paths.for_profile('test')\n"
                "try:\n InstanceLock(p).acquire(); print('acquired')\n"
                "except RunningInstance as e: print(json.dumps(e.info))\n")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60,
                             env=dict(os.environ))
        assert json.loads(out.stdout)["pid"] == os.getpid(), out.stderr
    finally:
        lock.release()
    assert running_instance(paths) is None
    with InstanceLock(paths) as again:
        assert again.info["pid"] == os.getpid()


def test_stale_file_without_holder_is_not_running(paths):
    paths.lock_file.write_text(json.dumps({"pid": 999999, "port": 1}))
    assert running_instance(paths) is None
    InstanceLock(paths).acquire().release()
