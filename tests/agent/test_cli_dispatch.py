"""CLI wiring (issue 14 §single sources, issue 13 §7): every subcommand names its handler, networks come from
networks.json, --yes has help, setup without a terminal fails with a clear message, exit codes follow the README."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys

import pytest

from tray_agent import cli
from tray_agent.common.api_client import AgentNotRunning, ApiError
from tray_agent.common.errors import AgentError, BusyError, ValidationError
from tray_agent.common.networks import NETWORKS_JSON, network_names


def subparsers(p: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    out: dict[str, argparse.ArgumentParser] = {}
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out[name] = sub
                out.update({f"{name} {k}": v for k, v in subparsers(sub).items()})
    return out


def test_every_subcommand_has_a_handler():
    subs = subparsers(cli._parser())
    leaves = {n: s for n, s in subs.items() if not any(k.startswith(n + " ") for k in subs)}
    assert {"serve", "status", "setup", "settle", "withdraw", "clear-stuck", "models list", "keys recover",
            "switch-network", "shutdown"} <= set(leaves)
    for name, sub in leaves.items():
        assert callable(sub.get_default("func")), name


def test_no_if_chain_dispatch_left():
    src = (cli.__file__ and open(cli.__file__, encoding="utf-8").read())
    assert "_dispatch" not in src and "if cmd ==" not in src


def test_network_choices_come_from_networks_json():
    shipped = [k for k in json.loads(NETWORKS_JSON.read_text()) if not k.startswith("_")]
    assert list(network_names()) == shipped
    p = cli._parser()
    net = next(a for a in p._actions if a.dest == "network")
    assert list(net.choices) == shipped
    sw = subparsers(p)["switch-network"]
    assert list(next(a for a in sw._actions if a.dest == "target").choices) == shipped


def test_yes_has_help_everywhere():
    for name, sub in subparsers(cli._parser()).items():
        for a in sub._actions:
            if "--yes" in a.option_strings:
                assert a.help and "confirm" in a.help, name


@pytest.mark.parametrize(("err", "code"), [
    (BusyError("x"), cli.EXIT_BUSY),
    (ApiError("busy", "another operation is running", status=409), cli.EXIT_BUSY),
    (AgentNotRunning(), cli.EXIT_NO_AGENT),
    (ValidationError("bad"), cli.EXIT_INPUT),
    (ApiError("invalid_input", "bad", status=400, field="amount"), cli.EXIT_INPUT),
    (ApiError("needs_confirmation", "x", status=422), cli.EXIT_INPUT),
    (AgentError("boom"), cli.EXIT_FAILED),
    (ApiError("internal_error", "x", status=500), cli.EXIT_FAILED),
])
def test_exit_codes_follow_the_readme(err, code):
    assert cli.exit_code_for(err) == code


def test_exit_codes_are_the_ones_the_readme_lists():
    """The README's numbers are the CLI's (a renumbered code breaks scripts that read the README)."""
    from pathlib import Path

    from tray_agent import cli_codes

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    listed = re.search(r"Exit codes: (.+?)\.\n", readme)
    assert listed, "README: the 'Exit codes: …' line"
    said = {int(n): w for n, w in re.findall(r"(\d+) ([a-z ]+?)(?:,|$)", listed.group(1))}
    assert said == {cli_codes.EXIT_OK: "ok", cli_codes.EXIT_FAILED: "failed", cli_codes.EXIT_INPUT: "bad input",
                    cli_codes.EXIT_NO_AGENT: "no agent", cli_codes.EXIT_BUSY: "busy",
                    cli_codes.EXIT_INTERRUPTED: "interrupted"}, said
    pre = re.search(r"Exit codes of `preflight`: 0 all good, (\d+) any BLOCK, (\d+) only WARN \((\d+) no agent\)", readme)
    assert pre and tuple(map(int, pre.groups())) == (cli_codes.EXIT_FAILED, cli_codes.EXIT_WARN, cli_codes.EXIT_NO_AGENT)


def run_cli(*args: str, home, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {"LCAI_TRAY_HOME": str(home), "PATH": "/usr/bin:/bin", "PYTHONUNBUFFERED": "1"}
    return subprocess.run([sys.executable, "-m", "tray_agent", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def test_setup_without_a_terminal_fails_clearly_and_starts_nothing(tmp_path):
    r = run_cli("setup", home=tmp_path)
    assert r.returncode == cli.EXIT_INPUT, (r.returncode, r.stdout, r.stderr)
    assert "error: setup needs a terminal" in r.stderr and "fix:" in r.stderr
    assert not (tmp_path / "default" / "run" / "api.json").exists()  # no agent was started for it


def test_status_and_shutdown_without_an_agent(tmp_path):
    r = run_cli("status", home=tmp_path)
    assert r.returncode == cli.EXIT_NO_AGENT and "not running" in r.stdout
    r = run_cli("shutdown", home=tmp_path)
    assert r.returncode == 0 and "no agent is running" in r.stdout


def test_bad_network_is_bad_input(tmp_path):
    r = run_cli("--network", "moonnet", "status", home=tmp_path)
    assert r.returncode == cli.EXIT_INPUT and "invalid choice" in r.stderr and "fix:" in r.stderr


def test_help_lists_yes_text(tmp_path):
    r = run_cli("settle", "--help", home=tmp_path)
    assert r.returncode == 0 and "confirm without asking" in r.stdout
