"""Greedy search, beam search and sampling against exact NumPy references.

The toy models are step functions over hand-built tables: a Markov chain
where greedy decoding is provably suboptimal, and a "history" model whose
logits depend on a hash of every previous token (carried in the state, like
an RNN state), on per-item encoder rows and on the step index, so that a
beam or batch reordering bug changes the result. Beam search with a beam as
large as the number of hypotheses must match brute-force enumeration.
"""

import inspect
import itertools
import re

import keras
import numpy as np
import pytest
from keras import ops

from keras_attention import decoding
from keras_attention.decoding import beam_search, greedy_search, sample

BACKEND = keras.backend.backend()
HASH = 97  # size of the history-hash table of the toy model


def to_np(x):
    return ops.convert_to_numpy(x)


def log_softmax(x):
    x = np.asarray(x, "float64")
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def penalty(length, alpha):
    return ((5.0 + length) / 6.0) ** alpha


# --------------------------------------------------------------------------
# Toy models and their NumPy references.
# --------------------------------------------------------------------------


def markov_step(table):
    """`logits = table[previous token]`: a Markov chain."""
    table = ops.convert_to_tensor(np.asarray(table, "float32"))

    def step_fn(tokens, state, index):
        return ops.take(table, tokens, axis=0), state

    return step_fn


class HistoryModel:
    """Logits from a hash of the whole prefix, encoder rows and the step.

    The state is `{"h": (batch,) int32 running hash, "enc": (batch, T, V),
    "count": (batch,) int32 step counter}`; the logits are
    `table[h] + enc[b, index % T] + 100 * (count - index)`: a counter that is
    not threaded through the steps changes every logit.
    """

    def __init__(self, vocab, batch, time=3, seed=0, sharpness=1.5):
        rng = np.random.default_rng(seed)
        self.vocab, self.time = vocab, time
        self.table = rng.normal(size=(HASH, vocab)).astype("float32") * sharpness
        self.enc = rng.normal(size=(batch, time, vocab)).astype("float32")

    def state(self, rows=None):
        enc = self.enc if rows is None else self.enc[rows]
        batch = enc.shape[0]
        return {
            "h": ops.zeros((batch,), "int32"),
            "enc": ops.convert_to_tensor(enc),
            "count": ops.zeros((batch,), "int32"),
        }

    def step_fn(self, tokens, state, index):
        table = ops.convert_to_tensor(self.table)
        h = ops.mod(state["h"] * 31 + tokens + 1, HASH)
        enc, count = state["enc"], state["count"]
        by_index = ops.take(enc, ops.mod(index, self.time), axis=1)
        drift = ops.expand_dims(ops.cast(count - index, "float32"), 1) * 100.0
        logits = ops.take(table, h, axis=0) + by_index + drift
        return logits, {"h": h, "enc": enc, "count": count + 1}

    def logits(self, item, start, prefix):
        h = 0
        for token in [start, *prefix]:
            h = (h * 31 + token + 1) % HASH
        i = len(prefix)
        return self.table[h] + self.enc[item, i % self.time]


def brute_force(logits_fn, vocab, max_length, end_token=None, alpha=0.0, pad=0):
    """Best hypothesis by exhaustive enumeration: (tokens, penalised score)."""
    best_tokens, best_score, seen = None, -np.inf, set()
    for sequence in itertools.product(range(vocab), repeat=max_length):
        sequence = list(sequence)
        if end_token is not None and end_token in sequence:
            sequence = sequence[: sequence.index(end_token) + 1]
        if tuple(sequence) in seen:
            continue
        seen.add(tuple(sequence))
        raw = sum(
            log_softmax(logits_fn(sequence[:i]))[token]
            for i, token in enumerate(sequence)
        )
        score = raw / penalty(len(sequence), alpha)
        if score > best_score:
            padded = sequence + [pad] * (max_length - len(sequence))
            best_tokens, best_score = padded, score
    return np.array(best_tokens), best_score


def reference_greedy(logits_fn, max_length, end_token=None, pad=0):
    tokens, score = [], 0.0
    for _ in range(max_length):
        log_probs = log_softmax(logits_fn(tokens))
        token = int(np.argmax(log_probs))
        tokens.append(token)
        score += log_probs[token]
        if token == end_token:
            break
    return np.array(tokens + [pad] * (max_length - len(tokens))), score


