"""The pure-JAX renderers: frames of the right shape that follow the state, and the video writer."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from jaxrl.config import ConfigError
from jaxrl.run.video import check_video, play_frames, write_video

CLASSIC = ["CartPole-v1", "Acrobot-v1", "Pendulum-v1", "MountainCar-v0", "MountainCarContinuous-v0"]


def _dark_columns(frame: np.ndarray) -> np.ndarray:
    """Column indices holding a dark (drawn in black or a colour) pixel."""
    return np.nonzero((frame.astype(int).sum(-1) < 600).any(0))[0]


@pytest.mark.parametrize("name", CLASSIC)
def test_classic_frames_follow_the_state(name):
    env, params = envs.make(name)
    _, state = env.reset(jax.random.PRNGKey(0), params)
    draw = jax.jit(lambda s: env.render_frame(s, params))
    frame = np.asarray(draw(state))
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
    assert (frame == 255).all(-1).mean() > 0.5 and (frame < 128).any()  # a white page with something drawn on it
    field = {"CartPole-v1": "x", "Acrobot-v1": "theta1", "Pendulum-v1": "theta"}.get(name, "position")
    moved = state.replace(**{field: getattr(state, field) + 0.5})
    assert not np.array_equal(np.asarray(draw(moved)), frame)
    # The same frames vmapped over states as drawn one at a time (to the rounding of an edge pixel).
    batch = jax.tree.map(lambda a, b: jnp.stack([a, b]), state, moved)
    np.testing.assert_allclose(np.asarray(jax.vmap(draw)(batch))[1], np.asarray(draw(moved)), atol=1)


def test_cartpole_cart_is_drawn_where_it_is():
    env, params = envs.make("CartPole-v1")
    _, state = env.reset(jax.random.PRNGKey(0), params)
    width = 600
    for x, side in ((1.5, "right"), (-1.5, "left")):
        frame = np.asarray(env.render_frame(state.replace(x=jnp.float32(x), theta=jnp.float32(0.0)), params))
        body = frame[: int(frame.shape[0] * 0.7)]  # above the track line
        columns = _dark_columns(body)
        centre = columns.mean()
        # +-2.88 across 600 pixels: x = 1.5 is pixel 456.
        assert abs(centre - (width / 2 + x * width / (2 * 2.88))) < 6, (side, centre)


def test_shogi_frame_shows_pieces_hands_mover_and_check():
    from envs.games.shogi import picture

    env, params = envs.make("Shogi-v0")
    draw = jax.jit(env.render_frame)
    _, start = env.reset(jax.random.PRNGKey(0), params)
    frame = np.asarray(draw(start)).astype(int)
    assert frame.shape == (picture.HEIGHT, picture.WIDTH, 3)
    board = frame[picture.HAND: picture.HAND + 9 * picture.CELL, picture.MARGIN: picture.MARGIN + 9 * picture.CELL]
    # The start position is its own 180-degree turn with the colours swapped: so is its picture.
    np.testing.assert_allclose(board[::-1, ::-1], board, atol=1)

    def square(state_frame, file, rank):  # rank 1..9 = a..i; file 9 on the left
        x = picture.MARGIN + (9 - file) * picture.CELL
        y = picture.HAND + (rank - 1) * picture.CELL
        return state_frame[y + 4: y + picture.CELL - 4, x + 4: x + picture.CELL - 4]

    wood = np.round(np.asarray(picture.WOOD) * 255)
    assert (np.abs(square(frame, 5, 5) - wood).max(-1) <= 1).all()  # an empty square is bare wood
    assert not (np.abs(square(frame, 7, 7) - wood).max(-1) <= 1).all()  # a pawn's tile
    # 7g7f: the pawn moves; the dot beside the board moves to gote's end.
    moved = env.init_from_sfen("lnsgkgsnl/1r5b1/ppppppppp/9/9/2P6/PP1PPPPPP/1B5R1/LNSGKGSNL w - 2")
    after = np.asarray(draw(moved)).astype(int)
    assert (np.abs(square(after, 7, 7) - wood).max(-1) <= 1).all()
    assert not (np.abs(square(after, 7, 6) - wood).max(-1) <= 1).all()
    dot = lambda f, y: f[y, picture.MARGIN // 2].sum() < 100  # noqa: E731
    assert dot(frame, picture.HAND + 9 * picture.CELL - 15) and not dot(frame, picture.HAND + 15)
    assert dot(after, picture.HAND + 15) and not dot(after, picture.HAND + 9 * picture.CELL - 15)
    # Gote (to move, in check from the rook on 5b) holds 12 pawns: a red king's square and a count of 12.
    checked = env.init_from_sfen("4k4/4R4/9/9/9/9/9/9/4K4 w 12p 1")
    assert bool(checked.in_check)
    image = np.asarray(draw(checked)).astype(int)
    red = np.round(np.asarray(picture.CHECK) * 255)
    assert (np.abs(square(image, 5, 1) - red).max(-1) <= 1).mean() > 0.05  # around the tile
    assert not (np.abs(square(np.asarray(draw(start)).astype(int), 5, 1) - red).max(-1) <= 1).any()
    top_hand = image[: picture.HAND]
    assert (top_hand[:, :60].sum(-1) < 100).sum() > 50 and (top_hand[:, 60:].sum(-1) < 100).sum() == 0  # pawns only
    digits = top_hand[:, 39:60]
    assert (digits[:, :10].sum(-1) < 100).any() and (digits[:, 11:].sum(-1) < 100).any()  # two digits


def test_connect_four_frame_shows_the_stones():
    from envs.games import connect_four

    env, params = envs.make("ConnectFour-v0")
    _, state = env.reset(jax.random.PRNGKey(0), params)
    _, state, *_ = env.step(jax.random.PRNGKey(1), state, 0, params)  # seat 0 in column 0
    _, state, *_ = env.step(jax.random.PRNGKey(2), state, 6, params)  # seat 1 in column 6
    frame = np.asarray(env.render_frame(state, params)).astype(int)
    cell = 360 // connect_four.ROWS  # 60 x 60 pixels per cell
    centre = lambda row, col: frame[row * cell + cell // 2, col * cell + cell // 2]  # noqa: E731
    np.testing.assert_allclose(centre(5, 0), [217, 51, 51], atol=2)  # red, bottom left
    np.testing.assert_allclose(centre(5, 6), [242, 204, 38], atol=2)  # yellow, bottom right
    np.testing.assert_array_equal(centre(0, 3), [255, 255, 255])  # an empty hole
    np.testing.assert_allclose(frame[0, 0], [128, 128, 204], atol=2)  # the board between the holes


def test_video_of_an_episode(tmp_path):
    from PIL import Image

    env, params = envs.make("CartPole-v1")
    policy = lambda key, state, obs, mask: jnp.int32(0)  # noqa: E731 - always push left: a short episode
    frames, total = play_frames(env, params, policy, jax.random.PRNGKey(0))
    assert frames.shape[0] == int(total) + 1 and 5 < total < 30  # +1 reward per step, first frame included
    path = tmp_path / "episode.gif"
    write_video(frames, str(path), fps=25)
    with Image.open(path) as gif:
        assert gif.n_frames == frames.shape[0] and gif.size == (600, 400)
        assert gif.info["duration"] == 40


def test_video_errors_name_the_problem():
    env, params = envs.make("CartPole-v1")
    with pytest.raises(ConfigError, match=r"write a \.gif or an \.mp4"):
        check_video(env, params, "out.avi")
    puzzle, puzzle_params = envs.make("Triangles-v0")
    with pytest.raises(ConfigError, match="Triangles-v0 has no renderer"):
        check_video(puzzle, puzzle_params, "out.gif")
    check_video(*envs.make("ConnectFour-v0"), "out.gif")
