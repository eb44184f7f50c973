"""Pure-JAX drawing for env renderers: shapes rasterised from signed distances, so a whole
episode's frames can be drawn in one jitted, vmapped call on any backend.

A `Canvas` maps a world rectangle onto ``height x width`` pixels (y up); every shape
blends its colour in with one pixel of anti-aliasing at its edge. Colours are RGB
floats in [0, 1]; `Canvas.image` gives ``uint8[H, W, 3]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

Color = tuple[float, float, float]

WHITE: Color = (1.0, 1.0, 1.0)
BLACK: Color = (0.0, 0.0, 0.0)
GREY: Color = (0.55, 0.55, 0.55)
BROWN: Color = (0.80, 0.60, 0.40)
BLUE: Color = (0.50, 0.50, 0.80)
RED: Color = (0.85, 0.20, 0.20)
YELLOW: Color = (0.95, 0.80, 0.15)
GREEN: Color = (0.20, 0.65, 0.30)


# A 5 x 7 bitmap font for the labels renderers draw (board pieces, counts): '#' is ink.
FONT_ROWS, FONT_COLS = 7, 5
_FONT_BITMAPS = {
    "0": (".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."),
    "1": ("..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."),
    "2": (".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"),
    "3": ("####.", "....#", "....#", ".###.", "....#", "....#", "####."),
    "4": ("...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."),
    "5": ("#####", "#....", "####.", "....#", "....#", "#...#", ".###."),
    "6": (".###.", "#....", "#....", "####.", "#...#", "#...#", ".###."),
    "7": ("#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."),
    "8": (".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."),
    "9": (".###.", "#...#", "#...#", ".####", "....#", "....#", ".###."),
    "B": ("####.", "#...#", "#...#", "####.", "#...#", "#...#", "####."),
    "G": (".###.", "#...#", "#....", "#.###", "#...#", "#...#", ".###."),
    "K": ("#...#", "#..#.", "#.#..", "##...", "#.#..", "#..#.", "#...#"),
    "L": ("#....", "#....", "#....", "#....", "#....", "#....", "#####"),
    "N": ("#...#", "##..#", "#.#.#", "#.#.#", "#..##", "#...#", "#...#"),
    "P": ("####.", "#...#", "#...#", "####.", "#....", "#....", "#...."),
    "R": ("####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#"),
    "S": (".####", "#....", "#....", ".###.", "....#", "....#", "####."),
}
FONT_CHARS = "".join(_FONT_BITMAPS)
"""The characters of the font, in the order of `font_ink`'s ``char`` index."""
# numpy, not jnp: importing envs must not start a JAX backend.
_FONT = np.asarray([[[c == "#" for c in row] for row in _FONT_BITMAPS[ch]] for ch in FONT_CHARS], np.float32)


def font_ink(char: jax.Array, x: jax.Array, y: jax.Array, scale: float) -> jax.Array:
    """Ink (0 or 1) of character index ``char`` (into `FONT_CHARS`; -1 draws nothing) at pixel offsets
    ``x, y`` from the character's top-left corner (y down), each font dot ``scale`` pixels wide."""
    col = jnp.floor(x / scale).astype(jnp.int32)
    row = jnp.floor(y / scale).astype(jnp.int32)
    inside = (col >= 0) & (col < FONT_COLS) & (row >= 0) & (row < FONT_ROWS) & (char >= 0)
    ink = jnp.asarray(_FONT)[jnp.clip(char, 0, len(FONT_CHARS) - 1), jnp.clip(row, 0, FONT_ROWS - 1), jnp.clip(col, 0, FONT_COLS - 1)]
    return jnp.where(inside, ink, 0.0)


@dataclass(frozen=True)
class Canvas:
    """A ``height x width`` image of the world rectangle ``[x0, x1] x [y0, y1]``."""

    height: int
    width: int
    x0: float
    x1: float
    y0: float
    y1: float

    @property
    def pixel(self) -> float:
        """World units per pixel (the larger of the two axes')."""
        return max((self.x1 - self.x0) / self.width, (self.y1 - self.y0) / self.height)

    def grid(self) -> tuple[jax.Array, jax.Array]:
        """World coordinates of every pixel centre, ``[H, W]`` each (row 0 at the top)."""
        xs = self.x0 + (jnp.arange(self.width) + 0.5) * (self.x1 - self.x0) / self.width
        ys = self.y1 - (jnp.arange(self.height) + 0.5) * (self.y1 - self.y0) / self.height
        return jnp.meshgrid(xs, ys)

    def blank(self, color: Color = WHITE) -> jax.Array:
        return jnp.broadcast_to(jnp.asarray(color, jnp.float32), (self.height, self.width, 3))

    def coverage(self, distance: jax.Array) -> jax.Array:
        """How much of each pixel a shape covers, from its signed distance (negative inside)."""
        return jnp.clip(0.5 - distance / self.pixel, 0.0, 1.0)

    def _blend(self, image: jax.Array, distance: jax.Array, color: Color) -> jax.Array:
        coverage = self.coverage(distance)[..., None]
        return image * (1 - coverage) + jnp.asarray(color, jnp.float32) * coverage

    def disk(self, image: jax.Array, centre: tuple, radius: float, color: Color) -> jax.Array:
        x, y = self.grid()
        return self._blend(image, jnp.hypot(x - centre[0], y - centre[1]) - radius, color)

    def segment(self, image: jax.Array, start: tuple, end: tuple, half_width: float, color: Color) -> jax.Array:
        """A line from ``start`` to ``end`` with round caps, ``2 * half_width`` thick."""
        x, y = self.grid()
        ax, ay = start
        dx, dy = end[0] - ax, end[1] - ay
        t = jnp.clip(((x - ax) * dx + (y - ay) * dy) / jnp.maximum(dx * dx + dy * dy, 1e-12), 0.0, 1.0)
        return self._blend(image, jnp.hypot(x - ax - t * dx, y - ay - t * dy) - half_width, color)

    def box(self, image: jax.Array, centre: tuple, half_size: tuple, color: Color) -> jax.Array:
        """An axis-aligned rectangle."""
        x, y = self.grid()
        qx = jnp.abs(x - centre[0]) - half_size[0]
        qy = jnp.abs(y - centre[1]) - half_size[1]
        outside = jnp.hypot(jnp.maximum(qx, 0.0), jnp.maximum(qy, 0.0))
        return self._blend(image, outside + jnp.minimum(jnp.maximum(qx, qy), 0.0), color)

    def curve(self, image: jax.Array, xs: jax.Array, ys: jax.Array, half_width: float, color: Color) -> jax.Array:
        """A polyline through the points ``(xs[i], ys[i])``."""
        for i in range(len(xs) - 1):
            image = self.segment(image, (xs[i], ys[i]), (xs[i + 1], ys[i + 1]), half_width, color)
        return image

    @staticmethod
    def image(image: jax.Array) -> jax.Array:
        return jnp.round(jnp.clip(image, 0.0, 1.0) * 255).astype(jnp.uint8)


__all__ = [
    "BLACK", "BLUE", "BROWN", "FONT_CHARS", "FONT_COLS", "FONT_ROWS", "GREEN", "GREY", "RED", "WHITE", "YELLOW", "Canvas",
    "font_ink",
]