def index_model(vocab):
    """Emits `(offset + index + count) % vocab` with certainty: `offset` and a
    step counter live in the state (with a list and a `None` leaf)."""

    def step_fn(tokens, state, index):
        offset, (count,), nothing = state["offset"], state["extra"], state["none"]
        assert nothing is None
        target = ops.mod(offset + index + count, vocab)
        logits = ops.one_hot(target, vocab) * 20.0
        return logits, {"offset": offset, "extra": [count + 1], "none": None}

    def state(offsets):
        offsets = ops.convert_to_tensor(np.asarray(offsets, "int32"))
        return {"offset": offsets, "extra": (offsets * 0,), "none": None}

    return step_fn, state


def expected_index_tokens(offsets, vocab, max_length, end_token, pad):
    rows = []
    for offset in offsets:
        row = []
        for i in range(max_length):
            token = (offset + 2 * i) % vocab
            row.append(token)
            if token == end_token:
                break
        rows.append(row + [pad] * (max_length - len(row)))
    return np.array(rows)


def counting(step_fn):
    """Wrap `step_fn` to record the step indices it is run with."""
    calls = []
    if BACKEND == "jax":
        import jax

        def wrapped(tokens, state, index):
            jax.debug.callback(lambda i: calls.append(int(i)), index)
            return step_fn(tokens, state, index)

        def read():
            jax.effects_barrier()
            return calls

    else:

        def wrapped(tokens, state, index):
            calls.append(int(to_np(index)))
            return step_fn(tokens, state, index)

        def read():
            return calls

    return wrapped, read


# --------------------------------------------------------------------------
# Beam search finds the best sequence.
# --------------------------------------------------------------------------

# From token 0: 1 (0.5) or 2 (0.4). From 1 nothing is likely; from 2, 2 is.
CHAIN = np.log(
    [[0.1, 0.5, 0.4], [0.3, 0.3, 0.4], [0.05, 0.05, 0.9]],
)


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


# --------------------------------------------------------------------------
# End tokens, padding, early stopping and the threaded state.
# --------------------------------------------------------------------------

DECODERS = {
    "greedy": lambda *a, **k: greedy_search(*a, **k),
    "beam": lambda *a, **k: beam_search(*a, beam_size=2, **k),
    "sample_top_k_1": lambda *a, **k: sample(*a, top_k=1, seed=0, **k),
}


@pytest.mark.skipif(
    BACKEND != "torch",
    reason="only eager PyTorch records an autograd graph in a forward loop; JAX "
    "and TensorFlow record nothing outside a gradient transformation or tape",
)
@pytest.mark.parametrize("decoder", sorted(DECODERS))
def test_decoding_keeps_no_autograd_graph_across_steps(decoder):
    # A trainable weight in the step: without the cut, the state of step t
    # would carry the autograd graph of every step before it.
    weight = keras.Variable(np.full((3, 3), 0.5, "float32"))
    received, recorded = [], []

    def step_fn(tokens, state, index):
        received.append(state["h"].requires_grad)
        h = ops.tanh(ops.matmul(state["h"], weight))
        # The loop runs under torch.no_grad: not even one step's graph is
        # recorded.
        recorded.append(h.requires_grad)
        return ops.matmul(h, weight), {"h": h}

    start = np.zeros((2,), "int32")
    tokens, scores = DECODERS[decoder](
        step_fn, start, {"h": np.ones((2, 3), "float32")}, 5
    )
    assert len(received) >= 5 and not any(received)
    assert len(recorded) == len(received) and not any(recorded)
    assert not scores.requires_grad and not tokens.requires_grad
    # Gradient recording is back on after decoding.
    assert ops.matmul(ops.ones((2, 3)), weight).requires_grad


@pytest.mark.parametrize("decoder", sorted(DECODERS))
def test_end_token_padding_and_early_stop(decoder):
    """Items end at steps 4, 1, 3 and 2; everything after is padding, and
    the loop stops after the step where the last item ends."""
    vocab, max_length, end_token, pad = 10, 12, 7, 9
    offsets = [9, 5, 1, 3]  # (offset + 2 * i) % 10 == 7 at i = 4, 1, 3, 2
    step_fn, make_state = index_model(vocab)
    counted, calls = counting(step_fn)
    tokens, scores = DECODERS[decoder](
        counted,
        np.zeros(4, "int32"),
        make_state(offsets),
        max_length,
        end_token=end_token,
        pad_token=pad,
    )
    expected = expected_index_tokens(offsets, vocab, max_length, end_token, pad)
    np.testing.assert_array_equal(to_np(tokens), expected)
    assert to_np(tokens).dtype == np.int32
    assert calls() == [0, 1, 2, 3, 4]
    np.testing.assert_allclose(to_np(scores), 0.0, atol=1e-5)


