"""Write the application icon in every size and format the installers need.

    python installers/make_icons.py OUT_DIR

OUT_DIR receives ``hicolor/<n>x<n>/apps/lcai-tray.png`` (16…512), ``lcai-tray.png`` (256),
``lcai-tray.ico`` (Windows: exe and Inno Setup) and ``lcai-tray.icns`` (macOS .app).

The source is ``icons/app.png`` (or ``icons/lcai-tray.png``) when the repo has one (square, >= 256 px);
otherwise the icon is drawn here with Pillow (a lightning bolt on a rounded tile), so a build never
depends on a binary file being committed. Output is deterministic for a given source.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
NAME = "lcai-tray"
SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def draw(size: int = 1024) -> Image.Image:
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    pad = size // 16
    d.rounded_rectangle((pad, pad, size - pad, size - pad), radius=size // 5, fill=(22, 34, 64, 255))
    s = size / 100.0
    bolt = [(56, 12), (26, 56), (46, 56), (38, 88), (74, 40), (54, 40), (62, 12)]
    d.polygon([(x * s, y * s) for x, y in bolt], fill=(255, 196, 41, 255))
    return img


def source_image() -> Image.Image:
    for cand in (ROOT / "icons" / "app.png", ROOT / "icons" / f"{NAME}.png"):
        if cand.is_file():
            img = Image.open(cand).convert("RGBA")
            if img.width == img.height and img.width >= 256:
                return img
    return draw()


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    src = source_image()
    for n in SIZES:
        dest = out / "hicolor" / f"{n}x{n}" / "apps" / f"{NAME}.png"
        dest.parent.mkdir(parents=True, exist_ok=True)
        src.resize((n, n), Image.LANCZOS).save(dest, optimize=True)
    src.resize((256, 256), Image.LANCZOS).save(out / f"{NAME}.png", optimize=True)
    src.resize((256, 256), Image.LANCZOS).save(
        out / f"{NAME}.ico", sizes=[(n, n) for n in (16, 24, 32, 48, 64, 128, 256)]
    )
    src.resize((1024, 1024), Image.LANCZOS).save(out / f"{NAME}.icns")
    print(f"icons written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
