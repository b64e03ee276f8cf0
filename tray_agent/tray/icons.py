"""Tray and app icons drawn with Pillow: the app's logo with a state badge, optional alert dot.

The tray icon is always the application logo (teal rounded square, white bolt) so users find *this* app in a
crowded panel; a badge in the lower-right corner tells the state. Six badge families — online, working, setup
needed, paused, warning, error — each with its own colour *and* shape, and a glyph per state inside, so the icon
reads without colour (colour-blind users, monochrome panels). A yellow dot in the upper-right corner means an
alert. Logo and badge get a contrasting rim so they stay visible on light and dark panels. Drawn 4x and
downsampled, so 16-64 px are crisp. ``python -m tray_agent.tray.icons [DIR]`` writes the app icons (PNG, ICO, SVG).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw

from tray_agent.common.status import Alert, WorkerState

SIZES = (16, 22, 24, 32, 48, 64)
_SS = 4  # supersampling factor


@dataclass(frozen=True)
class Look:
    """How a state's badge is drawn: family, shape, fill colour and white glyph."""

    family: str  # online | working | setup | paused | warning | error
    shape: str  # circle | triangle | octagon | square | diamond
    fill: str
    glyph: str  # check | ring | bang | pause | stop | cross | dash | dots


# Okabe-Ito inspired hues (distinguishable with the common colour-vision deficiencies) + distinct shapes per family.
FAMILIES = {
    "online": ("circle", "#1a7f37"),
    "working": ("square", "#0969da"),
    "setup": ("diamond", "#8250df"),
    "paused": ("circle", "#6e7781"),
    "warning": ("triangle", "#b35900"),
    "error": ("octagon", "#cf222e"),
}


def _look(family: str, glyph: str) -> Look:
    shape, fill = FAMILIES[family]
    return Look(family, shape, fill, glyph)


LOOKS: dict[WorkerState, Look] = {
    WorkerState.ONLINE: _look("online", "check"),
    WorkerState.STARTING: _look("working", "ring"),
    WorkerState.STOPPING: _look("working", "stop"),
    WorkerState.SETUP_NEEDED: _look("setup", "dots"),
    WorkerState.PAUSED: _look("paused", "pause"),
    WorkerState.STALE: _look("warning", "bang"),
    WorkerState.DOCKER_DOWN: _look("warning", "dash"),
    WorkerState.ERROR: _look("error", "bang"),
    WorkerState.DOCKER_MISSING: _look("error", "cross"),
}
WORKING = _look("working", "ring")  # an online worker that is running jobs or an operation (key "online:working")

# Alerts that earn the dot (informational ones would make it permanent on servers).
BADGE_ALERTS = frozenset(set(Alert) - {Alert.KEEP_AWAKE_UNAVAILABLE, Alert.IMAGE_UPDATE})
BADGE_FILL = "#ffd33d"  # yellow dot with a dark ring: readable on every state colour


def icon_key(state: WorkerState, alerts: tuple[Alert, ...] | frozenset[Alert] = (), *, working: bool = False) -> str:
    """Stable cache key of the tray image for a state and its alerts (``working``: an online worker busy with jobs)."""
    base = state.value + (":working" if working and state is WorkerState.ONLINE else "")
    return base + ("+badge" if BADGE_ALERTS.intersection(alerts) else "")


def parse_key(key: str) -> tuple[WorkerState, bool]:
    state, _, badge = key.partition("+")
    return WorkerState(state.partition(":")[0]), bool(badge)


def look_of(key: str) -> Look:
    """The badge drawn for an :func:`icon_key`."""
    base = key.partition("+")[0]
    if base.endswith(":working"):
        return WORKING
    return LOOKS[WorkerState(base)]


def _shape_points(shape: str, box: tuple[float, float, float, float]) -> list[tuple[float, float]]:
    x0, y0, x1, y1 = box
    cx, cy, r = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2
    if shape == "triangle":
        return [(cx, y0), (x1, y1 - r * 0.12), (x0, y1 - r * 0.12)]
    if shape == "diamond":
        return [(cx, y0), (x1, cy), (cx, y1), (x0, cy)]
    if shape == "octagon":
        return [(cx + r * math.cos(math.radians(22.5 + 45 * i)), cy + r * math.sin(math.radians(22.5 + 45 * i)))
                for i in range(8)]
    raise ValueError(shape)


