"""Secret scan after a full devnet run (onboarding + settle + withdraw, through API and CLI), and file modes.

No private key, keystore password, API token or keystore JSON may appear in: log files and every other file of the
profile outside the key folders, the argv of the agent and of all its child processes, the worker containers'
Cmd/Entrypoint/Args/Labels, API responses (including operation errors = exception text).
The password in the container's environment is the documented exception (README "Secrets") and is not scanned.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.badinput.conftest import DEAD, _needs
from tests.harness import PASSWORD, AgentProc, make_releasable

pytestmark = [pytest.mark.docker]

API_GETS = ["/api/status", "/api/onboarding", "/api/hardware", "/api/models", "/api/history?limit=1000",
            "/api/history.csv", "/api/earnings", "/api/jobs", "/api/stuck", "/api/keys", "/api/settings",
            f"/api/withdraw/preview?to={DEAD}&amount=1"]


@pytest.fixture(scope="module")
def full_run(tmp_path_factory) -> Iterator[tuple[AgentProc, object, dict]]:
    client = _needs()
    from tray_agent.core.runtime import images

    images.build_sim_image(client, images.SIM_IMAGE)
    home = Path(tmp_path_factory.mktemp("sec"))
    use_keyring = bool(os.environ.get("DBUS_SESSION_BUS_ADDRESS"))
    a = AgentProc(home, profile="secscan", secrets_file=None if use_keyring else home / "secrets" / "secrets.json")
    try:
        a.start()
        a.onboard()
        a.wait_state("online", 30)
        make_releasable(a, 5)
        r = a.cli("settle", "--yes", timeout=120)
        assert r.returncode == 0, r.stderr[-2000:]
        r = a.cli("withdraw", "--to", DEAD, "--amount", "1", "--yes", timeout=120)
        assert r.returncode == 0, r.stderr[-2000:]
        rec = a.op("settle", {"confirm": True}, timeout=120)
        assert rec["state"] == "done", rec
        a.wait_state("online", 60)
        # a failing operation too, so exception text is part of the scan
        responses = {p: a.get(p).body for p in API_GETS}
        responses["POST /api/ops/recover"] = a.post("/api/ops/recover", {"id": "nope"}).body
        responses["POST /api/onboarding/password"] = a.post("/api/onboarding/password", {"password": "x"}).body
        failed = a.op("free_memory", {}, timeout=60)  # the worker runs and needs its models: a typed failure
        assert failed["state"] == "failed", failed
        responses["op free_memory"] = failed
        for item in responses["/api/history?limit=1000"]["items"]:
            responses[f"/api/ops/{item['id']}"] = a.get(f"/api/ops/{item['id']}").body
        yield a, client, responses
    finally:
        a.cleanup(client)
        client.close()


def _secrets(a: AgentProc) -> dict[str, str]:
    from tray_agent.core.keys import keystore as ks

    ksdata = json.loads((a.key_dir / "keystore.json").read_text())
    crypto = ksdata.get("crypto") or ksdata["Crypto"]
    raw = ks.decrypt_keystore(ksdata, PASSWORD)
    ecdh = json.loads((a.key_dir / "encryption.key").read_text())
    token = json.loads(a.api_file.read_text())["token"]
    return {
        "password": PASSWORD,
        "private_key": raw.hex(),
        "private_key_upper": raw.hex().upper(),
        "api_token": token,
        "keystore_ciphertext": crypto["ciphertext"],
        "keystore_mac": crypto["mac"],
        "keystore_json": json.dumps(ksdata)[:60],
        "ecdh_encrypted_key": ecdh["encryptedKey"],
        "ecdh_scalar": ks.decrypt_ecdh_file(ecdh, PASSWORD).hex(),
    }


def _hits(text: str, secrets: dict[str, str]) -> list[str]:
    return [name for name, s in secrets.items() if s and s in text]


def test_no_secret_in_files_logs_and_state(full_run):
    a, _, _ = full_run
    secrets = _secrets(a)
    allowed = {a.key_dir, a.api_file}
    found = {}
    scanned = 0
    for p in sorted(Path(a.home).rglob("*")):
        if not p.is_file() or p.is_symlink() or any(p == x or x in p.parents for x in allowed):
            continue
        if a.secrets_file is not None and p == a.secrets_file:
            continue
        if "archive" in p.parts:
            continue
        text = p.read_bytes().decode("latin-1")
        scanned += 1
        hits = _hits(text, secrets)
        if hits:
            found[str(p.relative_to(a.home))] = hits
    assert scanned > 5
    assert any(p.suffix == ".log" for p in Path(a.home).rglob("*.log")), "no log files were scanned"
    assert not found, f"secrets found in files: {found}"


def test_no_secret_in_argv_of_agent_children_and_containers(full_run):
    import psutil

    a, client, _ = full_run
    secrets = _secrets(a)
    procs = [psutil.Process(a.pid)]
    procs += procs[0].children(recursive=True)
    anvil = a.anvil_pid()
    if anvil:
        procs.append(psutil.Process(anvil))
    found = {}
    for p in procs:
        try:
            cmd = " ".join(p.cmdline())
        except psutil.NoSuchProcess:
            continue
        if _hits(cmd, secrets):
            found[f"{p.pid} {p.name()}"] = _hits(cmd, secrets)
    containers = client.containers.list(all=True, filters={"label": f"lcai.profile={a.profile}"})
    assert containers, "no worker container to inspect"
    for c in containers:
        cfg = c.attrs.get("Config", {})
        text = json.dumps([c.attrs.get("Path"), c.attrs.get("Args"), cfg.get("Cmd"), cfg.get("Entrypoint"),
                           cfg.get("Labels"), c.attrs.get("Name"), c.attrs.get("HostConfig", {}).get("Binds")])
        if _hits(text, secrets):
            found[f"container {c.name}"] = _hits(text, secrets)
    assert not found, f"secrets found in argv / container config: {found}"


def test_no_secret_in_api_responses_or_error_text(full_run):
    a, _, responses = full_run
    secrets = _secrets(a)
    found = {path: _hits(json.dumps(body, default=str), secrets) for path, body in responses.items()}
    found = {k: v for k, v in found.items() if v}
    assert not found, f"secrets in API responses: {found}"
    errors = [b.get("error") for b in responses.values() if isinstance(b, dict) and b.get("error")]
    assert len(errors) >= 3, "expected failed requests and a failed operation to check their error text"


def test_file_modes_of_keys_token_and_config(full_run):
    a, _, _ = full_run

    def mode(p: Path) -> int:
        return stat.S_IMODE(p.stat().st_mode)

    want = {
        a.key_dir: 0o700, a.key_dir / "keystore.json": 0o600, a.key_dir / "encryption.key": 0o600,
        a.key_dir / "key-meta.json": 0o600, a.api_file: 0o600, a.api_file.parent: 0o700,
        a.config: 0o700, a.config / "settings.json": 0o600, a.data: 0o700, a.data / "onboarding.json": 0o600,
        a.data / "history.sqlite": 0o600,
    }
    if a.secrets_file is not None:
        want[a.secrets_file] = 0o600
        want[a.secrets_file.parent] = 0o700
    wrong = {str(p.relative_to(a.home)): oct(mode(p)) for p, m in want.items() if p.exists() and mode(p) != m}
    missing = [str(p) for p in want if not p.exists()]
    assert not missing, f"expected files missing: {missing}"
    assert not wrong, f"wrong modes (want {[(str(p.relative_to(a.home)), oct(m)) for p, m in want.items()]}): {wrong}"
    # nothing in the profile is readable or writable by group/others
    loose = [str(p.relative_to(a.home)) for p in a.base.rglob("*")
             if not p.is_symlink() and mode(p) & 0o077 and ("keys" in p.parts or p.parent == a.config)]
    assert not loose, f"group/other access on key or config files: {loose}"
