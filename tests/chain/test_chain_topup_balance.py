"""Top-up checks the wallet before it pauses the worker: too little LCAI is a clear error and no pause."""

from __future__ import annotations

import pytest

from tray_agent.core.chain.errors import InsufficientFunds
from tray_agent.core.chain.ops import top_up
from tray_agent.core.chain.writer import WriterGate

ETHER = 10**18


def test_top_up_beyond_the_balance_never_pauses_the_worker(chain):
    w = chain.new_worker(lcai=5100)
    chain.register(w)  # stakes 5,000 of 5,100
    pauses = []
    gate = WriterGate(active_jobs=lambda: 0, pause_worker=lambda: pauses.append("pause"),
                      resume_worker=lambda: pauses.append("resume"))
    with pytest.raises(InsufficientFunds) as e:
        top_up(chain.ctx(w, gate=gate), "500")
    assert pauses == [] and "not enough to add 500 LCAI" in e.value.message and w.address in e.value.fix
    res = top_up(chain.ctx(w, gate=gate), "50")
    assert res.stake_wei == 5050 * ETHER and pauses == ["pause", "resume"]
