"""`keras_attention.MultiHeadAttention` is a drop-in for Keras 3.15's.

Both layers are built from the same arguments, ours takes the Keras layer's
weights (the shapes are the same), and the outputs and weights must agree.
Rows with no visible key are avoided: there Keras gives uniform weights and
we give zeros (documented).
"""

import keras
import numpy as np
import pytest

import keras_attention
from tests.harness import to_numpy

RNG = np.random.default_rng(0)
# Keras' weight paths (sublayer/name) and ours.
WEIGHTS = {
    "query/kernel": "query_kernel",
    "query/bias": "query_bias",
    "key/kernel": "key_kernel",
    "key/bias": "key_bias",
    "value/kernel": "value_kernel",
    "value/bias": "value_bias",
    "attention_output/kernel": "output_kernel",
    "attention_output/bias": "output_bias",
    "gate/kernel": "gate_kernel",
    "gate/bias": "gate_bias",
}


def _pair(query, value, **kwargs):
    reference = keras.layers.MultiHeadAttention(**kwargs)
    ours = keras_attention.MultiHeadAttention(**kwargs)
    reference.build(query.shape, value.shape)
    ours(query, value)
    ours_by_name = {w.name: w for w in ours.weights}
    copied = 0
    for weight in reference.weights:
        suffix = "/".join(weight.path.split("/")[-2:])
        ours_by_name[WEIGHTS[suffix]].assign(weight.value)
        copied += 1
    assert copied == len(ours.weights) == len(reference.weights)
    return reference, ours


def _inputs(batch=2, tq=5, tv=6, dim=8):
    query = RNG.normal(size=(batch, tq, dim)).astype("float32")
    value = RNG.normal(size=(batch, tv, dim)).astype("float32")
    return query, value


def _close(a, b, atol=2e-5):
    np.testing.assert_allclose(to_numpy(a), to_numpy(b), atol=atol, rtol=1e-5)


def _numpy_attention(layer, query, value):
    """Multi-head attention from the layer's weights, in NumPy."""
    w = {weight.name: to_numpy(weight) for weight in layer.weights}
    q = np.einsum("btd,dhk->bhtk", query, w["query_kernel"]) + w["query_bias"][:, None]
    k = np.einsum("btd,dhk->bhtk", value, w["key_kernel"]) + w["key_bias"][:, None]
    v = np.einsum("btd,dhk->bhtk", value, w["value_kernel"]) + w["value_bias"][:, None]
    scores = np.einsum("bhqd,bhkd->bhqk", q, k) / np.sqrt(q.shape[-1])
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    heads = np.einsum("bhqk,bhkv->bhqv", weights, v)
    output = np.einsum("bhtv,hvo->bto", heads, w["output_kernel"]) + w["output_bias"]
    return output, weights


