import keras
import numpy as np
import pytest
from harness import CHECKS, LayerCase, run_check, to_numpy

from keras_attention import LuongAttention, MultiplicativeAttention

QV = {"query": (2, 5, 4), "value": (2, 7, 4)}
CASES = [
    LayerCase(
        MultiplicativeAttention,
        {"score": "dot"},
        QV,
        scores=True,
        mask_inputs=("query", "value"),
        id="dot",
    ),
    LayerCase(
        MultiplicativeAttention,
        {"score": "scaled_dot", "use_scale": True, "dropout": 0.1},
        {"query": (2, 5, 4), "value": (2, 7, 3), "key": (2, 7, 4)},
        scores=True,
        mask_inputs=("query", "value", "key"),
        id="scaled_dot-key",
    ),
    LayerCase(
        MultiplicativeAttention,
        {"score": "general"},
        {"query": (2, 5, 6), "value": (2, 7, 3)},
        scores=True,
        mask_inputs=("query", "value"),
        id="general",
    ),
    LayerCase(
        MultiplicativeAttention,
        {"score": "concat", "units": 5, "query_chunk_size": 2},
        {"query": (2, 6), "value": (2, 7, 3)},
        scores=True,
        mask_inputs=("value",),
        id="concat-single-step",
    ),
    LayerCase(
        MultiplicativeAttention,
        {"score": "location", "max_length": 9},
        QV,
        call_kwargs={"use_causal_mask": True},
        scores=True,
        mask_inputs=("query", "value"),
        id="location-causal",
    ),
]


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_keras_contract(case, check, tmp_path):
    run_check(case, check, tmp_path)


RNG = np.random.default_rng(0)


def _data(tq=5, tk=7, d=4):
    query = RNG.normal(size=(2, tq, d)).astype("float32")
    value = RNG.normal(size=(2, tk, d)).astype("float32")
    mask = np.ones((2, tk), bool)
    mask[0, -3:] = False
    return query, value, mask


@pytest.mark.parametrize("use_scale", [False, True])
def test_dot_equals_keras_attention(use_scale):
    query, value, mask = _data()
    ours = MultiplicativeAttention("dot", use_scale=use_scale)
    theirs = keras.layers.Attention(use_scale=use_scale)
    expected, expected_w = theirs(
        [query, value], mask=[None, mask], return_attention_scores=True
    )
    got, got_w = ours(query, value, value_mask=mask, return_attention_scores=True)
    if use_scale:  # same learned scalar, moved away from its initial 1.0
        theirs.scale.assign(0.37)
        ours.scale.assign(0.37)
        expected, expected_w = theirs(
            [query, value], mask=[None, mask], return_attention_scores=True
        )
        got, got_w = ours(query, value, value_mask=mask, return_attention_scores=True)
    np.testing.assert_allclose(to_numpy(got), to_numpy(expected), atol=1e-5)
    np.testing.assert_allclose(to_numpy(got_w), to_numpy(expected_w), atol=1e-6)
    # The fused path (no weights requested) agrees too.
    fused = ours(query, value, value_mask=mask)
    np.testing.assert_allclose(to_numpy(fused), to_numpy(expected), atol=1e-5)


def test_causal_and_query_mask_equal_keras_attention():
    query, value, mask = _data(tq=6, tk=6)
    query_mask = np.ones((2, 6), bool)
    query_mask[1, -2:] = False
    ours = MultiplicativeAttention("dot")
    theirs = keras.layers.Attention()
    expected = theirs([query, value], mask=[query_mask, mask], use_causal_mask=True)
    got = ours(
        query, value, query_mask=query_mask, value_mask=mask, use_causal_mask=True
    )
    # Keras zeroes masked query steps too.
    np.testing.assert_allclose(to_numpy(got), to_numpy(expected), atol=1e-5)


def _np_softmax(scores, mask):
    scores = np.where(mask, scores, -np.inf)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    return weights / weights.sum(-1, keepdims=True)


@pytest.mark.parametrize(
    "score", ["dot", "scaled_dot", "general", "concat", "location"]
)
def test_layer_matches_numpy_luong(score):
    query, value, mask = _data()
    layer = MultiplicativeAttention(score, use_scale=True, units=3, max_length=9)
    layer(query, value)
    layer.scale.assign(1.7)
    h_t, h_s = query, value
    if score == "dot":
        scores = np.einsum("btd,bsd->bts", h_t, h_s)
    elif score == "scaled_dot":
        scores = np.einsum("btd,bsd->bts", h_t, h_s) / 2.0
    elif score == "general":
        w_a = to_numpy(layer.kernel)
        scores = np.einsum("btd,de,bse->bts", h_t, w_a, h_s)
    elif score == "concat":
        w_q, w_k = to_numpy(layer.query_kernel), to_numpy(layer.key_kernel)
        v_a = to_numpy(layer.attention_v)
        hidden = (h_t @ w_q)[:, :, None] + (h_s @ w_k)[:, None]
        scores = np.tanh(hidden) @ v_a
    else:
        scores = (h_t @ to_numpy(layer.kernel))[..., :7]
    weights = _np_softmax(1.7 * scores, mask[:, None])
    got, got_w = layer(query, value, value_mask=mask, return_attention_scores=True)
    np.testing.assert_allclose(to_numpy(got_w), weights, atol=1e-5)
    np.testing.assert_allclose(to_numpy(got), weights @ value, atol=1e-5)


@pytest.mark.parametrize("score", ["dot", "scaled_dot"])
def test_fused_and_explicit_paths_agree(score):
    query, value, mask = _data()
    key = RNG.normal(size=(2, 7, 4)).astype("float32")
    value = RNG.normal(size=(2, 7, 6)).astype("float32")  # dv != dk
    mask[1] = False  # fully masked: zeros on both paths
    layer = MultiplicativeAttention(score)
    assert layer.can_fuse(training=False, return_attention_scores=False)
    fused = to_numpy(layer(query, value, key, value_mask=mask, use_causal_mask=True))
    explicit, _ = layer(
        query,
        value,
        key,
        value_mask=mask,
        use_causal_mask=True,
        return_attention_scores=True,
    )
    np.testing.assert_allclose(fused, to_numpy(explicit), atol=1e-5)
    np.testing.assert_array_equal(fused[1], 0.0)


def test_luong_alias():
    assert LuongAttention is MultiplicativeAttention
