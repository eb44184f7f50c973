"""Shogi (``Shogi-v0``): pure JAX rules, a 2187-action encoding, SFEN/USI helpers and the RL env.

Modules: `rules` (move generation, make-move), `moves` (action encoding,
USI), `sfen` (SFEN in/out, text rendering), `perft`, `env` (the environment).
"""

from envs.games.shogi.env import Shogi, ShogiParams, ShogiState

__all__ = ["Shogi", "ShogiParams", "ShogiState"]
