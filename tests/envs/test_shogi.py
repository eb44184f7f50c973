"""Shogi-v0: perft, rule cases, SFEN/USI, the env contract, jit/vmap invariants."""

from __future__ import annotations

import json
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs import wrappers
from envs.games.shogi import Shogi, moves, perft, rules, sfen

INITIAL = sfen.INITIAL_SFEN
MATSURI = "l6nl/5+P1gk/2np1S3/p1p4Pp/3P2Sp1/1PPb2P1P/P5GS1/R8/LN4bKL w RGgsn5p 1"
MAX_MOVES_POSITION = "R8/2K1S1SSk/4B4/9/9/9/9/9/1L1L1L3 b RBGSNLP3g3n17p 1"


ENV = Shogi()
STEP = jax.jit(ENV.step)  # one compiled step for every test (params are traced, so no recompiles)


@pytest.fixture(scope="module")
def env():
    return ENV


def legal(env, state) -> set[str]:
    return set(env.legal_usi_moves(state))


def play(env, state, usi_moves, params=None):
    """Play USI moves one by one; return the last step's outputs (obs, state, reward, ...)."""
    params = params or env.default_params
    out = None
    for usi in usi_moves:
        action = env.usi_to_action(state, usi)
        out = STEP(jax.random.PRNGKey(0), state, action, params)
        state = out[1]
    return out


# -- perft -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("depth, nodes", [(1, 30), (2, 900), (3, 25_470)])
def test_perft_initial(depth, nodes):
    assert perft.perft(INITIAL, depth) == nodes


@pytest.mark.slow
def test_perft_initial_depth_4():
    assert perft.perft(INITIAL, 4) == 719_731


@pytest.mark.slow
def test_perft_initial_depth_5():
    start = time.perf_counter()
    assert perft.perft(INITIAL, 5, chunk=16384) == 19_861_490
    print(f"perft 5: {time.perf_counter() - start:.1f} s")


@pytest.mark.parametrize(
    "position, depth, nodes",
    [
        (MATSURI, 1, 207),  # promotions, drops, checks
        (MATSURI, 2, 28_684),
        (MAX_MOVES_POSITION, 1, 593),  # the position with the most legal moves
        (MAX_MOVES_POSITION, 2, 105_677),
    ],
)
def test_perft_published_positions(position, depth, nodes):
    assert perft.perft(position, depth) == nodes


@pytest.mark.slow
@pytest.mark.parametrize(
    "position, depth, nodes",
    [(MATSURI, 3, 4_809_015), (MAX_MOVES_POSITION, 3, 53_393_368), (MATSURI, 4, 516_925_165)],
)
def test_perft_published_positions_deep(position, depth, nodes):
    assert perft.perft(position, depth, chunk=16384) == nodes


# -- rule cases --------------------------------------------------------------------------------------


def test_no_two_unpromoted_pawns_on_a_file(env):
    state = env.init_from_sfen("4k4/9/9/9/9/9/4P4/9/4K4 b P 1")
    drops = {m for m in legal(env, state) if m.startswith("P*")}
    assert drops and not any(m[2] == "5" for m in drops)
    # A promoted pawn (tokin) does not count.
    state = env.init_from_sfen("4k4/9/9/9/9/9/4+P4/9/4K4 b P 1")
    assert "P*5e" in legal(env, state)


def test_no_drop_where_the_piece_could_never_move(env):
    state = env.init_from_sfen("4k4/9/9/9/9/9/9/9/4K4 b PLN 1")
    moves_ = legal(env, state)
    for rank in "a":
        assert not any(m in moves_ for m in (f"P*1{rank}", f"L*1{rank}", f"N*1{rank}"))
    assert "N*1b" not in moves_ and "N*1c" in moves_ and "L*1b" in moves_ and "P*1b" in moves_
    # Same for gote, whose last ranks are h and i.
    state = env.init_from_sfen("4k4/9/9/9/9/9/9/9/4K4 w pln 1")
    moves_ = legal(env, state)
    assert "P*1i" not in moves_ and "L*1i" not in moves_ and "N*1h" not in moves_ and "N*1g" in moves_


def test_forced_and_optional_promotion(env):
    state = env.init_from_sfen("k8/4P4/9/6N2/8L/9/9/9/4K4 b - 1")
    moves_ = legal(env, state)
    assert "5b5a+" in moves_ and "5b5a" not in moves_  # pawn to the last rank
    assert "3d2b+" in moves_ and "3d2b" not in moves_  # knight to the last two ranks
    assert "1e1a+" in moves_ and "1e1a" not in moves_  # lance to the last rank
    assert "1e1c+" in moves_ and "1e1c" in moves_  # optional in the zone
    assert "1e1d" in moves_ and "1e1d+" not in moves_  # outside the zone


