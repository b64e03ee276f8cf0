import logging
import stat

import pytest

from tray_agent.common.errors import ValidationError
from tray_agent.common.logsetup import setup_logging
from tray_agent.common.paths import Paths
from tray_agent.common.redact import redact, register_secret


def test_profiles_isolate_everything(lcai_home):
    a, b = Paths.for_profile("alpha"), Paths.for_profile("beta")
    for attr in ("data", "config", "logs", "runtime"):
        assert getattr(a, attr) != getattr(b, attr)
        assert str(getattr(a, attr)).startswith(str(lcai_home))
    assert a.keyring_service("testnet") != b.keyring_service("testnet")
    assert a.container_name("testnet") != b.container_name("testnet")
    assert a.lock_file != b.lock_file
    assert a.key_dir("testnet") != a.key_dir("mainnet")


def test_default_profile_keeps_toolkit_container_name(lcai_home):
    assert Paths.for_profile("default").container_name("testnet") == "lightchain-worker"
    assert Paths.for_profile("default").container_name("devnet") == "lightchain-worker"


def test_profile_from_env(monkeypatch, lcai_home):
    monkeypatch.setenv("LCAI_TRAY_PROFILE", "envprof")
    assert Paths.for_profile().profile == "envprof"


@pytest.mark.parametrize("bad", ["../x", "UPPER", "a b", "x" * 40, "-lead"])
def test_bad_profile_names(bad, lcai_home):
    with pytest.raises(ValidationError, match="profile"):
        Paths.for_profile(bad)


def test_dirs_are_private(paths):
    for p in (paths.data, paths.config, paths.logs, paths.runtime):
        assert stat.S_IMODE(p.stat().st_mode) == 0o700


PK = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"


def test_redaction_in_real_log_files(paths):
    log_file = setup_logging(paths.logs, "redact-test", console=False)
    log = logging.getLogger("tray_agent.test")
    register_secret("Sup3rSecretPassw0rd")
    log.info("private key 0x%s loaded", PK)
    log.warning("password=%s token: abc.def-ghi", "hunter2hunter2")
    log.info('keystore {"crypto": {"ciphertext": "deadbeef00", "mac": "cafe"}}')
    log.info("user typed Sup3rSecretPassw0rd in a field")
    log.info("Authorization: Bearer eyJhbGciOi.payload.sig")
    try:
        raise RuntimeError(f"failed with key {PK}")
    except RuntimeError:
        log.exception("operation failed")
    log.info("worker address 0x90F8bf6A479f320ead074411a4B0e7944Ea8c9C1 is fine")
    for h in logging.getLogger().handlers:
        h.flush()
    text = log_file.read_text()
    for secret in (PK, "hunter2hunter2", "deadbeef00", "Sup3rSecretPassw0rd", "eyJhbGciOi", "abc.def-ghi"):
        assert secret not in text, secret
    assert "0x90F8bf6A479f320ead074411a4B0e7944Ea8c9C1" in text  # addresses stay readable
    assert "operation failed" in text and "RuntimeError" in text
    assert stat.S_IMODE(log_file.stat().st_mode) == 0o600


def test_redact_plain_text():
    assert "REDACTED" in redact('WORKER_KEYSTORE_PASSWORD=abcdef123456')
    assert redact("nothing secret here") == "nothing secret here"
