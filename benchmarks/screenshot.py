"""``python -m benchmarks.screenshot CAPTURE.ansi OUT.png``: a captured terminal screen as a PNG.

For the docs' pictures of the live display: capture a real terminal of a
chosen width (``tmux new-session -x 80 ...; tmux capture-pane -e -p``, which
keeps the colours as ANSI escapes), then draw it cell by cell in a monospace
font with its colours. Needs Pillow (matplotlib's dependency) and rich.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

BACKGROUND = (24, 24, 27)
FOREGROUND = (220, 220, 220)


def _font(bold: bool, size: int):
    from matplotlib import font_manager
    from PIL import ImageFont

    path = font_manager.findfont(font_manager.FontProperties(family="DejaVu Sans Mono",
                                                             weight="bold" if bold else "normal"))
    return ImageFont.truetype(path, size)


def _rgb(color, default):
    if color is None or color.is_default:
        return default
    triplet = color.get_truecolor()
    return (triplet.red, triplet.green, triplet.blue)


def render(ansi: str, path: Path, font_size: int = 16, columns: int | None = None) -> Path:
    """Draw the screen ``ansi`` (lines of text with ANSI colour escapes) to the PNG ``path``."""
    from PIL import Image, ImageDraw
    from rich.cells import cell_len
    from rich.text import Text

    lines = [Text.from_ansi(line) for line in ansi.rstrip("\n").split("\n")]
    while lines and not lines[-1].plain.strip():
        lines.pop()
    regular, bold = _font(False, font_size), _font(True, font_size)
    cell_w = round(regular.getlength("M"))
    cell_h = round(font_size * 1.25)
    width = columns or max((cell_len(line.plain) for line in lines), default=1)
    pad = cell_w
    image = Image.new("RGB", (width * cell_w + 2 * pad, len(lines) * cell_h + 2 * pad), BACKGROUND)
    draw = ImageDraw.Draw(image)
    for row, line in enumerate(lines):
        x = pad
        y = pad + row * cell_h
        for segment in line.render(_console()):
            style = segment.style
            fg = _rgb(style.color if style else None, FOREGROUND)
            bg = _rgb(style.bgcolor if style else None, None)
            if style and style.reverse:
                fg, bg = bg or BACKGROUND, fg
            if style and style.dim:
                fg = tuple((c + b) // 2 for c, b in zip(fg, BACKGROUND))
            for char in segment.text:
                cells = cell_len(char)
                if bg is not None:
                    draw.rectangle([x, y, x + cells * cell_w - 1, y + cell_h - 1], fill=bg)
                draw.text((x, y), char, font=bold if style and style.bold else regular, fill=fg)
                x += cells * cell_w
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def _console():
    from rich.console import Console

    return Console(color_system="truecolor", width=10_000)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.screenshot", description=__doc__.splitlines()[0])
    parser.add_argument("capture", type=Path, help="the screen: text with ANSI colour escapes")
    parser.add_argument("out", type=Path, help="PNG to write")
    parser.add_argument("--columns", type=int, help="the terminal's width (default: the widest line)")
    parser.add_argument("--font-size", type=int, default=16)
    args = parser.parse_args(argv)
    render(args.capture.read_text(errors="replace"), args.out, args.font_size, args.columns)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
