"""Beam search (keras_attention.decoding.beam) against brute-force
enumeration: a beam as large as the number of hypotheses must match it."""

import numpy as np
import pytest
from decoding_models import (
    CHAIN,
    HASH,
    HistoryModel,
    bad_argument_params,
    brute_force,
    check_raises_naming,
    log_softmax,
    markov_step,
    penalty,
    reference_greedy,
    to_np,
)
from keras import ops

from keras_attention.decoding import beam_search, greedy_search


def test_greedy_is_suboptimal_and_beam_search_finds_the_best():
    step_fn = markov_step(CHAIN)
    start = ops.zeros((1,), "int32")

    def chain(prefix):
        return CHAIN[([0] + prefix)[-1]]

    best, best_score = brute_force(chain, 3, 3)
    greedy, greedy_score = greedy_search(step_fn, start, None, max_length=3)
    assert to_np(greedy_score)[0] < best_score - 0.1
    for beam_size in (2, 4):
        tokens, score = beam_search(step_fn, start, None, 3, beam_size=beam_size)
        np.testing.assert_array_equal(to_np(tokens)[0], best)
        np.testing.assert_allclose(to_np(score)[0], best_score, rtol=1e-5)
    np.testing.assert_array_equal(best, [2, 2, 2])


@pytest.mark.parametrize(
    "end_token, alpha", [(None, 0.0), (0, 0.0), (0, 0.6), (1, 2.0)]
)
def test_exhaustive_beam_matches_brute_force(end_token, alpha):
    """A beam holding every hypothesis (3**3 = 27) is exact, also with end
    tokens and length penalties; the history model needs correct state and
    sequence reordering for every item of the batch."""
    vocab, max_length, starts = 3, 4, [0, 2, 1]
    model = HistoryModel(vocab, batch=3, seed=1)
    tokens, scores = beam_search(
        model.step_fn,
        ops.convert_to_tensor(np.array(starts, "int32")),
        model.state(),
        max_length,
        beam_size=vocab ** (max_length - 1),
        end_token=end_token,
        length_penalty=alpha,
        pad_token=0,
    )
    for item, start in enumerate(starts):
        best, best_score = brute_force(
            lambda prefix, item=item, start=start: model.logits(item, start, prefix),
            vocab,
            max_length,
            end_token,
            alpha,
        )
        np.testing.assert_array_equal(to_np(tokens)[item], best)
        np.testing.assert_allclose(to_np(scores)[item], best_score, rtol=1e-4)


def test_beam_batch_items_are_independent():
    """Each batch item decoded alone gives the same beams as in the batch."""
    vocab, max_length, starts = 5, 6, np.array([0, 3, 1, 4], "int32")
    model = HistoryModel(vocab, batch=4, seed=2)
    kwargs = dict(beam_size=3, end_token=2, length_penalty=0.7, return_all_beams=True)
    tokens, scores = beam_search(
        model.step_fn, starts, model.state(), max_length, **kwargs
    )
    for item in (1, 3):
        alone_tokens, alone_scores = beam_search(
            model.step_fn,
            starts[item : item + 1],
            model.state([item]),
            max_length,
            **kwargs,
        )
        np.testing.assert_array_equal(to_np(tokens)[item], to_np(alone_tokens)[0])
        np.testing.assert_allclose(
            to_np(scores)[item], to_np(alone_scores)[0], rtol=1e-5
        )
    # Different items really get different results.
    assert len({tuple(row) for row in to_np(tokens)[:, 0]}) > 1


def test_all_beams_are_sorted_distinct_and_scored():
    vocab, max_length, beam_size, alpha = 4, 5, 4, 0.5
    model = HistoryModel(vocab, batch=2, seed=3)
    starts = np.array([0, 1], "int32")
    kwargs = dict(beam_size=beam_size, end_token=3, length_penalty=alpha, pad_token=9)
    tokens, scores = beam_search(
        model.step_fn,
        starts,
        model.state(),
        max_length,
        return_all_beams=True,
        **kwargs,
    )
    tokens, scores = to_np(tokens), to_np(scores)
    assert tokens.shape == (2, beam_size, max_length) and tokens.dtype == np.int32
    assert scores.shape == (2, beam_size)
    best_tokens, best_scores = beam_search(
        model.step_fn, starts, model.state(), max_length, **kwargs
    )
    np.testing.assert_array_equal(to_np(best_tokens), tokens[:, 0])
    np.testing.assert_allclose(to_np(best_scores), scores[:, 0])
    for item in range(2):
        assert np.all(np.diff(scores[item]) <= 1e-6)
        assert len({tuple(beam) for beam in tokens[item]}) == beam_size
        for beam, score in zip(tokens[item], scores[item], strict=True):
            # Recompute each hypothesis' penalised score from the model. A
            # hypothesis without end token is as long as the steps run.
            ends = np.flatnonzero(beam == 3)
            length = ends[0] + 1 if len(ends) else np.sum(beam != 9)
            assert np.all(beam[length:] == 9) and np.all(beam[:length] != 9)
            raw = sum(
                log_softmax(model.logits(item, starts[item], list(beam[:i])))[beam[i]]
                for i in range(length)
            )
            np.testing.assert_allclose(score, raw / penalty(length, alpha), rtol=1e-4)


