"""AlphaZero as a pure, embeddable train step: batched self-play with mctx search on the env itself."""

from jaxrl.alphazero.buffer import Buffer
from jaxrl.alphazero.config import PRESETS, AlphaZeroConfig, preset, validate
from jaxrl.alphazero.learner import CHECKED_METRICS, METRICS, AlphaZero, AlphaZeroState, build_env, make
from jaxrl.alphazero.network import AlphaZeroNet
from jaxrl.alphazero.search import Search, SearchOutput
from jaxrl.alphazero.trajectory import Pending, Sample

__all__ = [
    "CHECKED_METRICS", "METRICS", "PRESETS", "AlphaZero", "AlphaZeroConfig", "AlphaZeroNet", "AlphaZeroState",
    "Buffer", "Pending", "Sample", "Search", "SearchOutput", "build_env", "make", "preset", "validate",
]