def test_promotion_when_leaving_the_zone(env):
    state = env.init_from_sfen("4k4/9/2S6/9/9/9/9/9/4K4 b - 1")
    moves_ = legal(env, state)
    assert "7c6d+" in moves_ and "7c6d" in moves_


def test_pawn_drop_mate_is_illegal_but_other_drop_mates_are_fine(env):
    mate_sfen = "8k/9/6N1G/9/9/9/9/9/K8 b PG 1"
    state = env.init_from_sfen(mate_sfen)
    moves_ = legal(env, state)
    assert "P*1b" not in moves_ and "G*1b" in moves_
    # Without the knight covering 2a the king escapes: the pawn drop is a legal check.
    state = env.init_from_sfen("8k/9/8G/9/9/9/9/9/K8 b P 1")
    assert "P*1b" in legal(env, state)
    # Pinned capturer: the gold on 2b could take the pawn but is pinned by the bishop on 5e.
    state = env.init_from_sfen("8k/6Sg1/8G/9/4B4/9/9/9/K8 b P 1")
    assert "P*1b" not in legal(env, state)
    # A pawn *move* that mates is legal.
    state = env.init_from_sfen("8k/9/6NGP/9/9/9/9/9/K8 b - 1")
    _, state, reward, terminated, _, info = play(env, state, ["1c1b"])
    assert bool(terminated) and int(info["winner"]) == 0 and reward.tolist() == [1.0, -1.0]


def test_pins_and_checks(env):
    # The silver on 5h is pinned by the rook on 5a: it may only move along the file.
    state = env.init_from_sfen("4r4/9/9/9/9/9/9/4S4/4K4 b - 1")
    moves_ = legal(env, state)
    assert {m for m in moves_ if m.startswith("5h")} == {"5h5g"}
    # In check from a rook: block, capture or move the king; drops only between.
    state = env.init_from_sfen("4r4/9/9/9/9/9/9/9/4K3k b G 1")
    moves_ = legal(env, state)
    assert bool(state.in_check)
    assert {m for m in moves_ if m.startswith("G*")} == {f"G*5{r}" for r in "bcdefgh"}
    assert "5i5h" not in moves_ and "5i4h" in moves_
    # Double check: only king moves.
    state = env.init_from_sfen("4r4/9/9/9/9/9/2b6/9/4K3k b G 1")
    assert all(m.startswith("5i") for m in legal(env, state))


def test_discovered_check_is_a_check(env):
    state = env.init_from_sfen("4k4/9/9/9/4S4/9/9/9/4R3K b - 1")
    _, state, *_rest = play(env, state, ["5e4d"])
    assert bool(state.in_check)


def test_checkmate_ends_the_game(env):
    state = env.init_from_sfen("4k4/9/4P4/9/9/9/9/9/4K4 b G 1")
    _obs, state, reward, terminated, truncated, info = STEP(
        jax.random.PRNGKey(0), state, env.usi_to_action(state, "G*5b"), env.default_params
    )
    assert bool(terminated) and not bool(truncated)
    assert int(info["winner"]) == 0 and not bool(info["draw"])
    assert reward.tolist() == [1.0, -1.0]
    assert bool(state.legal_action_mask.all())


def test_fourfold_repetition_is_a_draw(env):
    state = env._initial_state()
    cycle = ["5i4h", "5a4b", "4h5i", "4b5a"]
    _, state, _reward, terminated, _truncated, _info = play(env, state, cycle * 2 + cycle[:3])
    assert not bool(terminated) and int(state.repetitions) == 2
    _, state, reward, terminated, _truncated, info = play(env, state, cycle[3:])
    assert bool(terminated) and bool(info["draw"]) and int(info["winner"]) == -1
    assert reward.tolist() == [0.0, 0.0]


def test_perpetual_check_loses_for_the_checking_side(env):
    # Sente checks with every move; the fourth occurrence comes from sente's move: sente loses.
    state = env.init_from_sfen("9/R7k/9/9/9/9/9/9/K8 w - 1")
    cycle = ["1b1a", "9b9a", "1a1b", "9a9b"]
    _, state, reward, terminated, _truncated, info = play(env, state, cycle * 3)
    assert bool(terminated) and int(info["winner"]) == 1 and not bool(info["draw"])
    assert reward.tolist() == [-1.0, 1.0]
    # The fourth occurrence made by gote's (non-checking) move: sente, the checking side, still loses.
    state = env.init_from_sfen("8k/R8/9/9/9/9/9/9/K8 b - 1")
    cycle = ["9b9a", "1a1b", "9a9b", "1b1a"]
    _, state, reward, terminated, _truncated, info = play(env, state, cycle * 3)
    assert bool(terminated) and int(info["winner"]) == 1 and reward.tolist() == [-1.0, 1.0]


