"""§6: speed-test verdicts use the chain's completion timeout (anvil + AIConfig replica), not a 120 s default."""

from __future__ import annotations

import inspect

import pytest

from tests.fakes import LatencyProfile
from tray_agent.core.deadline import completion_timeout_s
from tray_agent.core.speedtest import run_speed_test

MEDIUM = LatencyProfile(prefill_tps=1000, decode_tps=14, load_s=5)  # worst job ≈ 80 s


def _fake(factory):
    import ollama

    fake = factory(installed=["llama3:8b"], profiles={"llama3-8b": MEDIUM})
    ollama.Client(host=fake.url).copy("llama3:8b", "llama3-8b")
    fake.set_profile("llama3-8b", MEDIUM)
    return fake


def test_no_default_deadline():
    assert inspect.signature(run_speed_test).parameters["deadline_s"].default is inspect.Parameter.empty
    with pytest.raises(TypeError):
        run_speed_test("http://127.0.0.1:1", ["x"], active_jobs=lambda: 0)  # type: ignore[call-arg]


def test_verdict_follows_the_chains_completion_timeout(chain, fake_ollama_factory):
    fake = _fake(fake_ollama_factory)
    assert completion_timeout_s(chain.client) == 120.0
    r = run_speed_test(fake.url, ["llama3-8b"], active_jobs=lambda: 0, unload_settle_s=0,
                       deadline_s=completion_timeout_s(chain.client))
    assert r.verdict == "tight" and r.deadline_s == 120 and r.budget_s == 95

    chain.as_owner(chain.ai, "setCompletionTimeout", 300)  # the network gives workers more time
    deadline = completion_timeout_s(chain.client)
    assert deadline == 300.0
    r = run_speed_test(fake.url, ["llama3-8b"], active_jobs=lambda: 0, unload_settle_s=0, deadline_s=deadline)
    assert r.verdict == "comfortable" and r.deadline_s == 300 and r.budget_s == 275


def test_unreadable_deadline_is_an_error_not_a_guess(chain):
    from tray_agent.common.errors import AgentError
    from tray_agent.core.chain import ChainClient
    from tray_agent.core.devnet import free_port

    with pytest.raises(AgentError) as e:
        completion_timeout_s(ChainClient(chain.network.replace(rpc_url=f"http://127.0.0.1:{free_port()}")))
    assert e.value.code == "deadline_unknown" and e.value.fix
