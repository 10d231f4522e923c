"""Toy step functions and exact NumPy references for the decoding tests
(tests/test_decoding.py and tests/decoding/).

The toy models are step functions over hand-built tables: a Markov chain
where greedy decoding is provably suboptimal, and a "history" model whose
logits depend on a hash of every previous token (carried in the state, like
an RNN state), on per-item encoder rows and on the step index, so that a
beam or batch reordering bug changes the result.
"""

import itertools

import keras
import numpy as np
import pytest
from keras import ops

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


# From token 0: 1 (0.5) or 2 (0.4). From 1 nothing is likely; from 2, 2 is.
CHAIN = np.log(
    [[0.1, 0.5, 0.4], [0.3, 0.3, 0.4], [0.05, 0.05, 0.9]],
)


DECODERS = {
    "greedy": lambda *a, **k: greedy_search(*a, **k),
    "beam": lambda *a, **k: beam_search(*a, beam_size=2, **k),
    "sample_top_k_1": lambda *a, **k: sample(*a, top_k=1, seed=0, **k),
}


# --------------------------------------------------------------------------
# Bad arguments: `(decoder, kwargs, error, name)` cases, each a call on the
# Markov chain that must raise `error` with a message naming `name`.
# --------------------------------------------------------------------------


def bad_argument_params(cases):
    """`pytest.param`s of `cases`, with ids `decoder-name-i`."""
    return [
        pytest.param(*case, id=f"{case[0]}-{case[3]}-{i}")
        for i, case in enumerate(cases)
    ]


def check_raises_naming(decoder, kwargs, error, name):
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
