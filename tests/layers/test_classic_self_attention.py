"""The classic single-head forms of SelfAttention (layers/classic_self_attention.py).

`score="additive"`, `"general"`/`"multiplicative"` and `"dot"`: checked against
NumPy and Keras' own `Attention`.
"""

import functools

import keras
import numpy as np
import pytest
from harness import CHECKS, LayerCase, run_check, to_numpy
from self_attention_helpers import SEQUENCE, padding, random_sequence

from keras_attention import SelfAttention

CASES = [
    LayerCase(
        SelfAttention,
        {"score": "additive", "units": 5, "window": 2},
        SEQUENCE,
        scores=True,
        mask_inputs=("inputs",),
        id="additive-window",
    ),
    LayerCase(
        SelfAttention,
        {"score": "general", "use_causal_mask": True},
        SEQUENCE,
        scores=True,
        mask_inputs=("inputs",),
        id="general-causal",
    ),
]


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_keras_contract(case, check, tmp_path):
    run_check(case, check, tmp_path)


RNG = np.random.default_rng(0)
_sequence = functools.partial(random_sequence, RNG)


def _numpy_attention(scores, values, allowed):
    """Masked softmax (zeros for fully masked rows) and the weighted values."""
    scores = np.where(allowed, scores, -np.inf)
    top = np.max(scores, axis=-1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    weights = np.where(allowed, np.exp(scores - top), 0.0)
    total = weights.sum(-1, keepdims=True)
    weights = weights / np.where(total > 0, total, 1.0)
    return weights @ values, weights


def _allowed(length, mask=None, causal=False, window=None):
    i = np.arange(length)[:, None]
    j = np.arange(length)[None, :]
    allowed = np.ones((length, length), bool)
    if causal:
        allowed &= j <= i
    if window is not None:
        allowed &= (j > i - window) if causal else (np.abs(i - j) <= window)
    allowed = allowed[None]
    if mask is not None:
        allowed = allowed & mask[:, :, None] & mask[:, None, :]
    return allowed


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("window", [None, 2])
def test_additive_equals_numpy(causal, window):
    x, mask = _sequence(), padding()
    layer = SelfAttention(
        score="additive", units=5, window=window, use_causal_mask=causal
    )
    layer(x)
    inner = layer._attention
    inner.bias.assign(RNG.normal(size=(5,)).astype("float32"))
    got, weights = layer(x, mask=mask, return_attention_scores=True)
    w_q, w_k = to_numpy(inner.query_kernel), to_numpy(inner.key_kernel)
    v, b = to_numpy(inner.attention_v), to_numpy(inner.bias)
    hidden = (x @ w_q)[:, :, None, :] + (x @ w_k)[:, None, :, :] + b
    scores = np.tanh(hidden) @ v
    allowed = _allowed(7, mask, causal, window)
    expected, expected_w = _numpy_attention(scores, x, allowed)
    np.testing.assert_allclose(to_numpy(got), expected, atol=1e-5)
    np.testing.assert_allclose(to_numpy(weights)[:, 0], expected_w, atol=1e-6)


@pytest.mark.parametrize("score", ["general", "multiplicative", "dot"])
def test_multiplicative_equals_numpy(score):
    x, mask = _sequence(), padding()
    layer = SelfAttention(score=score, window=3, use_causal_mask=True)
    got, weights = layer(x, mask=mask, return_attention_scores=True)
    kernel = to_numpy(layer._attention.kernel) if score != "dot" else np.eye(16)
    scores = np.einsum("bid,de,bje->bij", x, kernel, x)
    expected, expected_w = _numpy_attention(scores, x, _allowed(7, mask, True, 3))
    np.testing.assert_allclose(to_numpy(got), expected, atol=1e-4)
    np.testing.assert_allclose(to_numpy(weights)[:, 0], expected_w, atol=1e-5)


def test_dot_equals_keras_attention():
    x = _sequence()
    expected = keras.layers.Attention()([x, x], use_causal_mask=True)
    got = SelfAttention(score="dot")(x, use_causal_mask=True)
    np.testing.assert_allclose(to_numpy(got), to_numpy(expected), atol=1e-5)


def test_a_finite_bias_is_added_to_the_scores():
    x = _sequence(length=5, dim=8)
    layer = SelfAttention(score="dot")
    bias = RNG.normal(size=(5, 5)).astype("float32")
    _, weights = layer(x, attention_bias=bias, return_attention_scores=True)
    scores = np.einsum("btd,bsd->bts", x, x) + bias
    expected = np.exp(scores - scores.max(-1, keepdims=True))
    expected /= expected.sum(-1, keepdims=True)
    np.testing.assert_allclose(to_numpy(weights)[:, 0], expected, atol=1e-5)
