"""Render a command's text output as a terminal screenshot (PNG) with Debian's Chromium through Playwright.

Test-side only (the app draws no images of its own output); used for the README's picture of `lcai-tray fleet status`.
"""

from __future__ import annotations

import html
import os
import re
import shutil
from pathlib import Path

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PAGE = """<!doctype html><meta charset="utf-8"><style>
body {{ margin: 0; background: #1e1e1e; }}
pre {{ margin: 0; padding: 14px 18px; display: inline-block; color: #d4d4d4; background: #1e1e1e;
       font: 14px/1.45 "DejaVu Sans Mono", monospace; }}
.prompt {{ color: #6a9955; }} .alert {{ color: #f48771; }} .online {{ color: #4ec9b0; }}
</style><pre id="term"><span class="prompt">$</span> {command}
{body}</pre>"""


def _colour(line: str) -> str:
    """Alert names and bad states in red, 'online' in green."""
    text = html.escape(line)
    text = re.sub(r"\b(Lcai\w+|error|unreachable|docker_down|stale)\b", r'<span class="alert">\1</span>', text)
    return re.sub(r"\b(online)\b", r'<span class="online">\1</span>', text)


def render(command: str, output: str, png: Path) -> Path:
    """Write ``png``: the prompt line with ``command``, then ``output``, on a dark terminal background."""
    if not os.path.exists(CHROMIUM):
        raise FileNotFoundError(f"Chromium not found at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    body = "\n".join(_colour(ln) for ln in output.rstrip("\n").splitlines())
    png.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 400}, device_scale_factor=2)
            page.set_content(PAGE.format(command=html.escape(command), body=body))
            page.locator("#term").screenshot(path=str(png))
        finally:
            browser.close()
    return png
