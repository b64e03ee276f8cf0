"""Issue 13 §7: plural forms instead of "job(s)" and one unit family (GiB/MiB) for memory and disk, in the CLI, the
agent's messages and the pages alike (the pages' own checks: tests/ui/test_ui_states.py::test_plural_forms_and_gib_units)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tray_agent.cli_format import fmt_models, fmt_result, fmt_stuck
from tray_agent.cli_preflight import format_report
from tray_agent.common.words import plural, plural_forms
from tray_agent.core.chain.abi import DecodedError
from tray_agent.core.chain.revert import explain

ROOT = Path(__file__).resolve().parents[2]
MARKED_PLURAL = re.compile(r"[A-Za-z]\(s\)")
JS_STRING = re.compile(r'"[^"\n]*"|\'[^\'\n]*\'|`[^`\n]*`')
DECIMAL_UNIT = re.compile(r"(?<![A-Za-z-])[KMGT]B\b")  # "GB", "MB": decimal units beside GiB elsewhere


def test_plural():
    assert [plural(n, "job") for n in (0, 1, 2, 1500)] == ["0 jobs", "1 job", "2 jobs", "1,500 jobs"]
    assert plural(1, "stuck job") == "1 stuck job" and plural(3, "day") == "3 days"


def test_decoded_reverts_read_as_plural_forms():
    one = explain(DecodedError("ActiveJobsExist", "0x", {"activeJobCount": 1}))[0]
    many = explain(DecodedError("ActiveJobsExist", "0x", {"activeJobCount": 3}))[0]
    assert one == "1 job is still active or unreleased" and many == "3 jobs are still active or unreleased"
    assert plural_forms("2 model(s) need 9 GiB; 1 model(s) need 5 GiB") == "2 models need 9 GiB; 1 model needs 5 GiB"


def test_cli_texts_use_plural_forms_and_gib():
    settle = fmt_result("settle", {"released_count": 1, "released_wei": "0", "withdrawn_wei": "0",
                                   "already_released_count": 2, "waiting": [{"job_id": 9}], "next_eta": None})
    assert settle.splitlines() == [
        "released 1 job (0 LCAI), withdrew 0 LCAI to the worker wallet", "2 jobs were already released (e.g. by the worker)",
        "1 job still in the dispute window; next releasable at unknown"]
    assert fmt_stuck({"jobs": [{"job_id": 1, "state": "Submitted", "no_fault": "open"}]}).startswith("1 stuck job:")
    assert format_report({"network": "devnet", "checks": [], "counts": {"ok": 3, "warn": 1}}).endswith(
        "3 ok, 1 warning, 0 blocking")
    models = fmt_models({"catalog": [{"name": "llama3-8b", "fee_wei": str(10**17), "footprint_bytes": 6 * 2**30}]})
    assert "6.0GiB" in models.splitlines()[1] and not DECIMAL_UNIT.search(models), models


def _texts(path: Path) -> list[tuple[int, str]]:
    """String literals and f-string parts of a module, without its docstrings (what users and logs read)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = {id(n.body[0].value) for n in ast.walk(tree)
            if isinstance(n, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    return [(n.lineno, n.value) for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs]


def test_no_marked_plurals_or_decimal_units_in_product_texts():
    found = []
    for path in sorted((ROOT / "tray_agent").rglob("*.py")):
        rel = path.relative_to(ROOT)
        if rel.as_posix() == "tray_agent/core/chain/revert.py":
            continue  # its templates are filled, then go through plural_forms (tested above)
        for line, text in _texts(path):
            if MARKED_PLURAL.search(text.replace("http(s)", "")) or DECIMAL_UNIT.search(text):
                found.append(f"{rel}:{line}: {text!r}")
    for path in sorted((ROOT / "web_ui").glob("*.*")):
        if path.suffix not in (".js", ".html"):
            continue
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = re.sub(r"^\s*(/\*|\*|//).*$|\s//\s.*$", "", line)  # comments may name the old form
            for text in JS_STRING.findall(code):  # string and template literals
                if MARKED_PLURAL.search(text) or DECIMAL_UNIT.search(text.replace("en-GB", "")):
                    found.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
    assert not found, "\n".join(found)
