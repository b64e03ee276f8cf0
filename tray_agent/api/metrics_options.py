"""The ``serve`` options of the metrics listener (argparse only: the CLI parser imports this on every start)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--metrics-listen`` and ``--metrics-token-file`` (argparse hook of ``lcai-tray serve``)."""
    parser.add_argument("--metrics-listen", metavar="HOST:PORT",
                        help="export Prometheus metrics on this address (off by default; e.g. 127.0.0.1:9464)")
    parser.add_argument("--metrics-token-file", type=Path, metavar="PATH",
                        help="bearer token Prometheus must send (required for a non-loopback --metrics-listen)")