@pytest.mark.parametrize("decoder", sorted(DECODERS))
def test_no_end_token_runs_max_length(decoder):
    vocab, max_length = 10, 6
    step_fn, make_state = index_model(vocab)
    counted, calls = counting(step_fn)
    offsets = [0, 4, 7]
    tokens, _ = DECODERS[decoder](
        counted, np.zeros(3, "int32"), make_state(offsets), max_length
    )
    expected = expected_index_tokens(offsets, vocab, max_length, None, 0)
    np.testing.assert_array_equal(to_np(tokens), expected)
    assert calls() == list(range(max_length))


def test_finished_sequences_keep_their_score():
    """Scores stop at the end token; positions after it hold `pad_token`."""
    tokens, scores = greedy_search(
        markov_step(CHAIN),
        ops.array([1, 0], "int32"),
        None,
        4,
        end_token=2,
        pad_token=1,
    )
    np.testing.assert_array_equal(to_np(tokens), [[2, 1, 1, 1], [1, 2, 1, 1]])
    np.testing.assert_allclose(
        to_np(scores), [np.log(0.4), np.log(0.5) + np.log(0.4)], rtol=1e-5
    )


# --------------------------------------------------------------------------
# Sampling.
# --------------------------------------------------------------------------


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


# --------------------------------------------------------------------------
# Compiled decoding equals eager decoding.
# --------------------------------------------------------------------------


def _decode_all(model, max_length):
    def run(starts, h, enc, count):
        state = {"h": h, "enc": enc, "count": count}
        greedy = greedy_search(model.step_fn, starts, state, max_length, end_token=2)
        beam = beam_search(
            model.step_fn,
            starts,
            state,
            max_length,
            beam_size=3,
            end_token=2,
            length_penalty=0.6,
            return_all_beams=True,
        )
        sampled = sample(
            model.step_fn,
            starts,
            state,
            max_length,
            end_token=2,
            temperature=0.7,
            top_k=4,
            top_p=0.9,
            seed=3,
        )
        return (*greedy, *beam, *sampled)

    return run


def sequence_log_prob(model, item, start, tokens, end_token):
    """The model's log-probability of `tokens` up to the end token."""
    tokens = list(tokens)
    if end_token in tokens:
        tokens = tokens[: tokens.index(end_token) + 1]
    return sum(
        log_softmax(model.logits(item, start, tokens[:i]))[token]
        for i, token in enumerate(tokens)
    )


