"""`MultiHeadAttention(window=...)`: the blocked O(T * w) path and its dispatch.

Long sequences (T not a multiple of the default block of 32) run the blocked
sliding window; each test compares it with the masked path (full attention
with a band mask) on values and gradients, and checks which path ran.
"""

import numpy as np
import pytest
from grad_utils import value_and_grad
from harness import BACKEND, CHECKS, LayerCase, run_check, to_numpy
from keras import ops

from keras_attention import MultiHeadAttention
from keras_attention.core import windowed
from keras_attention.core.masking import band_mask

WINDOW = 8
# Shortest lengths for which the blocked path is cheaper with window 8
# (default block 32): 2 * 2 * 32 causal, 2 * 3 * 32 symmetric.
CAUSAL_LENGTH, SYMMETRIC_LENGTH = 150, 200

CASES = [
    LayerCase(
        MultiHeadAttention,
        {
            "num_heads": 4,
            "key_dim": 4,
            "num_key_value_heads": 2,
            "window": WINDOW,
            "position_embedding": "rope",
        },
        {"query": (2, CAUSAL_LENGTH, 8), "value": (2, CAUSAL_LENGTH, 8)},
        call_kwargs={"use_causal_mask": True},
        mask_inputs=("query", "value"),
        id="blocked-causal-gqa-rope",
    ),
    LayerCase(
        MultiHeadAttention,
        {
            "num_heads": 2,
            "key_dim": 4,
            "value_dim": 3,
            "window": WINDOW,
            "position_embedding": "alibi",
            "dropout": 0.1,
        },
        {"query": (2, SYMMETRIC_LENGTH, 6), "value": (2, SYMMETRIC_LENGTH, 6)},
        scores=True,
        mask_inputs=("query", "value"),
        id="blocked-symmetric-alibi-dropout",
    ),
]


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_keras_contract(case, check, tmp_path):
    run_check(case, check, tmp_path)


@pytest.fixture
def blocked_calls(monkeypatch):
    """Records every call of the blocked core made by `MultiHeadAttention`."""
    calls = []
    core = windowed.sliding_window_attention

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return core(*args, **kwargs)

    monkeypatch.setattr("keras_attention.core.dispatch.sliding_window_attention", spy)
    return calls


RNG = np.random.default_rng(0)
CONFIGS = {
    "mha": {"num_heads": 2, "key_dim": 4},
    "gqa-rope": {
        "num_heads": 4,
        "key_dim": 4,
        "num_key_value_heads": 2,
        "position_embedding": "rope",
    },
    "mqa-value_dim": {
        "num_heads": 2,
        "key_dim": 4,
        "num_key_value_heads": 1,
        "value_dim": 6,
    },
    "alibi": {"num_heads": 4, "key_dim": 4, "position_embedding": "alibi"},
}


def _length(causal):
    return CAUSAL_LENGTH if causal else SYMMETRIC_LENGTH


def _data(length, dim=8, batch=2):
    x = RNG.normal(size=(batch, length, dim)).astype("float32")
    query_mask = np.ones((batch, length), bool)
    query_mask[1, -5:] = False
    value_mask = np.ones((batch, length), bool)
    value_mask[0, -9:] = False
    value_mask[1, 40:60] = False  # a hole: some windows are fully masked
    return x, query_mask, value_mask


def _band(length, causal):
    return band_mask(length, length, *windowed.window_extent(WINDOW, causal))


def _windowed_and_full(config):
    layer = MultiHeadAttention(window=WINDOW, **config)
    full = MultiHeadAttention(**config)
    x = np.zeros((1, 4, 8), "float32")
    layer(x, x)
    full(x, x)
    full.set_weights(layer.get_weights())
    return layer, full


