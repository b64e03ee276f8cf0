import json

import pytest

from tray_agent.common.errors import ConfigError, ValidationError
from tray_agent.core.networks import NETWORK_NAMES, funding_threshold_wei, get_network, load_networks


def test_shipped_constants_match_spec():
    nets = load_networks()
    assert set(nets) == set(NETWORK_NAMES)
    assert nets["testnet"].chain_id == 8200 and nets["mainnet"].chain_id == 9200 and nets["devnet"].chain_id == 31337
    assert nets["testnet"].worker_registry == "0x0000000000000000000000000000000000001002"
    assert nets["testnet"].sortition_enabled is True
    assert nets["testnet"].session_manager == "0x86AdA80864e87dE2275200FeE905b5C32b32Bf68"
    assert nets["mainnet"].min_stake_fallback_wei == 50_000 * 10**18
    assert nets["testnet"].scrypt_n == 262144


def test_override_changes_any_field(tmp_path):
    f = tmp_path / "networks.json"
    f.write_text(json.dumps({"testnet": {"rpc_url": "http://127.0.0.1:9", "gas_buffer_wei": "7", "sortition_enabled": False}}))
    t = get_network("testnet", f)
    assert (t.rpc_url, t.gas_buffer_wei, t.sortition_enabled) == ("http://127.0.0.1:9", 7, False)
    assert get_network("mainnet", f).rpc_url.startswith("https://rpc.mainnet")


@pytest.mark.parametrize(
    "override, words",
    [
        ({"testnet": {"chain_id": "8200"}}, ["networks.testnet.chain_id", "integer"]),
        ({"testnet": {"sortition_enabled": "yes"}}, ["sortition_enabled", "true or false"]),
        ({"testnet": {"gas_buffer_wei": "1.5"}}, ["gas_buffer_wei", "wei"]),
        ({"testnet": {"rpc_urll": "x"}}, ["rpc_urll", "not a known field"]),
        ({"testnet": {"rpc_url": 5}}, ["rpc_url", "string"]),
        ({"moonnet": {}}, ["moonnet", "unknown network"]),
        ({"testnet": []}, ["networks.testnet", "object"]),
    ],
)
def test_invalid_override_names_file_field_and_type(tmp_path, override, words):
    f = tmp_path / "networks.json"
    f.write_text(json.dumps(override))
    with pytest.raises(ConfigError) as e:
        load_networks(f)
    text = str(e.value)
    assert str(f) in text or "networks.json" in text
    for w in words:
        assert w in text


def test_broken_json_override(tmp_path):
    f = tmp_path / "networks.json"
    f.write_text("{ nope")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_networks(f)


def test_unknown_network_name():
    with pytest.raises(ValidationError, match="testnet, mainnet, devnet"):
        get_network("goerli")


def test_funding_threshold_is_exact_wei():
    t = get_network("testnet")
    assert funding_threshold_wei(5000 * 10**18, t) == 5050 * 10**18
    assert funding_threshold_wei(10**40 + 1, t) == 10**40 + 1 + 50 * 10**18
