"""One episode (or game) of a trained agent as a GIF or MP4, drawn by the env's pure-JAX renderer.

Every env that draws itself implements `envs.Environment.render_frame` (the classic-control
envs and Connect Four do); the frames are written with Pillow (GIF) or imageio-ffmpeg (MP4,
when installed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import jax
import numpy as np

from jaxrl.config import ConfigError
from jaxrl.games.record import play_moves

FORMATS = (".gif", ".mp4")


def check_video(env: Any, env_params: Any, path: str) -> None:
    """A `ConfigError` naming the problem when ``path`` cannot be written for ``env``."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ConfigError(f"--video {path}: write a .gif or an .mp4 file")
    if suffix == ".mp4":
        try:
            import imageio_ffmpeg  # noqa: F401
        except ImportError:
            raise ConfigError(f"--video {path}: MP4 needs imageio-ffmpeg (pip install imageio-ffmpeg); "
                              "or write a .gif") from None
    state = jax.eval_shape(lambda key: env.reset(key, env_params)[1], jax.random.PRNGKey(0))
    try:
        jax.eval_shape(lambda s: env.render_frame(s, env_params), state)
    except NotImplementedError:
        raise ConfigError(f"--video: {env.name} has no renderer (the classic-control envs, ConnectFour-v0 and Shogi-v0 have one; "
                          "for a game, --record writes its moves)") from None


def play_frames(
    env: Any, env_params: Any, policy: Callable, key: jax.Array, opponent: Callable | None = None,
    max_steps: int = 10_000,
) -> tuple[np.ndarray, float]:
    """One episode of ``policy(key, state, obs, mask)``: its frames ``uint8[T + 1, H, W, 3]`` (the
    first state to the last) and seat 0's return. In a two-player game ``policy`` plays seat 0 and
    ``opponent(key, state)`` seat 1."""
    draw = jax.jit(lambda state: env.render_frame(state, env_params))
    frames, total = [], 0.0
    for state, _, next_state, reward, _ in play_moves(env, env_params, policy, key, opponent, max_steps=max_steps):
        if not frames:
            frames.append(np.asarray(draw(state)))
        total += float(np.asarray(reward).reshape(-1)[0])
        frames.append(np.asarray(draw(next_state)))
    return np.stack(frames), total


def write_video(frames: np.ndarray, path: str, fps: float) -> None:
    """``frames`` ``uint8[T, H, W, 3]`` to ``path`` (.gif with Pillow, .mp4 with imageio-ffmpeg)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    if Path(path).suffix.lower() == ".mp4":
        import imageio_ffmpeg

        height, width = frames.shape[1:3]
        writer = imageio_ffmpeg.write_frames(path, (width, height), fps=fps, macro_block_size=1)
        writer.send(None)
        for frame in frames:
            writer.send(np.ascontiguousarray(frame))
        writer.close()
        return
    from PIL import Image

    images = [Image.fromarray(frame) for frame in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=max(int(round(1000 / fps)), 20), loop=0)


__all__ = ["FORMATS", "check_video", "play_frames", "write_video"]