CONFIGS = {
    "default": {"num_heads": 2, "key_dim": 4},
    "value_dim": {"num_heads": 3, "key_dim": 4, "value_dim": 6},
    "output_shape": {"num_heads": 2, "key_dim": 4, "output_shape": 5},
    "output_shape_tuple": {"num_heads": 2, "key_dim": 4, "output_shape": (7,)},
    "no_bias": {"num_heads": 2, "key_dim": 4, "use_bias": False},
    "gate": {"num_heads": 2, "key_dim": 4, "use_gate": True},
    "dropout_inference": {"num_heads": 2, "key_dim": 4, "dropout": 0.3, "seed": 1},
    "attention_axes": {"num_heads": 2, "key_dim": 4, "attention_axes": (1,)},
    "flash_off": {"num_heads": 2, "key_dim": 4, "flash_attention": False},
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_same_arguments_same_outputs(name):
    query, value = _inputs()
    reference, ours = _pair(query, value, **CONFIGS[name])
    if name == "value_dim" and keras.backend.backend() == "jax":
        # Keras 3.15's layer fails on JAX when value_dim != key_dim (both of
        # its paths reshape to the key size); the formula is the reference.
        with pytest.raises((ValueError, TypeError)):
            reference(query, value)
        expected, weights = _numpy_attention(ours, query, value)
        got, got_weights = ours(query, value, return_attention_scores=True)
        _close(ours(query, value), expected)
        _close(got, expected)
        _close(got_weights, weights)
        return
    _close(ours(query, value), reference(query, value))
    expected, expected_weights = reference(query, value, return_attention_scores=True)
    if CONFIGS[name].get("flash_attention") is not False:
        got, weights = ours(query, value, return_attention_scores=True)
        _close(got, expected)
        _close(weights, expected_weights)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("window", [1, 2, 4])
def test_sliding_window_means_what_it_means_in_keras(window, causal):
    query, _ = _inputs(tq=9, tv=9)
    kwargs = {"num_heads": 2, "key_dim": 4, "sliding_window": window}
    reference, ours = _pair(query, query, **kwargs)
    expected = reference(query, query, use_causal_mask=causal)
    _close(ours(query, query, use_causal_mask=causal), expected)
    if causal:  # a causal `sliding_window=w` is our `window=w`
        ours_window = keras_attention.MultiHeadAttention(2, 4, window=window)
        ours_window(query, query)
        ours_window.set_weights(ours.get_weights())
        _close(ours_window(query, query, use_causal_mask=True), expected)


def test_masks_and_causal_mask_as_in_keras():
    query, value = _inputs(tq=5, tv=5)
    reference, ours = _pair(query, value, num_heads=2, key_dim=4)
    query_mask = np.array([[1, 1, 1, 1, 0], [1, 1, 1, 0, 0]], bool)
    value_mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]], bool)
    key_mask = np.array([[1, 1, 1, 0, 1], [1, 1, 1, 1, 1]], bool)
    attention_mask = RNG.random((2, 5, 5)) < 0.8
    attention_mask[..., 0] = True  # every row sees a key
    for kwargs in (
        {"query_mask": query_mask, "value_mask": value_mask},
        {"value_mask": value_mask, "key_mask": key_mask},
        {"attention_mask": attention_mask},
        {"attention_mask": attention_mask, "use_causal_mask": True},
        {"use_causal_mask": True},
    ):
        expected = to_numpy(reference(query, value, value, **kwargs))
        got = to_numpy(ours(query, value, value, **kwargs))
        if "query_mask" in kwargs:
            # Keras leaves masked queries' outputs as computed (they are
            # padding); ours are computed from inert (zeroed) queries.
            keep = kwargs["query_mask"]
            expected, got = expected[keep], got[keep]
        _close(got, expected)


def test_config_round_trip_keeps_keras_arguments():
    layer = keras_attention.MultiHeadAttention(
        num_heads=2,
        key_dim=4,
        output_shape=6,
        sliding_window=3,
        flash_attention=False,
        use_gate=True,
        seed=7,
    )
    config = layer.get_config()
    for key, value in (
        ("output_dim", 6),
        ("sliding_window", 3),
        ("flash_attention", False),
        ("use_gate", True),
        ("seed", 7),
    ):
        assert config[key] == value, key
    clone = keras_attention.MultiHeadAttention.from_config(config)
    assert clone.get_config() == config


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"attention_axes": (1, 2)}, "`attention_axes`"),
        ({"output_shape": (2, 3)}, "`output_shape`"),
        ({"output_shape": 4, "output_dim": 5}, "disagree"),
        ({"window": 4, "sliding_window": 4}, "at most one of"),
        ({"sliding_window": 0}, "`sliding_window`"),
        ({"flash_attention": True, "dropout": 0.1}, "flash_attention=True"),
        ({"flash_attention": "yes"}, "`flash_attention`"),
    ],
)
def test_keras_arguments_refused_clearly(kwargs, message):
    with pytest.raises(ValueError, match="MultiHeadAttention") as info:
        keras_attention.MultiHeadAttention(num_heads=2, key_dim=4, **kwargs)
    assert message in str(info.value)


def test_flash_attention_true_refuses_returning_weights():
    query, value = _inputs()
    layer = keras_attention.MultiHeadAttention(2, 4, flash_attention=True)
    layer(query, value)
    with pytest.raises(ValueError, match="return_attention_scores"):
        layer(query, value, return_attention_scores=True)
