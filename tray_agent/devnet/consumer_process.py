"""The simulated devnet consumer as its own process (another actor on the chain, not agent work)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


class ConsumerProcess:
    def __init__(self, rpc_url: str, chain_id: int, rate_per_min: float, log_file: Path):
        with open(log_file, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tray_agent.devnet.consumer", "--rpc", rpc_url, "--chain-id", str(chain_id),
                 "--rate", str(rate_per_min)], stdin=subprocess.DEVNULL, stdout=out, stderr=out)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