def test_move_cap_truncates_as_a_draw(env):
    params = env.default_params.replace(max_moves=4)
    state = env._initial_state()
    _, state, reward, terminated, truncated, info = play(env, state, ["7g7f", "3c3d", "2g2f"], params)
    assert not bool(truncated)
    _, state, reward, terminated, truncated, info = play(env, state, ["8c8d"], params)
    assert bool(truncated) and not bool(terminated) and bool(info["draw"])
    assert reward.tolist() == [0.0, 0.0] and int(info["winner"]) == -1


def test_illegal_action_loses(env):
    _, state = env.reset(jax.random.PRNGKey(0))
    illegal = int(np.flatnonzero(~np.asarray(state.legal_action_mask))[0])
    _obs, state, reward, terminated, _truncated, info = STEP(
        jax.random.PRNGKey(0), state, illegal, env.default_params
    )
    assert bool(terminated) and int(info["winner"]) == 1 and reward.tolist() == [-1.0, 1.0]
    assert env.to_sfen(state) == INITIAL  # the illegal move is not played


# -- SFEN, USI, rendering ------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [INITIAL, MATSURI, MAX_MOVES_POSITION, "8k/6Sg1/8G/9/4B4/9/9/9/K8 b P 1"])
def test_sfen_round_trip(env, text):
    assert sfen.to_sfen(sfen.parse_sfen(text)) == text
    assert env.to_sfen(env.init_from_sfen(text)) == text


def test_sfen_errors_are_one_line():
    for bad in [
        "lnsgkgsnl/9 b - 1",
        "9/9/9/9/9/9/9/9/10 b - 1",
        "9/9/9/9/9/9/9/9/9 x - 1",
        "9/9/9/9/9/9/9/9/8X b - 1",
    ]:
        with pytest.raises(ValueError, match="bad SFEN") as info:
            sfen.parse_sfen(bad)
        assert "\n" not in str(info.value)


def test_usi_round_trip_and_state_after_moves(env):
    state = env._initial_state()
    state = play(env, state, ["7g7f", "3c3d", "8h2b+", "3a2b", "B*4e"])[1]
    assert env.to_sfen(state) == "lnsgkg1nl/1r5s1/pppppp1pp/6p2/5B3/2P6/PP1PPPPPP/7R1/LNSGKGSNL w b 6"
    for action in np.flatnonzero(np.asarray(state.legal_action_mask)):
        assert env.usi_to_action(state, env.action_to_usi(state, action)) == action
    with pytest.raises(ValueError):
        moves.usi_to_action("7g7", 0)


def test_every_legal_move_has_one_action(env):
    for text in (INITIAL, MATSURI, MAX_MOVES_POSITION):
        state = env.init_from_sfen(text)
        usis = [env.action_to_usi(state, a) for a in np.flatnonzero(np.asarray(state.legal_action_mask))]
        assert len(usis) == len(set(usis))


def test_render(env):
    text = env.render(env.init_from_sfen(MATSURI))
    assert "gote to move" in text and "+P" in text
    assert "sente hand: Rx1 Gx1" in text and "gote hand:  gx1 sx1 nx1 px5" in text
    assert len(text.splitlines()) == 13


# -- env contract, jit/vmap ----------------------------------------------------------------------------


def test_make_and_contract():
    env, params = envs.make("Shogi-v0")
    assert env.name == "Shogi-v0" and env.version == 1 and env.num_players == 2
    obs, state = env.reset(jax.random.PRNGKey(0), params)
    assert obs.shape == env.observation_space(params).shape == (9, 9, 47)
    assert env.action_space(params).n == moves.NUM_ACTIONS == 2187
    assert int(env.current_player(state, params)) == 0 and int(state.move_count) == 0
    assert int(env.action_mask(state, params).sum()) == 30
    # Sente's pawns (type 0) on rank g appear on row 6 of the mover's planes.
    assert float(obs[6, :, 0].sum()) == 9.0 and float(obs[2, :, 14].sum()) == 9.0
    _, params2 = envs.make("Shogi-v0", max_moves=100)
    assert params2.max_moves == 100


def test_observation_is_from_the_movers_perspective(env):
    _obs, state = env.reset(jax.random.PRNGKey(0))
    obs2, state2, *_ = STEP(
        jax.random.PRNGKey(0), state, env.usi_to_action(state, "7g7f"), env.default_params
    )
    assert int(state2.current_player) == 1 and float(obs2[0, 0, 46]) == 1.0
    # Gote sees its own (unmoved) pawns on its rank g and sente's advanced pawn on its rank d.
    assert float(obs2[6, :, 0].sum()) == 9.0 and float(obs2[3, :, 14].sum()) == 1.0
    assert float(obs2[3, 6, 14]) == 1.0  # sente's 7f pawn is gote's 3d -> column 9 - 3


