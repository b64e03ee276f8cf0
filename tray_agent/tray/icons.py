"""Tray and app icons drawn with Pillow: one shape + colour + glyph per WorkerState, optional alert badge.

Shapes differ per state so the icon reads without colour (colour-blind users, monochrome panels); every
shape gets a contrasting rim so it stays visible on light and dark panels. Drawn 4x and downsampled, so
16-64 px are crisp. ``python -m tray_agent.tray.icons [DIR]`` writes the app icons (PNG, ICO, SVG).
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
    """How a state is drawn: shape, fill colour and white glyph."""

    shape: str  # circle | triangle | octagon | square | diamond
    fill: str
    glyph: str  # check | ring | bang | pause | stop | cross | dash | plus


# Okabe-Ito inspired hues (distinguishable with the common colour-vision deficiencies) + distinct shapes.
LOOKS: dict[WorkerState, Look] = {
    WorkerState.ONLINE: Look("circle", "#1a7f37", "check"),
    WorkerState.STARTING: Look("circle", "#0969da", "ring"),
    WorkerState.STALE: Look("triangle", "#b35900", "bang"),
    WorkerState.PAUSED: Look("circle", "#6e7781", "pause"),
    WorkerState.STOPPING: Look("circle", "#57606a", "stop"),
    WorkerState.ERROR: Look("octagon", "#cf222e", "bang"),
    WorkerState.DOCKER_MISSING: Look("square", "#a40e26", "cross"),
    WorkerState.DOCKER_DOWN: Look("square", "#b35900", "dash"),
    WorkerState.SETUP_NEEDED: Look("diamond", "#8250df", "plus"),
}

# Alerts that earn a badge (informational ones would make the badge permanent on servers).
BADGE_ALERTS = frozenset(set(Alert) - {Alert.KEEP_AWAKE_UNAVAILABLE, Alert.IMAGE_UPDATE})
BADGE_FILL = "#ffd33d"  # yellow dot with a dark ring: readable on every state colour


def icon_key(state: WorkerState, alerts: tuple[Alert, ...] | frozenset[Alert] = ()) -> str:
    """Stable cache key of the tray image for a state and its alerts."""
    return state.value + ("+badge" if BADGE_ALERTS.intersection(alerts) else "")


def parse_key(key: str) -> tuple[WorkerState, bool]:
    state, _, badge = key.partition("+")
    return WorkerState(state), bool(badge)


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
    elif glyph == "plus":
        d.rectangle((cx - h, cy - w / 2, cx + h, cy + w / 2), fill=ink)
        d.rectangle((cx - w / 2, cy - h, cx + w / 2, cy + h), fill=ink)
    else:
        raise ValueError(glyph)


@lru_cache(maxsize=256)
def render_icon(key: str, size: int = 64, dark_panel: bool = True) -> Image.Image:
    """RGBA tray image for an :func:`icon_key` at ``size`` px, for a dark or light panel."""
    state, badge = parse_key(key)
    look = LOOKS[state]
    big = size * _SS
    img = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    rim = "#ffffff" if dark_panel else "#1f2328"
    pad = big * 0.06
    box = (pad, pad, big - pad, big - pad)
    rim_w = max(1.5 * _SS, big * 0.05)  # >= 1.5 px at the final size
    _draw_shape(d, look.shape, box, rim)
    _draw_shape(d, look.shape, _grow(box, -rim_w), look.fill)
    _draw_glyph(d, look.glyph, box, look.shape, "#ffffff")
    if badge:
        r = big * 0.22
        bx, by = big - r - pad * 0.2, r + pad * 0.2
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
    for state in WorkerState:
        p = tray / f"{state.value}.png"
        render_icon(state.value, 64).save(p)
        out.append(p)
    return out


if __name__ == "__main__":  # pragma: no cover - developer tool
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "icons"
    for f in write_app_icons(target):
        print(f)