def _draw_shape(d: ImageDraw.ImageDraw, shape: str, box, fill: str) -> None:
    if shape == "circle":
        d.ellipse(box, fill=fill)
    elif shape == "square":
        d.rounded_rectangle(box, radius=(box[2] - box[0]) * 0.2, fill=fill)
    else:
        d.polygon(_shape_points(shape, box), fill=fill)


def _grow(box, by: float):
    return (box[0] - by, box[1] - by, box[2] + by, box[3] + by)


def _draw_glyph(d: ImageDraw.ImageDraw, glyph: str, box, shape: str, ink: str) -> None:
    x0, y0, x1, y1 = box
    s = x1 - x0
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    if shape == "triangle":  # the visual centre of a triangle sits low
        cy += s * 0.12
        s *= 0.8
    w = max(2.0, s * 0.15)  # stroke width
    h = s * 0.27  # half extent of the glyph
    if glyph == "check":
        d.line([(cx - h, cy), (cx - h * 0.3, cy + h * 0.7), (cx + h, cy - h * 0.7)], fill=ink, width=int(w),
               joint="curve")
    elif glyph == "ring":
        rb = (cx - h, cy - h, cx + h, cy + h)
        d.arc(rb, start=300, end=240, fill=ink, width=int(w))
        d.ellipse((cx - w * 0.6, cy - w * 0.6, cx + w * 0.6, cy + w * 0.6), fill=ink)
    elif glyph == "bang":
        d.rounded_rectangle((cx - w / 2, cy - h * 1.1, cx + w / 2, cy + h * 0.35), radius=w / 3, fill=ink)
        d.ellipse((cx - w * 0.6, cy + h * 0.65, cx + w * 0.6, cy + h * 0.65 + w * 1.2), fill=ink)
    elif glyph == "pause":
        d.rectangle((cx - h * 0.8, cy - h, cx - h * 0.8 + w, cy + h), fill=ink)
        d.rectangle((cx + h * 0.8 - w, cy - h, cx + h * 0.8, cy + h), fill=ink)
    elif glyph == "stop":
        d.rectangle((cx - h * 0.8, cy - h * 0.8, cx + h * 0.8, cy + h * 0.8), fill=ink)
    elif glyph == "cross":
        d.line([(cx - h, cy - h), (cx + h, cy + h)], fill=ink, width=int(w))
        d.line([(cx - h, cy + h), (cx + h, cy - h)], fill=ink, width=int(w))
    elif glyph == "dash":
        d.rectangle((cx - h, cy - w / 2, cx + h, cy + w / 2), fill=ink)
    elif glyph == "dots":  # "…": steps still to do
        r = w * 0.62
        for dx in (-h * 0.85, 0.0, h * 0.85):
            d.ellipse((cx + dx - r, cy - r, cx + dx + r, cy + r), fill=ink)
    else:
        raise ValueError(glyph)


def _draw_logo(d: ImageDraw.ImageDraw, box, rim: str, rim_w: float) -> None:
    """The app logo (rounded square, hexagon ring, bolt) inside ``box``, with a rim for the panel."""
    x0, y0, x1, y1 = box
    size = x1 - x0
    d.rounded_rectangle(box, radius=size * 0.22, fill=rim)
    inner = _grow(box, -rim_w)
    d.rounded_rectangle(inner, radius=size * 0.2, fill=APP_BG)
    c_x, c_y, r = (x0 + x1) / 2, (y0 + y1) / 2, size * 0.40
    hexagon = [(c_x + r * math.cos(math.radians(90 + 60 * i)), c_y + r * math.sin(math.radians(90 + 60 * i))) for i in range(6)]
    d.polygon(hexagon, outline="#7fd4e0", width=max(1, int(size * 0.035)))
    d.polygon([(x0 + x * size, y0 + y * size) for x, y in APP_BOLT], fill="#ffffff")