def test_wrappers_and_random_play_invariants():
    """Batched random self-play under jit with AutoReset: no impossible state is ever reached."""
    base, params = envs.make("Shogi-v0", max_moves=32)
    env = wrappers.AutoReset(wrappers.EpisodeStatistics(base))
    num_envs, num_steps = 16, 72
    keys = jax.random.split(jax.random.PRNGKey(1), num_envs)
    _, state = jax.vmap(env.reset, in_axes=(0, None))(keys, params)

    def invariants(inner):
        board = inner.board.astype(jnp.int32)
        hand = inner.hand.astype(jnp.int32)
        base_type = jnp.where(board % 14 >= 8, board % 14 - 8, board % 14)
        counts = jnp.stack([jnp.sum((board >= 0) & (base_type == t)) for t in range(8)])
        counts = counts + jnp.concatenate([hand.sum(0), jnp.zeros(1, jnp.int32)])
        full = jnp.array([18, 4, 4, 4, 2, 2, 4, 2])
        kings = (jnp.sum(board == rules.KING) == 1) & (jnp.sum(board == rules.KING + 14) == 1)
        _, can = rules.reach(board)  # the player who just moved must not be left in check
        their_king = jnp.argmax(board == rules.KING + 14)
        no_capturable_king = ~jnp.any(can[:, their_king])
        mask_ok = jnp.any(inner.legal_action_mask)
        pawns_ok = jnp.all(jnp.sum((board == rules.PAWN).reshape(9, 9), 1) <= 1)
        return jnp.all(counts == full) & kings & no_capturable_king & mask_ok & pawns_ok

    def body(carry, key):
        state = carry
        key_act, key_step = jax.random.split(key)
        inner = state.env_state
        logits = jnp.where(inner.legal_action_mask, 0.0, -jnp.inf)
        actions = jax.random.categorical(key_act, logits)
        keys = jax.random.split(key_step, num_envs)
        _, state, reward, terminated, truncated, _info = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
            keys, state, actions, params
        )
        ok = jax.vmap(invariants)(state.env_state)
        zero_sum = jnp.all(reward.sum(-1) == 0)
        return state, (jnp.all(ok) & zero_sum, jnp.sum(terminated | truncated))

    run = jax.jit(lambda s, k: jax.lax.scan(body, s, jax.random.split(k, num_steps)))
    state, (ok, finished) = run(state, jax.random.PRNGKey(2))
    assert bool(ok.all())
    assert int(finished.sum()) >= 2 * num_envs  # every game hit the cap of 32 plies at least twice


def test_jit_and_vmap_agree_with_single_steps(env):
    params = env.default_params
    keys = jax.random.split(jax.random.PRNGKey(3), 4)
    _, batch = jax.vmap(env.reset, in_axes=(0, None))(keys, params)
    rng = np.random.default_rng(0)
    step_batched = jax.jit(jax.vmap(env.step, in_axes=(0, 0, 0, None)))
    for _ in range(6):
        masks = np.asarray(batch.legal_action_mask)
        actions = np.array([rng.choice(np.flatnonzero(m)) for m in masks])
        singles = [
            STEP(keys[i], jax.tree.map(lambda x, i=i: x[i], batch), int(actions[i]), params)[1]
            for i in range(4)
        ]
        _, batch, *_ = step_batched(keys, batch, jnp.asarray(actions), params)
        for i, single in enumerate(singles):
            for a, b in zip(
                jax.tree.leaves(single), jax.tree.leaves(jax.tree.map(lambda x, i=i: x[i], batch))
            ):
                np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_stepping_a_finished_game_changes_nothing(env):
    state = env.init_from_sfen("4k4/9/4P4/9/9/9/9/9/4K4 b G 1")
    step = STEP
    _, state, *_ = step(jax.random.PRNGKey(0), state, env.usi_to_action(state, "G*5b"), env.default_params)
    _, again, reward, terminated, _truncated, info = step(jax.random.PRNGKey(0), state, 0, env.default_params)
    assert bool(terminated) and reward.tolist() == [0.0, 0.0] and int(info["winner"]) == -1
    assert env.to_sfen(again) == env.to_sfen(state)


def test_throughput_benchmark_runs(tmp_path):
    from benchmarks import shogi_throughput

    output = tmp_path / "shogi.json"
    shogi_throughput.main(
        ["--batch-sizes", "4", "--steps", "3", "--repeats", "1", "--impls", "jaxrl", "--output", str(output)]
    )
    rows = json.loads(output.read_text())["rows"]
    assert rows[0]["impl"] == "jaxrl" and rows[0]["steps_per_s"] > 0