def _check_compiled(compile_fn, same_random_stream=True):
    """Greedy, beam search and sampling compiled as one function of the
    state tensors give the eager results. TensorFlow's XLA kernel of
    `stateless_categorical` draws a different stream than its eager one:
    there the samples must only be reproducible and scored correctly."""
    vocab, max_length = 5, 6
    model = HistoryModel(vocab, batch=3, seed=8)
    state = model.state()
    starts = np.array([0, 3, 4], "int32")
    args = (
        ops.convert_to_tensor(starts),
        state["h"],
        state["enc"],
        state["count"],
    )
    run = _decode_all(model, max_length)
    eager = [to_np(x) for x in run(*args)]
    compiled_fn = compile_fn(run)
    compiled = [to_np(x) for x in compiled_fn(*args)]
    if not same_random_stream:
        again = [to_np(x) for x in compiled_fn(*args)]
        np.testing.assert_array_equal(compiled[4], again[4])
        for item, start in enumerate(starts):
            expected = sequence_log_prob(model, item, start, compiled[4][item], 2)
            np.testing.assert_allclose(compiled[5][item], expected, rtol=1e-4)
        eager, compiled = eager[:4], compiled[:4]
    for a, b in zip(eager, compiled, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        if a.dtype == np.int32:
            np.testing.assert_array_equal(a, b)
        else:
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(
    BACKEND != "jax",
    reason="checks jax.jit compilation, which exists only on the JAX backend",
)
def test_jax_jit_equals_eager():
    import jax

    _check_compiled(jax.jit)


@pytest.mark.skipif(
    BACKEND != "tensorflow",
    reason="checks tf.function tracing, which exists only on the TensorFlow backend",
)
@pytest.mark.parametrize("jit_compile", [True, False])
def test_tf_function_equals_eager(jit_compile):
    import tensorflow as tf

    _check_compiled(
        lambda fn: tf.function(fn, jit_compile=jit_compile),
        same_random_stream=not jit_compile,
    )


@pytest.mark.skipif(
    BACKEND != "tensorflow",
    reason="checks tf.function tracing, which exists only on the TensorFlow backend",
)
def test_tf_function_with_unknown_batch_size():
    import tensorflow as tf

    model = HistoryModel(4, batch=3, seed=9)
    state = model.state()
    specs = [
        tf.TensorSpec([None], tf.int32),
        tf.TensorSpec([None], tf.int32),
        tf.TensorSpec([None, 3, 4], tf.float32),
        tf.TensorSpec([None], tf.int32),
    ]
    run = _decode_all(model, 5)
    args = (np.array([0, 1, 3], "int32"), state["h"], state["enc"], state["count"])
    eager = [to_np(x) for x in run(*args)]
    graph = [to_np(x) for x in tf.function(run, input_signature=specs)(*args)]
    for a, b in zip(eager, graph, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------
# Arguments.
# --------------------------------------------------------------------------


def _shape_changing_step(tokens, state, index):
    return ops.one_hot(tokens, 3), ops.concatenate([state, state], axis=0)


def _structure_changing_step(tokens, state, index):
    return ops.one_hot(tokens, 3), {"other": state["h"]}


BAD_ARGUMENTS = [
    ("beam", {"beam_size": 0}, ValueError, "beam_size"),
    ("beam", {"beam_size": 2.5}, ValueError, "beam_size"),
    ("beam", {"beam_size": True}, ValueError, "beam_size"),
    ("beam", {"length_penalty": "long"}, ValueError, "length_penalty"),
    ("beam", {"length_penalty": float("nan")}, ValueError, "length_penalty"),
    ("beam", {"return_all_beams": 1}, TypeError, "return_all_beams"),
    ("greedy", {"max_length": 0}, ValueError, "max_length"),
    ("greedy", {"max_length": 3.0}, ValueError, "max_length"),
    ("greedy", {"end_token": -1}, ValueError, "end_token"),
    ("greedy", {"end_token": 3}, ValueError, "end_token"),
    ("beam", {"end_token": 5}, ValueError, "end_token"),
    ("greedy", {"pad_token": None}, ValueError, "pad_token"),
    ("sample", {"temperature": 0.0}, ValueError, "temperature"),
    ("sample", {"temperature": -1.0}, ValueError, "temperature"),
    ("sample", {"top_k": 0}, ValueError, "top_k"),
    ("sample", {"top_p": 0.0}, ValueError, "top_p"),
    ("sample", {"top_p": 1.5}, ValueError, "top_p"),
    ("sample", {"seed": "seed"}, TypeError, "seed"),
    ("sample", {"step_fn": None}, TypeError, "step_fn"),
    ("greedy", {"start_tokens": np.zeros((2, 1), "int32")}, ValueError, "start_tokens"),
    ("greedy", {"start_tokens": np.zeros(2, "float32")}, TypeError, "start_tokens"),
    ("greedy", {"step_fn": _shape_changing_step}, ValueError, "step_fn"),
    (
        "beam",
        {"step_fn": _structure_changing_step, "state": {"h": np.zeros(2, "float32")}},
        ValueError,
        "step_fn",
    ),
]


@pytest.mark.parametrize(
    "decoder, kwargs, error, name",
    BAD_ARGUMENTS,
    ids=[f"{d}-{n}-{i}" for i, (d, _, _, n) in enumerate(BAD_ARGUMENTS)],
)
def test_bad_arguments_raise_naming_the_argument(decoder, kwargs, error, name):
    functions = {"greedy": greedy_search, "beam": beam_search, "sample": sample}
    arguments = {
        "step_fn": markov_step(CHAIN),
        "start_tokens": np.zeros(2, "int32"),
        "state": ops.zeros((2, 1)),
        "max_length": 3,
    }
    arguments.update(kwargs)
    with pytest.raises(error, match=f"`{name}`"):
        functions[decoder](**arguments)


# --------------------------------------------------------------------------
# Documentation.
# --------------------------------------------------------------------------

FENCE = re.compile(r"```python\n(.*?)```", re.DOTALL)


def test_public_functions_have_complete_docstrings():
    for name in decoding.__all__:
        doc = inspect.getdoc(getattr(decoding, name))
        for section in ("Args:", "Returns:", "Example:", "```python"):
            assert section in doc, f"{name}'s docstring lacks {section!r}"


@pytest.mark.parametrize(
    "code",
    [
        pytest.param(block, id=f"{name}-{i}")
        for name in decoding.__all__
        for i, block in enumerate(
            FENCE.findall(inspect.getdoc(getattr(decoding, name)))
        )
    ],
)
def test_docstring_example_runs(code, capsys):
    exec(compile(code, "<docstring example>", "exec"), {})
    assert capsys.readouterr().out
