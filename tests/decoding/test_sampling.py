"""Sampling (keras_attention.decoding.sampling): seeds, temperature, top-k
and top-p against the filtered distributions."""

import keras
import numpy as np
import pytest
from decoding_models import (
    HistoryModel,
    bad_argument_params,
    check_raises_naming,
    log_softmax,
    to_np,
)
from keras import ops

from keras_attention.decoding import greedy_search, sample


def test_degenerate_sampling_is_greedy():
    """A tiny temperature, `top_k=1` or a tiny `top_p` leave one token."""
    vocab, max_length = 6, 7
    model = HistoryModel(vocab, batch=6, seed=5)
    starts = np.arange(6, dtype="int32") % vocab
    greedy, greedy_scores = greedy_search(
        model.step_fn, starts, model.state(), max_length, end_token=1
    )
    for options in (
        {"temperature": 1e-6},
        {"top_k": 1},
        {"top_p": 1e-6},
        {"top_k": 1, "temperature": 3.0, "top_p": 0.9},
    ):
        tokens, scores = sample(
            model.step_fn,
            starts,
            model.state(),
            max_length,
            end_token=1,
            seed=3,
            **options,
        )
        np.testing.assert_array_equal(to_np(tokens), to_np(greedy), err_msg=options)
        np.testing.assert_allclose(to_np(scores), to_np(greedy_scores), rtol=1e-5)


def test_sampling_is_deterministic_with_a_seed():
    vocab, max_length = 8, 6
    model = HistoryModel(vocab, batch=16, seed=6, sharpness=0.5)
    starts = np.zeros(16, "int32")

    def run(seed, **kwargs):
        out = sample(
            model.step_fn, starts, model.state(), max_length, seed=seed, **kwargs
        )
        return tuple(to_np(x) for x in out)

    first, again, other = run(11), run(11), run(12)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_allclose(first[1], again[1])
    assert not np.array_equal(first[0], other[0])
    # Scores are the model's log-probabilities of the drawn tokens.
    for item in range(3):
        tokens = list(first[0][item])
        expected = sum(
            log_softmax(model.logits(item, 0, tokens[:i]))[tokens[i]]
            for i in range(max_length)
        )
        np.testing.assert_allclose(first[1][item], expected, rtol=1e-4)
    # A generator advances between calls; the same generator seed replays.
    generator = keras.random.SeedGenerator(5)
    a = run(generator)[0]
    b = run(generator)[0]
    replay = run(keras.random.SeedGenerator(5))[0]
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(a, replay)
    # Different steps use different random streams.
    assert len({tuple(column) for column in first[0].T}) > 1


def filtered_probs(logits, temperature=1.0, top_k=None, top_p=None):
    logits = np.asarray(logits, "float64") / temperature
    if top_k is not None:
        logits = np.where(logits < np.sort(logits)[-top_k], -np.inf, logits)
    probs = np.exp(log_softmax(logits))
    if top_p is not None:
        order = np.argsort(-probs)
        before = np.cumsum(probs[order]) - probs[order]
        keep = np.zeros_like(probs, bool)
        keep[order[before < top_p]] = True
        probs = np.where(keep, probs, 0.0)
        probs /= probs.sum()
    return probs


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"temperature": 2.0},
        {"top_k": 3},
        {"top_p": 0.7},
        {"temperature": 0.7, "top_k": 4, "top_p": 0.8},
    ],
    ids=["plain", "hot", "top_k", "top_p", "all"],
)
def test_first_token_frequencies_match_the_distribution(options):
    rows, logits = 4000, np.array([1.0, 0.2, -0.5, 1.6, 0.0, -1.0], "float32")

    def step_fn(tokens, state, index):
        row = ops.convert_to_tensor(logits)
        return ops.expand_dims(ops.cast(tokens, "float32") * 0, 1) + row, state

    tokens, _ = sample(
        step_fn, np.zeros(rows, "int32"), None, max_length=1, seed=42, **options
    )
    counts = np.bincount(to_np(tokens)[:, 0], minlength=len(logits))
    probs = filtered_probs(logits, **options)
    assert np.all(counts[probs == 0] == 0), (counts, probs)
    expected = rows * probs[probs > 0]
    chi2 = np.sum((counts[probs > 0] - expected) ** 2 / expected)
    assert chi2 < 30.0, (counts, expected)  # df <= 5; p < 2e-5


def test_top_k_and_top_p_never_leave_their_set():
    rows, vocab = 2000, 12
    rng = np.random.default_rng(7)
    table = rng.normal(size=(rows, vocab)).astype("float32") * 2

    def step_fn(tokens, state, index):
        return state["logits"], state

    state = {"logits": ops.convert_to_tensor(table)}
    starts = np.zeros(rows, "int32")
    tokens, _ = sample(step_fn, starts, state, 1, top_k=3, seed=1)
    tokens = to_np(tokens)[:, 0]
    top3 = np.argsort(-table, axis=-1)[:, :3]
    assert np.all((top3 == tokens[:, None]).any(-1))
    assert len(np.unique(tokens)) > 3 and np.mean(tokens != top3[:, 0]) > 0.1

    tokens, _ = sample(step_fn, starts, state, 1, top_p=0.6, seed=2)
    tokens = to_np(tokens)[:, 0]
    probs = np.exp(log_softmax(table))
    for row, token in enumerate(tokens):
        assert filtered_probs(table[row], top_p=0.6)[token] > 0, (row, probs[row])


BAD_ARGUMENTS = [
    ("sample", {"temperature": 0.0}, ValueError, "temperature"),
    ("sample", {"temperature": -1.0}, ValueError, "temperature"),
    ("sample", {"top_k": 0}, ValueError, "top_k"),
    ("sample", {"top_p": 0.0}, ValueError, "top_p"),
    ("sample", {"top_p": 1.5}, ValueError, "top_p"),
    ("sample", {"seed": "seed"}, TypeError, "seed"),
]


@pytest.mark.parametrize(
    "decoder, kwargs, error, name", bad_argument_params(BAD_ARGUMENTS)
)
def test_bad_arguments_raise_naming_the_argument(decoder, kwargs, error, name):
    check_raises_naming(decoder, kwargs, error, name)