@lru_cache(maxsize=256)
def render_icon(key: str, size: int = 64, dark_panel: bool = True) -> Image.Image:
    """RGBA tray image for an :func:`icon_key` at ``size`` px, for a dark or light panel: logo + state badge."""
    _, badge = parse_key(key)
    look = look_of(key)
    big = size * _SS
    img = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    rim = "#ffffff" if dark_panel else "#1f2328"
    rim_w = max(1.0 * _SS, big * 0.045)  # >= 1 px at the final size
    _draw_logo(d, (0, 0, big, big), rim, rim_w)
    # state badge, lower right: 62 % of the icon so it reads at 16 px
    bs = big * 0.62
    bbox = (big - bs, big - bs, big, big)
    _draw_shape(d, look.shape, bbox, rim)
    _draw_shape(d, look.shape, _grow(bbox, -rim_w * 1.2), look.fill)
    _draw_glyph(d, look.glyph, _grow(bbox, -rim_w * 0.5), look.shape, "#ffffff")
    if badge:  # alert dot, upper right
        r = big * 0.2
        bx, by = big - r, r
        d.ellipse((bx - r, by - r, bx + r, by + r), fill="#1f2328")
        r2 = r - max(_SS, big * 0.05)
        d.ellipse((bx - r2, by - r2, bx + r2, by + r2), fill=BADGE_FILL)
    return img.resize((size, size), Image.Resampling.LANCZOS)


def tray_image(state: WorkerState, alerts=(), size: int = 64, dark_panel: bool = True) -> Image.Image:
    return render_icon(icon_key(state, tuple(alerts)), size, dark_panel)


# --- application icon -------------------------------------------------------------------------------

APP_BG = "#0b5f73"
APP_BOLT = [(0.56, 0.14), (0.28, 0.55), (0.47, 0.55), (0.40, 0.86), (0.72, 0.42), (0.53, 0.42), (0.62, 0.14)]


def app_icon(size: int = 256) -> Image.Image:
    """The application icon: a teal rounded square with a white bolt inside a hexagon ring."""
    big = size * _SS
    img = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    d.rounded_rectangle((0, 0, big - 1, big - 1), radius=big * 0.22, fill=APP_BG)
    c, r = big / 2, big * 0.40
    hexagon = [(c + r * math.cos(math.radians(90 + 60 * i)), c + r * math.sin(math.radians(90 + 60 * i)))
               for i in range(6)]
    d.polygon(hexagon, outline="#7fd4e0", width=int(big * 0.035))
    d.polygon([(x * big, y * big) for x, y in APP_BOLT], fill="#ffffff")
    return img.resize((size, size), Image.Resampling.LANCZOS)


def app_icon_svg() -> str:
    """The same application icon as SVG (viewBox 0 0 100 100)."""
    hexagon = " ".join(
        f"{50 + 40 * math.cos(math.radians(90 + 60 * i)):.2f},{50 + 40 * math.sin(math.radians(90 + 60 * i)):.2f}"
        for i in range(6)
    )
    bolt = " ".join(f"{x * 100:.1f},{y * 100:.1f}" for x, y in APP_BOLT)
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100" role="img" aria-label="LightChain worker">'
        f'<rect width="100" height="100" rx="22" fill="{APP_BG}"/>'
        f'<polygon points="{hexagon}" fill="none" stroke="#7fd4e0" stroke-width="3.5"/>'
        f'<polygon points="{bolt}" fill="#fff"/></svg>\n'
    )


def write_app_icons(dest: Path) -> list[Path]:
    """Write app.png (256), app-<n>.png, app.ico, app.svg and one PNG per tray state into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    out: list[Path] = []
    for n in (16, 32, 48, 64, 128, 256, 512):
        p = dest / f"app-{n}.png"
        app_icon(n).save(p)
        out.append(p)
    big = app_icon(256)
    big.save(dest / "app.png")
    big.save(dest / "app.ico", sizes=[(16, 16), (24, 24), (32, 32), (48, 48), (64, 64), (128, 128), (256, 256)])
    (dest / "app.svg").write_text(app_icon_svg(), encoding="utf-8")
    out += [dest / "app.png", dest / "app.ico", dest / "app.svg"]
    tray = dest / "tray"
    tray.mkdir(exist_ok=True)
    for key in [*(state.value for state in WorkerState), icon_key(WorkerState.ONLINE, working=True)]:
        p = tray / f"{key.replace(':', '-')}.png"
        render_icon(key, 64).save(p)
        out.append(p)
    return out


if __name__ == "__main__":  # pragma: no cover - developer tool
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "icons"
    for f in write_app_icons(target):
        print(f)