@pytest.mark.parametrize("causal", [True, False], ids=["causal", "symmetric"])
@pytest.mark.parametrize("config", list(CONFIGS), ids=str)
def test_blocked_path_equals_band_masked_attention(config, causal, blocked_calls):
    length = _length(causal)
    x, query_mask, value_mask = _data(length)
    layer, full = _windowed_and_full(CONFIGS[config])
    masks = {"query_mask": query_mask, "value_mask": value_mask}
    cotangent = ops.convert_to_tensor(RNG.normal(size=(2, length, 8)), "float32")

    def blocked(x):
        return ops.sum(layer(x, x, use_causal_mask=causal, **masks) * cotangent)

    def reference(x):
        output = full(
            x, x, attention_mask=_band(length, causal), use_causal_mask=causal, **masks
        )
        return ops.sum(output * cotangent)

    def masked_window(x):  # the same layer on its masked path
        output, _ = layer(
            x, x, use_causal_mask=causal, return_attention_scores=True, **masks
        )
        return ops.sum(output * cotangent)

    value, grad = value_and_grad(blocked, x)
    assert len(blocked_calls) == 1 and blocked_calls[0]["causal"] is causal
    for fn in (reference, masked_window):
        expected_value, expected_grad = value_and_grad(fn, x)
        np.testing.assert_allclose(value, expected_value, rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(grad, expected_grad, atol=1e-5)
    assert len(blocked_calls) == 1  # the references took the masked path
    assert np.abs(grad).max() > 0
    # Outputs, position by position: masked queries and holes give zeros.
    got = to_numpy(layer(x, x, use_causal_mask=causal, **masks))
    expected = to_numpy(
        full(
            x, x, attention_mask=_band(length, causal), use_causal_mask=causal, **masks
        )
    )
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_blocked_path_with_separate_key_and_key_mask(blocked_calls):
    x, query_mask, value_mask = _data(CAUSAL_LENGTH)
    key = RNG.normal(size=(2, CAUSAL_LENGTH, 5)).astype("float32")
    key_mask = np.ones((2, CAUSAL_LENGTH), bool)
    key_mask[0, :3] = False
    layer = MultiHeadAttention(num_heads=2, key_dim=4, window=WINDOW)
    kwargs = dict(query_mask=query_mask, value_mask=value_mask, key_mask=key_mask)
    got = layer(x, x, key, use_causal_mask=True, **kwargs)
    assert len(blocked_calls) == 1
    expected, _ = layer(
        x, x, key, use_causal_mask=True, return_attention_scores=True, **kwargs
    )
    np.testing.assert_allclose(to_numpy(got), to_numpy(expected), atol=1e-5)


@pytest.mark.parametrize(
    "call_kwargs, layer_kwargs, length, blocked",
    [
        ({}, {}, SYMMETRIC_LENGTH, True),
        ({"use_causal_mask": True}, {}, CAUSAL_LENGTH, True),
        ({"use_causal_mask": True}, {"dropout": 0.5}, CAUSAL_LENGTH, True),
        ({"return_attention_scores": True}, {}, SYMMETRIC_LENGTH, False),
        ({"attention_mask": "band"}, {}, SYMMETRIC_LENGTH, False),
        ({}, {"score": "additive"}, SYMMETRIC_LENGTH, False),
        ({}, {"score": "general"}, SYMMETRIC_LENGTH, False),
        ({}, {}, CAUSAL_LENGTH, False),  # symmetric: not cheaper at 150
        ({"use_causal_mask": True}, {}, 100, False),  # too short
        ({"use_causal_mask": True}, {"window": 100}, 300, False),  # wide window
        ({"use_causal_mask": True}, {"window": None}, CAUSAL_LENGTH, False),
    ],
)
def test_which_path_runs(call_kwargs, layer_kwargs, length, blocked, blocked_calls):
    x = RNG.normal(size=(2, length, 8)).astype("float32")
    layer = MultiHeadAttention(
        **{"num_heads": 2, "key_dim": 4, "window": WINDOW, **layer_kwargs}
    )
    if call_kwargs.get("attention_mask") == "band":
        call_kwargs = {"attention_mask": _band(length, False)}
    layer(x, x, training=True, **call_kwargs)
    assert len(blocked_calls) == int(blocked)


def test_cross_attention_of_different_lengths_takes_the_masked_path(blocked_calls):
    query = RNG.normal(size=(2, 150, 8)).astype("float32")
    value = RNG.normal(size=(2, 160, 8)).astype("float32")
    layer = MultiHeadAttention(num_heads=2, key_dim=4, window=WINDOW)
    output = layer(query, value, use_causal_mask=True)
    assert not blocked_calls and tuple(output.shape) == (2, 150, 8)


def test_dropout_on_the_blocked_path():
    x, query_mask, value_mask = _data(CAUSAL_LENGTH)
    layer = MultiHeadAttention(num_heads=2, key_dim=4, window=WINDOW, dropout=0.5)
    kwargs = dict(query_mask=query_mask, value_mask=value_mask, use_causal_mask=True)
    inference = to_numpy(layer(x, x, training=False, **kwargs))
    expected, _ = layer(x, x, return_attention_scores=True, **kwargs)
    np.testing.assert_allclose(inference, to_numpy(expected), atol=1e-5)
    trained = to_numpy(layer(x, x, training=True, **kwargs))
    assert np.all(np.isfinite(trained))
    assert not np.allclose(trained, inference, atol=1e-3)
    # Masked queries attend to nothing, with or without dropout.
    np.testing.assert_allclose(trained[1, -5:], inference[1, -5:], atol=1e-6)


def test_cached_prefill_stays_on_the_masked_path_and_agrees(blocked_calls):
    """A long prompt written into a KV cache gives the blocked path's output."""
    x = RNG.normal(size=(2, CAUSAL_LENGTH, 8)).astype("float32")
    layer = MultiHeadAttention(
        num_heads=2, key_dim=4, window=WINDOW, position_embedding="rope"
    )
    expected = to_numpy(layer(x, x, use_causal_mask=True))
    assert len(blocked_calls) == 1
    cache = ops.zeros((2, 2, CAUSAL_LENGTH + 4, 2, 4))
    prefill, cache = layer(x, x, cache=cache, cache_update_index=0)
    assert len(blocked_calls) == 1
    np.testing.assert_allclose(to_numpy(prefill), expected, atol=1e-5)


def test_unknown_length_in_a_tf_graph_uses_the_blocked_path(blocked_calls):
    if BACKEND != "tensorflow":
        pytest.skip(
            "only TensorFlow graphs have a length unknown at trace time; JAX "
            "and torch always see concrete shapes"
        )
    import tensorflow as tf

    layer = MultiHeadAttention(num_heads=2, key_dim=4, window=WINDOW)
    x, _, value_mask = _data(CAUSAL_LENGTH)
    eager, _ = layer(
        x, x, value_mask=value_mask, use_causal_mask=True, return_attention_scores=True
    )

    @tf.function(
        input_signature=[
            tf.TensorSpec((None, None, 8), "float32"),
            tf.TensorSpec((None, None), "bool"),
        ]
    )
    def self_attention(x, mask):
        return layer(x, x, value_mask=mask, use_causal_mask=True)

    @tf.function(
        input_signature=[
            tf.TensorSpec((None, None, 8), "float32"),
            tf.TensorSpec((None, None, 8), "float32"),
        ]
    )
    def cross_attention(query, value):  # lengths may differ: masked path
        return layer(query, value, use_causal_mask=True)

    got = self_attention(x, value_mask)
    assert len(blocked_calls) == 1
    np.testing.assert_allclose(to_numpy(got), to_numpy(eager), atol=1e-5)
    cross_attention(x, x)
    assert len(blocked_calls) == 1