def test_beam_search_reorders_a_key_value_like_cache():
    """A Transformer-like state: a `(batch, max_length)` cache written at the
    step index with `slice_update`, the logits a function of all of it."""
    vocab, max_length, starts = 3, 4, np.array([1, 2], "int32")
    weights = np.array([1, 3, 9, 27, 81], "int32")
    table = np.random.default_rng(10).normal(size=(HASH, vocab)).astype("float32")

    def step_fn(tokens, state, index):
        cache = ops.slice_update(state, [0, index], ops.expand_dims(tokens, 1))
        h = ops.mod(ops.sum((cache + 1) * ops.convert_to_tensor(weights), 1), HASH)
        return ops.take(ops.convert_to_tensor(table), h, axis=0), cache

    def logits(start, prefix):
        history = np.array([start, *prefix])
        return table[np.sum((history + 1) * weights[: len(history)]) % HASH]

    cache = ops.full((2, max_length + 1), -1, "int32")
    tokens, scores = beam_search(
        step_fn, starts, cache, max_length, beam_size=27, end_token=0
    )
    for item, start in enumerate(starts):
        best, best_score = brute_force(
            lambda prefix, start=start: logits(start, prefix), vocab, max_length, 0
        )
        np.testing.assert_array_equal(to_np(tokens)[item], best)
        np.testing.assert_allclose(to_np(scores)[item], best_score, rtol=1e-4)


def test_more_beams_than_hypotheses():
    step_fn = markov_step(CHAIN)
    tokens, scores = beam_search(
        step_fn, ops.zeros((2,), "int32"), None, 1, beam_size=5, return_all_beams=True
    )
    scores = to_np(scores)
    assert np.all(np.isfinite(scores[:, :3])) and np.all(scores[:, 3:] == -np.inf)
    np.testing.assert_array_equal(to_np(tokens)[:, :3, 0], [[1, 2, 0]] * 2)


@pytest.mark.parametrize("end_token", [None, 2])
def test_beam_size_one_is_greedy(end_token):
    vocab, max_length = 4, 6
    model = HistoryModel(vocab, batch=5, seed=4)
    starts = np.array([0, 1, 2, 3, 0], "int32")
    greedy, greedy_scores = greedy_search(
        model.step_fn, starts, model.state(), max_length, end_token=end_token
    )
    beam, beam_scores = beam_search(
        model.step_fn,
        starts,
        model.state(),
        max_length,
        beam_size=1,
        end_token=end_token,
    )
    np.testing.assert_array_equal(to_np(beam), to_np(greedy))
    np.testing.assert_allclose(to_np(beam_scores), to_np(greedy_scores), rtol=1e-5)
    for item, start in enumerate(starts):
        expected, score = reference_greedy(
            lambda prefix, item=item, start=start: model.logits(item, start, prefix),
            max_length,
            end_token,
        )
        np.testing.assert_array_equal(to_np(greedy)[item], expected)
        np.testing.assert_allclose(to_np(greedy_scores)[item], score, rtol=1e-4)


BAD_ARGUMENTS = [
    ("beam", {"beam_size": 0}, ValueError, "beam_size"),
    ("beam", {"beam_size": 2.5}, ValueError, "beam_size"),
    ("beam", {"beam_size": True}, ValueError, "beam_size"),
    ("beam", {"length_penalty": "long"}, ValueError, "length_penalty"),
    ("beam", {"length_penalty": float("nan")}, ValueError, "length_penalty"),
    ("beam", {"return_all_beams": 1}, TypeError, "return_all_beams"),
]


@pytest.mark.parametrize(
    "decoder, kwargs, error, name", bad_argument_params(BAD_ARGUMENTS)
)
def test_bad_arguments_raise_naming_the_argument(decoder, kwargs, error, name):
    check_raises_naming(decoder, kwargs, error, name)
