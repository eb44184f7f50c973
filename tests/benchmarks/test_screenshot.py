"""A captured terminal screen drawn to PNG: one cell per character, the escapes' colours kept."""

from __future__ import annotations

import numpy as np
from PIL import Image

from benchmarks import screenshot


def test_render_draws_every_cell_in_its_colour(tmp_path):
    ansi = "\x1b[32mgreen\x1b[0m text\n\x1b[41m  \x1b[0m red background\n\n"
    path = screenshot.render(ansi, tmp_path / "screen.png", font_size=16, columns=40)
    pixels = np.asarray(Image.open(path).convert("RGB")).astype(int)
    height, width, _ = pixels.shape
    cell_w = round(screenshot._font(False, 16).getlength("M"))
    assert width == 42 * cell_w and height == 2 * round(16 * 1.25) + 2 * cell_w  # trailing blank line dropped
    top, second = pixels[cell_w: cell_w + 20], pixels[cell_w + 20: cell_w + 40]
    greenish = (top[..., 1] > 100) & (top[..., 1] > top[..., 0] + 40)
    assert greenish[:, : 6 * cell_w].any() and not greenish[:, 7 * cell_w:].any()
    reddish = (second[..., 0] > 100) & (second[..., 0] > second[..., 1] + 60)
    assert reddish[:, cell_w: 3 * cell_w].mean() > 0.9  # the two background cells are filled
