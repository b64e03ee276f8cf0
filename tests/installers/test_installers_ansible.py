"""installers/fleet/ansible for real: ansible-playbook over ssh against two throwaway Debian hosts running systemd.

The hosts are containers in the tests' private dockerd (tests/installers/systemd_hosts.py: a debootstrap rootfs,
cached). Host h1 gets the .deb, h2 the tarball, both built by the session's installer fixtures. Each host runs the
devnet: its agent starts its own anvil (the test puts the anvil binary on the hosts, as a devnet needs it). The
hosts have no Docker (no nested dockerd here), so a funded host continues past funding to the worker-image step and
stops there with the app's own error; the whole path to online is tested from source in
tests/agent/test_cli_setup.py (same ``setup --no-input``).

Sequence (one test, the hosts are expensive): ``--check`` on fresh hosts → real run (every host set up to funding,
funding.csv + EIP-681 links on the controller) → second run reports changed=0 → fund h1 on its devnet chain with
the amount the CSV asks for → the next run continues h1 past funding while h2 stays unchanged. Times go to
test-output/installers/report.json.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from plugins.installer_builds import ANVIL, report, tarball

from tests.conftest import ROOT, need

pytestmark = [pytest.mark.slow, pytest.mark.docker]

PLAYBOOK_DIR = ROOT / "installers" / "fleet" / "ansible"
VENV_BIN = Path(sys.executable).parent
sys.path.insert(0, str(Path(__file__).parent))
import systemd_hosts  # noqa: E402

sys.path.remove(str(Path(__file__).parent))

RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def _tool(name: str) -> str:
    exe = VENV_BIN / name
    return str(exe) if exe.exists() else (shutil.which(name) or name)


def _recap(out: str) -> dict[str, dict[str, int]]:
    return {m[1]: {"ok": int(m[2]), "changed": int(m[3]), "unreachable": int(m[4]), "failed": int(m[5])}
            for m in RECAP.finditer(out)}


def _sha256(p: Path) -> str:
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _free_port() -> int:
    from tray_agent.core.devnet import free_port

    return free_port()


@pytest.fixture(scope="module")
def fleet(deb, tmp_path_factory):
    """Two booted hosts, an ssh key, and an inventory naming the .deb for h1 and the tarball for h2."""
    missing = systemd_hosts.have_tools()
    need(missing is None, f"{missing} (for the throwaway systemd hosts)")
    need(bool(os.environ.get("DOCKER_HOST")), "the private dockerd")
    need(ANVIL.exists(), "anvil in .tools (bootstrap)")
    import docker

    client = docker.DockerClient(base_url=os.environ["DOCKER_HOST"], timeout=300)
    t0 = time.monotonic()
    tar, built_s = systemd_hosts.rootfs_tar()
    ref = systemd_hosts.import_image(client, tar)
    report(ansible_rootfs_build_s=built_s, ansible_rootfs_cached=built_s is None,
           ansible_rootfs_mb=round(tar.stat().st_size / 2**20), ansible_image_ready_s=round(time.monotonic() - t0, 1))
    work = tmp_path_factory.mktemp("ansible")
    key, pub = systemd_hosts.ssh_keypair(work)
    hosts: list[systemd_hosts.Host] = []
    try:
        t0 = time.monotonic()
        for name in ("lcai-ans-h1", "lcai-ans-h2"):
            hosts.append(systemd_hosts.start_host(client, ref, name, _free_port(), pub,
                                                  {"/usr/local/bin/anvil": ANVIL}))
        report(ansible_hosts_boot_s=round(time.monotonic() - t0, 1))
        tb = tarball()
        inv = {"all": {"children": {"lcai_workers": {
            "hosts": {
                "h1": {"ansible_port": hosts[0].port, "lcai_package": str(deb), "lcai_package_sha256": _sha256(deb)},
                "h2": {"ansible_port": hosts[1].port, "lcai_package": str(tb), "lcai_package_sha256": _sha256(tb)},
            },
            "vars": {"ansible_host": "127.0.0.1", "ansible_user": "root",
                     "ansible_ssh_private_key_file": str(key), "lcai_network": "devnet",
                     "lcai_install_docker": False, "lcai_profiles": [{"name": "default", "models": ["llama3-8b"]}],
                     "lcai_service_env": {"LCAI_SIM_OLLAMA_TIME_SCALE": "0.02"}},
        }}}}
        (work / "inventory.yml").write_text(json.dumps(inv, indent=1))  # JSON is YAML
        yield {"work": work, "hosts": dict(zip(("h1", "h2"), hosts, strict=True)), "inventory": work / "inventory.yml"}
    finally:
        for h in hosts:  # the journal of each host's agent, for the test-output folder
            code, out = h.sh("journalctl --no-pager -n 300 2>&1; cat /home/lcai/.local/state/lcai-worker-tray/log/*/"
                             "agent.log 2>/dev/null | tail -200")
            (ROOT / "test-output" / "installers").mkdir(parents=True, exist_ok=True)
            (ROOT / "test-output" / "installers" / f"ansible-{h.name}.log").write_text(out)
        systemd_hosts.remove_hosts(client, hosts)
        client.close()


def _playbook(fleet, *extra: str, timeout: float = 900) -> tuple[subprocess.CompletedProcess, dict, float]:
    env = {**os.environ, "ANSIBLE_CONFIG": str(PLAYBOOK_DIR / "ansible.cfg"), "ANSIBLE_HOST_KEY_CHECKING": "False",
           "ANSIBLE_SSH_ARGS": "-o ControlMaster=no -o UserKnownHostsFile=/dev/null",  # no ssh master outlives a run
           "ANSIBLE_LOCAL_TEMP": str(fleet["work"] / "tmp"), "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0",
           "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}"}
    t0 = time.monotonic()
    r = subprocess.run([_tool("ansible-playbook"), "-i", str(fleet["inventory"]), str(PLAYBOOK_DIR / "site.yml"),
                        "-e", f"lcai_funding_dir={fleet['work'] / 'funding'}", *extra],
                       capture_output=True, text=True, timeout=timeout, env=env, cwd=str(PLAYBOOK_DIR))
    took = round(time.monotonic() - t0, 1)
    name = "check" if "--check" in extra else f"run-{int(time.time())}"
    (fleet["work"] / f"ansible-{name}.log").write_text(r.stdout + r.stderr)
    return r, _recap(r.stdout), took


def _rows(fleet) -> dict[str, dict]:
    with open(fleet["work"] / "funding" / "funding.csv", newline="") as f:
        return {row["host"]: row for row in csv.DictReader(f)}


def _rpc(url: str, method: str, params: list) -> object:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())["result"]


@pytest.mark.timeout(1800)  # the session builds the bundle and .deb first (minutes on 2 busy cores)
def test_playbook_check_then_setup_to_funding_then_idempotent_then_continues_a_funded_host(fleet):
    hosts = fleet["hosts"]
    times: dict[str, float] = {}
    # 1. --check on fresh hosts: nothing is installed, nothing fails
    r, recap, times["check"] = _playbook(fleet, "--check")
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert recap["h1"]["failed"] == recap["h2"]["failed"] == 0 and recap["h1"]["changed"] > 0
    code, _ = hosts["h1"].sh("test -e /usr/bin/lcai-tray || id lcai")
    assert code != 0, "--check changed the host"

    # 2. the real run: package, user, lingering, user service, setup up to funding, the funding list
    r, recap, times["first"] = _playbook(fleet)
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-2000:]
    assert recap["h1"]["failed"] == recap["h2"]["failed"] == 0
    rows = _rows(fleet)
    assert set(rows) == {"h1", "h2"}
    for row in rows.values():
        assert re.fullmatch(r"0x[0-9a-fA-F]{40}", row["address"]), row
        assert row["step"] == "funding" and row["funded"] == "false" and row["network"] == "devnet", row
        assert row["chain_id"] == "31337" and int(row["missing_wei"]) > 0 and row["missing_lcai"] == "5,050"
        assert row["eip681"] == f"ethereum:{row['address']}@31337?value={row['missing_wei']}", row
    assert rows["h1"]["address"] != rows["h2"]["address"]
    links = (fleet["work"] / "funding" / "funding-links.txt").read_text()
    assert f"h1 default: {rows['h1']['eip681']}" in links and f"h2 default: {rows['h2']['eip681']}" in links
    for name, h in hosts.items():
        code, out = h.sh("systemctl --user is-active lcai-tray-default.service; systemctl --user is-enabled "
                         "lcai-tray-default.service; systemctl --user show -p ExecStart lcai-tray-default.service",
                         user="lcai")
        assert out.split()[:2] == ["active", "enabled"], (name, out)
        assert "--network devnet" in out and "--secrets-file /home/lcai/.config/lcai-worker-tray/secrets" in out, out
        code, out = h.sh("ls /var/lib/systemd/linger; stat -c '%a %U' /home/lcai/.config/lcai-worker-tray/secrets; "
                         "getent passwd lcai | cut -d: -f7")
        assert out.split() == ["lcai", "600", "lcai", "/usr/sbin/nologin"], (name, out)
    assert hosts["h1"].sh("dpkg-query -W -f='${Status}' lcai-worker-tray")[1] == "install ok installed"
    assert hosts["h2"].sh("readlink -f /usr/local/bin/lcai-tray")[1].strip().startswith(
        "/opt/lcai-worker-tray-releases/")

    # 3. a second run changes nothing
    r, recap, times["second"] = _playbook(fleet)
    assert r.returncode == 0, r.stdout[-4000:]
    assert all(v["changed"] == 0 and v["failed"] == 0 for v in recap.values()), recap
    assert set(recap) == {"h1", "h2", "localhost"}

    # 4. fund h1 on its devnet chain with what the funding list asks, then run again: h1 continues
    code, book = hosts["h1"].sh("cat /home/lcai/.local/share/lcai-worker-tray/default/networks/devnet/chain/"
                                "devnet.json")
    assert code == 0, book
    rpc = json.loads(book)["rpc"]
    _rpc(rpc, "anvil_setBalance", [rows["h1"]["address"], hex(int(rows["h1"]["missing_wei"]))])
    r, recap, times["funded"] = _playbook(fleet, "-e", "lcai_funding_wait=12")  # the agent reads balances every 5 s
    out = r.stdout
    assert recap["h2"] == {**recap["h2"], "changed": 0, "failed": 0}, recap
    # h1 went past funding and stopped at the next step, the worker image: these hosts have no Docker
    assert recap["h1"]["failed"] == 1 and recap["h1"]["changed"] == 1, out[-4000:]
    assert "fatal: [h1]: FAILED! => {\"changed\": false, \"msg\": \"profile default: Docker is not reachable, " \
           "so nothing was staked — fix: start Docker" in out, out[-4000:]
    rows = _rows(fleet)
    assert rows["h1"]["funded"] == "true" and rows["h1"]["step"] == "models_ready", rows["h1"]
    assert rows["h1"]["missing_wei"] == "0" and rows["h1"]["eip681"] == ""
    assert rows["h2"]["funded"] == "false" and rows["h2"]["step"] == "funding"
    assert "h1 default" not in (fleet["work"] / "funding" / "funding-links.txt").read_text()
    report(ansible_playbook_s=times)


def test_ansible_lint_and_syntax_are_clean():
    need(Path(_tool("ansible-lint")).exists() or shutil.which("ansible-lint") is not None, "ansible-lint")
    env = {**os.environ, "ANSIBLE_CONFIG": str(PLAYBOOK_DIR / "ansible.cfg"), "NO_COLOR": "1",
           "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}"}
    r = subprocess.run([_tool("ansible-lint"), "--offline", "--profile", "production"], capture_output=True,
                       text=True, timeout=300, env=env, cwd=str(PLAYBOOK_DIR))
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    inv = PLAYBOOK_DIR / "inventory.example.yml"
    r = subprocess.run([_tool("ansible-playbook"), "-i", str(inv), "--syntax-check", "site.yml"], capture_output=True,
                       text=True, timeout=120, env=env, cwd=str(PLAYBOOK_DIR))
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([_tool("ansible-inventory"), "-i", str(inv), "--list"], capture_output=True, text=True,
                       timeout=120, env=env, cwd=str(PLAYBOOK_DIR))
    hosts = json.loads(r.stdout)["lcai_workers"]["hosts"]
    assert len(hosts) == 2
