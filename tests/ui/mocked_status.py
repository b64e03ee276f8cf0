"""Dashboard pages from a real devnet agent with /api/status, /api/events and operations intercepted (Playwright's
page.route), so each state a Status can describe is shown without moving money; screenshots in every look
(1280×800 and 800×600, light and dark) under test-output/screenshots/."""

from __future__ import annotations

import json
import re
import time

from tray_agent.common.status import Status, WorkerState

LCAI = 10**18
SIZES = {"1280x800": (1280, 800), "800x600": (800, 600)}
ADDR = "0x" + "ab" * 20


def base_status(**kw) -> dict:
    """A registered, online devnet worker; `kw` changes fields (Status field names)."""
    fields = dict(state=WorkerState.ONLINE, network="devnet", address=ADDR, registered=True, served_models=("llama3-8b",),
                  stake_wei=5000 * LCAI, min_stake_wei=5000 * LCAI, wallet_wei=150 * LCAI + 52 * LCAI // 100,
                  escrowed_wei=3 * LCAI, releasable_wei=96 * LCAI // 1000, container_running=True, gateway_connected=True,
                  keep_awake=True, uptime_s=3600, last_job_at=time.time() - 30)
    fields.update(kw)
    return Status(**fields).to_dict()


class Mocked:
    """A logged-in page whose /api/status, /api/events (and optionally other routes) are intercepted."""

    def __init__(self, browser, agent, shots, status: dict, scheme="light", size=(1280, 800)):
        self.client, self.shots, self.size, self.scheme = agent.client, shots, size, scheme
        self.status = status
        self.posts: list[tuple[str, dict]] = []
        self.op_result: dict = {}
        self.op_progress: list = []
        self.op_state = "done"
        # bypass_csp: Playwright's string predicates (wait_for_function) are evaluated with eval, which our CSP
        # refuses; the CSP itself is checked in tests/api/test_preflight_api.py with every page loaded under it
        self.ctx = browser.new_context(viewport={"width": size[0], "height": size[1]}, color_scheme=scheme,
                                       bypass_csp=True)
        self.page = self.ctx.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.route("**/api/status", lambda r: r.fulfill(status=200, content_type="application/json",
                                                             body=json.dumps(self.status)))
        # live events: an EventSource stand-in that stays open and delivers the mocked status once
        self.ctx.add_init_script("""
          window.EventSource = class { constructor() { this.l = {}; window.__es = this; setTimeout(async () => {
              this.onopen && this.onopen();
              const s = await (await fetch('/api/status', {credentials: 'same-origin'})).text();
              (this.l.status || []).forEach((f) => f({ data: s })); }, 50); }
            addEventListener(k, f) { (this.l[k] = this.l[k] || []).push(f); } close() {} };
        """)
        self.page.route(re.compile(r".*/api/ops/[a-z_-]+$"), self._op)
        self.page.goto(self.client.login_url("/ui/dashboard.html"))
        self.page.wait_for_url(re.compile(r"/ui/dashboard\.html"))

    def _op(self, route):
        req = route.request
        kind = req.url.rsplit("/", 1)[-1]
        if req.method == "POST":
            self.posts.append((kind, json.loads(req.post_data or "{}")))
            return route.fulfill(status=202, content_type="application/json", body=json.dumps({"op_id": f"op-{kind}"}))
        op_kind = kind.removeprefix("op-")
        return route.fulfill(status=200, content_type="application/json", body=json.dumps(
            {"op_id": kind, "kind": op_kind, "state": self.op_state, "progress": self.op_progress, "result": self.op_result}))

    def push_status(self) -> None:
        """Deliver the current (mocked) status as a live event, as the agent does after an operation."""
        self.page.evaluate("""async () => { const s = await (await fetch('/api/status')).text();
                                            (window.__es.l.status || []).forEach((f) => f({ data: s })); }""")

    def json_route(self, pattern: str, data: dict) -> None:
        self.page.route(pattern, lambda r: r.fulfill(status=200, content_type="application/json", body=json.dumps(data)))

    def open(self, name: str, wait: str = "header.top nav"):
        self.page.goto(f"{self.client.base_url}/ui/{name}.html")
        self.page.wait_for_selector(wait)
        return self.page

    def shot(self, name: str) -> None:
        w, h = self.size
        self.page.screenshot(path=str(self.shots / f"{name}-{w}x{h}-{self.scheme}.png"), full_page=False)

    def close(self) -> None:
        assert not self.errors, f"JavaScript errors: {self.errors}"
        self.ctx.close()


def every_look(browser, real_agent, shots, status: dict, page_name: str, shot_name: str, wait: str, prepare=None):
    """Open `page_name` with `status` at both sizes in light and dark and save a screenshot of each."""
    for size_name, size in SIZES.items():
        for scheme in ("light", "dark"):
            m = Mocked(browser, real_agent, shots, status, scheme=scheme, size=size)
            if prepare:
                prepare(m)
            page = m.open(page_name, wait)
            # one in-page call: the dashboard may re-render the banner between a locate and a scroll
            page.eval_on_selector(wait, "e => e.scrollIntoView({block: 'nearest'})")
            page.wait_for_timeout(300)
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), (shot_name, size_name)
            m.shot(shot_name)
            m.close()
