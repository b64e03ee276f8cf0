"""Tray icons: the app's logo with a state badge, one distinct image per state, crisp at 16-64 px, light and dark
panels, alert dot; app icons."""

from __future__ import annotations

import pytest
from PIL import Image

from tray_agent.common.status import Alert, WorkerState
from tray_agent.tray.icons import (
    FAMILIES,
    LOOKS,
    app_icon,
    app_icon_svg,
    icon_key,
    look_of,
    render_icon,
    write_app_icons,
)

SIZES = (16, 22, 32, 64)


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("state", list(WorkerState))
@pytest.mark.parametrize("dark", [True, False])
def test_renders_every_state_at_every_size(state, size, dark):
    img = render_icon(icon_key(state), size, dark)
    assert img.size == (size, size) and img.mode == "RGBA"
    alpha = img.getchannel("A")
    assert alpha.getbbox() is not None
    opaque = sum(alpha.histogram()[201:])
    assert opaque > size * size * 0.3  # a solid shape, not a faint glyph
    # the rim contrasts with the panel: dark panels get a light rim, light panels a dark one
    edge = [img.getpixel((x, size // 2)) for x in range(size // 2) if img.getpixel((x, size // 2))[3] > 200][:2]
    lums = [0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2] for p in edge]
    assert (max(lums) > 150) if dark else (min(lums) < 100)


def test_states_differ_in_shape_and_glyph_not_only_colour():
    combos = {(look.shape, look.glyph) for look in LOOKS.values()}
    assert len(combos) == len(WorkerState) == len(LOOKS)
    # greyscale versions are pairwise different at 22 px (colour-blind / monochrome panels)
    grey = {s: render_icon(s.value, 22).convert("LA").tobytes() for s in WorkerState}
    assert len(set(grey.values())) == len(WorkerState)


def test_every_state_is_the_app_logo_with_a_state_badge():
    """Issue 13: the tray icon is the app's logo with a badge for online, working, setup needed, paused, warning
    and error — no unbranded shape (the old setup-needed icon was a purple diamond with a "+")."""
    assert {look.family for look in LOOKS.values()} == set(FAMILIES) == {"online", "working", "setup", "paused",
                                                                           "warning", "error"}
    assert all(look.glyph != "plus" for look in LOOKS.values())
    logo = app_icon(64).convert("RGB")
    for state in WorkerState:
        img = render_icon(icon_key(state), 64, dark_panel=True).convert("RGB")
        # the upper-left part (outside the badge and the alert dot) is the logo: its teal and its white bolt
        px = [img.getpixel((x, y)) for x in range(8, 30) for y in range(8, 30)]
        teal = sum(1 for r, g, b in px if b > r + 40 and g > r + 30)
        white = sum(1 for r, g, b in px if min(r, g, b) > 220)
        assert teal > len(px) * 0.4 and white > 10, state
        close = sum(1 for (a, b) in zip(px, [logo.getpixel((x, y)) for x in range(8, 30) for y in range(8, 30)], strict=True)
                    if sum(abs(i - j) for i, j in zip(a, b, strict=True)) < 90)
        assert close > len(px) * 0.8, state
        # the badge, lower right, has the family colour
        fill = LOOKS[state].fill
        want = tuple(int(fill[i:i + 2], 16) for i in (1, 3, 5))
        corner = [img.getpixel((x, y)) for x in range(40, 64) for y in range(40, 64)]
        assert any(sum(abs(i - j) for i, j in zip(p, want, strict=True)) < 40 for p in corner), state


def test_working_badge_for_an_online_worker_that_runs_jobs():
    key = icon_key(WorkerState.ONLINE, (), working=True)
    assert key == "online:working" and look_of(key).family == "working"
    assert icon_key(WorkerState.PAUSED, (), working=True) == "paused"  # only an online worker works
    assert icon_key(WorkerState.ONLINE, (Alert.LOW_GAS,), working=True) == "online:working+badge"
    assert render_icon(key, 32).tobytes() != render_icon("online", 32).tobytes()


def test_alert_badge_changes_the_top_right_corner():
    plain = render_icon(icon_key(WorkerState.ONLINE), 32)
    badge = render_icon(icon_key(WorkerState.ONLINE, (Alert.STUCK_JOBS,)), 32)
    assert icon_key(WorkerState.ONLINE, (Alert.STUCK_JOBS,)).endswith("+badge")
    corner = (24, 0, 32, 8)
    assert plain.crop(corner).tobytes() != badge.crop(corner).tobytes()
    r, g, b, a = badge.getpixel((26, 5))
    assert a > 200 and r > 200 and g > 170 and b < 120  # yellow dot


def test_app_icons_written(tmp_path):
    files = write_app_icons(tmp_path)
    names = {f.name for f in files}
    assert {"app.png", "app.ico", "app.svg", "app-16.png", "app-256.png", "online.png"} <= names
    with Image.open(tmp_path / "app.ico") as ico:
        assert (16, 16) in ico.info.get("sizes", {(16, 16)}) or ico.size
    assert app_icon(16).size == (16, 16)
    svg = app_icon_svg()
    assert svg.startswith("<svg") and 'viewBox="0 0 100 100"' in svg


def test_shipped_icons_are_current():
    from tray_agent.resources import resource_dir

    icons = resource_dir("icons")
    for name in ("app.png", "app.ico", "app.svg", "app-64.png", "tray/online.png"):
        assert (icons / name).is_file(), name
    assert (icons / "app.svg").read_text() == app_icon_svg()
    assert (resource_dir("web_ui") / "icon.svg").read_text() == app_icon_svg()


def test_risky_states_icon_sheet(output_dir):
    """Issue 13 §1: the tray icon of each risky state as the agent derives it (tests/risky_states.py), on a dark and a
    light panel at 22 and 64 px, saved as one sheet (test-output/screenshots/tray-icons-risky-states.png)."""
    from tests.risky_states import risky_states
    from tray_agent.tray.view import render

    online, rows = risky_states()
    keys = {"online": render(online).icon_key, **{k: render(st).icon_key for k, (st, _) in rows.items()}}
    assert len(set(keys.values())) >= 4 and all(k != "online" for n, k in keys.items() if n != "online"), keys
    sheet = Image.new("RGBA", (len(keys) * 80, 2 * 100), (0, 0, 0, 0))
    for row, (dark, bg) in enumerate(((True, "#1f2328"), (False, "#f6f8fa"))):
        sheet.paste(Image.new("RGBA", (sheet.width, 100), bg), (0, row * 100))
        for col, key in enumerate(keys.values()):
            big, small = render_icon(key, 64, dark_panel=dark), render_icon(key, 22, dark_panel=dark)
            sheet.alpha_composite(big, (col * 80 + 8, row * 100 + 4))
            sheet.alpha_composite(small, (col * 80 + 29, row * 100 + 72))
    out = output_dir / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    sheet.save(out / "tray-icons-risky-states.png")
