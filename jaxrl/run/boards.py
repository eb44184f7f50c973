"""The board beside the live display: one training game drawn as text, with the seats' outcome rates.

Every game draws itself: ``render`` of `envs.games.connect_four`,
`envs.games.shogi` (pieces in hand above and below the board) and
`envs.puzzles.triangles` is the one text board of that game, the same one
``python -m jaxrl.play`` shows. This module only reaches it through the
training env's wrappers and frames it for the display; an env without a
``render`` gets no board.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from jaxrl import seats

_SEAT_LABELS = ("black", "white", "draw")


def renderer(env: Any) -> Callable[[Any], str] | None:
    """The text board of ``env``'s own game, drawn from its unwrapped state; None when it has none."""
    if env is None:
        return None
    draw = getattr(env.unwrapped, "render", None)
    return draw if callable(draw) else None


def outcome_line(record: dict[str, Any]) -> str | None:
    """'black 52%  white 41%  draw 7%': the self-play outcome rates of ``record`` (None without them)."""
    rates = [record.get(key) for key in seats.OUTCOME_RATES]
    if not any(isinstance(r, float | int) and math.isfinite(r) for r in rates):
        return None
    return "  ".join(
        f"{label} {100 * r:.0f}%" if isinstance(r, float | int) and math.isfinite(r) else f"{label} -"
        for label, r in zip(_SEAT_LABELS, rates)
    )


def board_panel(title: str, board: str, record: dict[str, Any] | None = None):
    """A rich panel: the board text, then the outcome rates when ``record`` has them."""
    from rich.panel import Panel
    from rich.text import Text

    text = Text(board, no_wrap=True, overflow="crop")
    rates = outcome_line(record or {})
    if rates is not None:
        text.append("\n\n" + rates, style="bold")
    return Panel(text, title=title, title_align="left", expand=False, padding=(0, 1))


__all__ = ["board_panel", "outcome_line", "renderer"]
