"""Each score function against a NumPy transcription of the paper's formula."""

import numpy as np
from keras import ops

from keras_attention.core import (
    additive_score,
    dot_score,
    general_score,
    location_score,
    scaled_dot_score,
)

RNG = np.random.default_rng(0)
B, TQ, TK, DQ, DK, UNITS = 2, 3, 4, 5, 6, 7
H_T = RNG.normal(size=(B, TQ, DQ)).astype("float32")  # decoder states
H_S = RNG.normal(size=(B, TK, DK)).astype("float32")  # encoder states
H_S_SAME = RNG.normal(size=(B, TK, DQ)).astype("float32")


def np_(x):
    return ops.convert_to_numpy(x)


def loop_scores(fn, queries, keys):
    """score[b, t, s] = fn(h_t, h_s), one pair at a time, as in the papers."""
    out = np.zeros((queries.shape[0], queries.shape[1], keys.shape[1]))
    for b in range(queries.shape[0]):
        for t in range(queries.shape[1]):
            for s in range(keys.shape[1]):
                out[b, t, s] = fn(queries[b, t], keys[b, s])
    return out


def test_dot_score():
    expected = loop_scores(lambda h_t, h_s: h_t @ h_s, H_T, H_S_SAME)
    np.testing.assert_allclose(np_(dot_score(H_T, H_S_SAME)), expected, rtol=1e-5)


def test_scaled_dot_score():
    expected = loop_scores(lambda q, k: q @ k / np.sqrt(DQ), H_T, H_S_SAME)
    got = np_(scaled_dot_score(H_T, H_S_SAME))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    got = np_(scaled_dot_score(H_T, H_S_SAME, scale=0.5))
    np.testing.assert_allclose(got, expected * np.sqrt(DQ) * 0.5, rtol=1e-5)


def test_general_score():
    w_a = RNG.normal(size=(DQ, DK)).astype("float32")
    expected = loop_scores(lambda h_t, h_s: h_t @ w_a @ h_s, H_T, H_S)
    got = np_(general_score(H_T, H_S, w_a))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_additive_score_is_bahdanau_and_luong_concat():
    w_q = RNG.normal(size=(DQ, UNITS)).astype("float32")
    w_k = RNG.normal(size=(DK, UNITS)).astype("float32")
    bias = RNG.normal(size=(UNITS,)).astype("float32")
    v = RNG.normal(size=(UNITS,)).astype("float32")

    # Bahdanau et al. (2015), eq. (A.1 / 6): e = v^T tanh(W s + U h (+ b)).
    expected = loop_scores(lambda q, k: v @ np.tanh(q @ w_q + k @ w_k + bias), H_T, H_S)
    got = np_(additive_score(H_T, H_S, v, query_kernel=w_q, key_kernel=w_k, bias=bias))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)

    # Luong et al. (2015) concat: v_a^T tanh(W_a [h_t; h_s]), W_a stacked.
    w_a = np.concatenate([w_q, w_k], axis=0)
    expected = loop_scores(
        lambda q, k: v @ np.tanh(np.concatenate([q, k]) @ w_a), H_T, H_S
    )
    got = np_(additive_score(H_T, H_S, v, query_kernel=w_q, key_kernel=w_k))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_location_score():
    max_length = 9
    w_a = RNG.normal(size=(DQ, max_length)).astype("float32")
    # Luong et al. (2015), eq. (8): a_t = softmax(W_a h_t), one score per
    # source position; here the first TK positions.
    expected = np.einsum("btd,dl->btl", H_T, w_a)[..., :TK]
    got = np_(location_score(H_T, w_a, TK))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_scores_are_float32_for_half_inputs():
    half = ops.cast(H_T, "float16")
    for scores in (dot_score(half, half), scaled_dot_score(half, half)):
        assert str(ops.convert_to_numpy(scores).dtype) == "float32"
