import functools
import warnings

import keras
import numpy as np
import pytest
from harness import CHECKS, LayerCase, run_check, to_numpy
from self_attention_helpers import SEQUENCE, padding, random_sequence

from keras_attention import MultiHeadAttention, SelfAttention
from keras_attention.core import windowed
from keras_attention.core.masking import band_mask

CASES = [
    LayerCase(
        SelfAttention,
        {"num_heads": 4, "key_dim": 8, "use_causal_mask": True, "dropout": 0.1},
        SEQUENCE,
        scores=True,
        mask_inputs=("inputs",),
        id="multi-head-causal",
    ),
    LayerCase(
        SelfAttention,
        {
            "num_heads": 2,
            "num_key_value_heads": 1,
            "window": 2,
            "position_embedding": "rope",
            "output_dim": 6,
        },
        SEQUENCE,
        scores=True,
        mask_inputs=("inputs",),
        id="gqa-rope-window",
    ),
    LayerCase(
        SelfAttention,
        # Long enough for the blocked sliding window (T >= 4 * 32).
        {"num_heads": 2, "key_dim": 4, "window": 8, "use_causal_mask": True},
        {"inputs": (2, 140, 8)},
        mask_inputs=("inputs",),
        id="blocked-window",
    ),
]


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_keras_contract(case, check, tmp_path):
    run_check(case, check, tmp_path)


RNG = np.random.default_rng(0)
_sequence = functools.partial(random_sequence, RNG)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_heads": 4, "key_dim": 8},
        {"num_heads": 4, "num_key_value_heads": 2, "position_embedding": "rope"},
        {"num_heads": 2, "key_dim": 4, "window": 2, "position_embedding": "alibi"},
    ],
    ids=["mha", "gqa-rope", "window-alibi"],
)
@pytest.mark.parametrize("causal", [False, True])
def test_multi_head_equals_multi_head_attention_on_x_x(kwargs, causal):
    x, mask = _sequence(), padding()
    layer = SelfAttention(**kwargs)
    reference = MultiHeadAttention(**{"key_dim": 4, **kwargs})
    layer(x)
    reference(x, x)
    reference.set_weights(layer.get_weights())
    got, weights = layer(
        x, mask=mask, use_causal_mask=causal, return_attention_scores=True
    )
    expected, expected_w = reference(
        x,
        x,
        query_mask=mask,
        value_mask=mask,
        use_causal_mask=causal,
        return_attention_scores=True,
    )
    np.testing.assert_allclose(to_numpy(got), to_numpy(expected), atol=1e-6)
    np.testing.assert_allclose(to_numpy(weights), to_numpy(expected_w), atol=1e-6)
    # The constructor's `use_causal_mask` is the call's default.
    default = SelfAttention(**kwargs, use_causal_mask=causal)
    default(x)
    default.set_weights(layer.get_weights())
    np.testing.assert_allclose(
        to_numpy(default(x, mask=mask)), to_numpy(got), atol=1e-6
    )


def test_keras_mask_propagates_and_padding_outputs_zeros():
    ids = np.array([[3, 4, 5, 0, 0], [6, 7, 8, 9, 2]])
    embedded = keras.layers.Embedding(10, 8, mask_zero=True)(ids)
    for layer in (SelfAttention(num_heads=2), SelfAttention(score="additive")):
        output = layer(embedded)
        mask = getattr(output, "_keras_mask", None)
        if mask is not None:  # eager tensors carry the mask on some backends
            np.testing.assert_array_equal(to_numpy(mask), ids != 0)
        np.testing.assert_array_equal(
            to_numpy(layer.compute_mask(embedded, ids != 0)), ids != 0
        )
    inputs = keras.Input((None,), dtype="int32")
    hidden = keras.layers.Embedding(10, 8, mask_zero=True)(inputs)
    output = SelfAttention(num_heads=2, use_causal_mask=True)(hidden)
    assert output._keras_mask is not None
    model = keras.Model(inputs, output)
    result = to_numpy(model(ids))
    np.testing.assert_array_equal(result[0, 3:], 0.0)
    assert np.all(np.abs(result[0, :3]).sum(-1) > 0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_heads": 2, "key_dim": 4},
        {"num_heads": 2, "key_dim": 4, "window": 2, "use_causal_mask": True},
        {"score": "additive"},
        {"score": "general", "window": 2},
        {"score": "dot"},
    ],
    ids=["mha", "mha-causal-window", "additive", "general-window", "dot"],
)
@pytest.mark.parametrize("rank", [2, 3, 4])
def test_additive_bias_equals_the_boolean_mask(kwargs, rank):
    """`attention_bias=where(mask, 0, -inf)` is `attention_mask=mask`."""
    x = _sequence(length=6, dim=8)
    shape = {2: (6, 6), 3: (2, 6, 6), 4: (2, 1, 6, 6)}[rank]
    mask = RNG.random(shape) < 0.6
    mask |= np.eye(6, dtype=bool)  # no fully masked rows
    bias = np.where(mask, 0.0, -np.inf).astype("float32")
    layer = SelfAttention(**kwargs)
    masked = layer(x, attention_mask=mask, return_attention_scores=True)
    biased = layer(x, attention_bias=bias, return_attention_scores=True)
    for want, got in zip(masked, biased, strict=True):
        np.testing.assert_allclose(to_numpy(got), to_numpy(want), atol=1e-6)
    np.testing.assert_allclose(
        to_numpy(layer(x, attention_bias=bias)),
        to_numpy(layer(x, attention_mask=mask)),
        atol=1e-6,
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_heads": 2, "key_dim": 4},
        {"num_heads": 2, "key_dim": 4, "window": 8},
        {"score": "additive"},
        {"score": "general", "window": 3},
    ],
    ids=["mha", "blocked-window", "additive", "general-window"],
)
def test_causal_outputs_do_not_depend_on_later_steps(kwargs):
    x = _sequence(length=150, dim=8)
    layer = SelfAttention(**kwargs, use_causal_mask=True)
    changed = x.copy()
    changed[:, 100:] = RNG.normal(size=changed[:, 100:].shape)
    before, after = to_numpy(layer(x)), to_numpy(layer(changed))
    np.testing.assert_allclose(after[:, :100], before[:, :100], atol=1e-5)
    assert not np.allclose(after[:, 100:], before[:, 100:], atol=1e-3)


@pytest.mark.parametrize("length", [9, 200])  # masked path, then blocked path
@pytest.mark.parametrize("causal", [True, False])
def test_window_equals_band_mask_attention(length, causal, monkeypatch):
    calls = []
    blocked = windowed.sliding_window_attention

    def spy(*args, **kwargs):
        calls.append(kwargs.get("causal"))
        return blocked(*args, **kwargs)

    monkeypatch.setattr("keras_attention.core.dispatch.sliding_window_attention", spy)
    x, mask = _sequence(length=length, dim=8), padding(length=length)
    for score in ("scaled_dot", "additive"):
        layer = SelfAttention(score=score, window=3, use_causal_mask=causal)
        full = SelfAttention(score=score)
        layer(x)
        full(x)
        full.set_weights(layer.get_weights())
        left, right = windowed.window_extent(3, causal)
        band = band_mask(length, length, left, right)
        expected = full(x, mask=mask, attention_mask=band, use_causal_mask=causal)
        calls.clear()
        got = layer(x, mask=mask)
        np.testing.assert_allclose(to_numpy(got), to_numpy(expected), atol=1e-5)
        blocked_path = score == "scaled_dot" and length == 200
        assert calls == ([causal] if blocked_path else [])


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"num_heads": 0}, "num_heads"),
        ({"key_dim": -1}, "key_dim"),
        ({"score": "cosine"}, "score"),
        ({"window": 0}, "window"),
        ({"use_causal_mask": "yes"}, "use_causal_mask"),
        ({"dropout": 1.0}, "dropout"),
        ({"output_dim": 0}, "output_dim"),
        ({"position_embedding": "xpos"}, "position_embedding"),
        ({"num_heads": 4, "num_key_value_heads": 3}, "num_key_value_heads"),
        ({"key_dim": 5, "position_embedding": "rope"}, "key_dim"),
        ({"units": 4}, "units"),
        ({"score": "general", "units": 4}, "units"),
        ({"score": "additive", "num_heads": 2}, "num_heads"),
        ({"score": "additive", "key_dim": 8}, "key_dim"),
        ({"score": "dot", "output_dim": 8}, "output_dim"),
        ({"score": "general", "position_embedding": "rope"}, "position_embedding"),
        ({"score": "concat", "num_key_value_heads": 1}, "num_key_value_heads"),
    ],
)
def test_constructor_arguments_are_validated(kwargs, argument):
    with pytest.raises(ValueError, match=f"`{argument}`"):
        SelfAttention(**kwargs)


def test_sublayer_errors_name_this_layer_and_keep_the_cause():
    """The sublayer validates; its error is re-raised in this layer's names."""
    x, mask = _sequence(length=5, dim=8), np.ones((2, 6), bool)
    with pytest.raises(ValueError, match="SelfAttention: `mask`") as caught:
        SelfAttention(num_heads=2)(x, mask=mask)
    assert "query_mask" not in str(caught.value)
    filtering = keras.config.is_traceback_filtering_enabled()
    keras.config.disable_traceback_filtering()  # Keras' filter drops causes
    try:
        with pytest.raises(ValueError, match="SelfAttention: `mask`") as caught:
            SelfAttention(num_heads=2)(x, mask=mask)
    finally:
        if filtering:
            keras.config.enable_traceback_filtering()
    assert "MultiHeadAttention: `query_mask`" in str(caught.value.__cause__)
    with pytest.raises(TypeError, match="SelfAttention: `attention_bias`"):
        SelfAttention(score="additive")(x, attention_bias=np.ones((5, 5), bool))


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="`inputs`"):
        SelfAttention()(np.zeros((2, 8), "float32"))
    with pytest.raises(ValueError, match="`key_dim`"):
        SelfAttention(num_heads=3)(np.zeros((2, 5, 8), "float32"))
    with pytest.raises(ValueError, match="`attention_mask`"):
        SelfAttention(score="general")(
            np.zeros((2, 5, 8), "float32"), attention_mask=np.ones((2, 3, 5, 5), bool)
        )


def test_causal_is_the_deprecated_spelling_of_use_causal_mask():
    x = _sequence(length=6, dim=8)
    with pytest.warns(DeprecationWarning, match="SelfAttention: `causal` is depre"):
        old = SelfAttention(num_heads=2, causal=True)
    assert old.use_causal_mask is True and old.causal is True
    new = SelfAttention(num_heads=2, use_causal_mask=True)
    new(x)
    old(x)
    old.set_weights(new.get_weights())
    np.testing.assert_array_equal(to_numpy(old(x)), to_numpy(new(x)))
    config = new.get_config()
    assert config["use_causal_mask"] is True and "causal" not in config
    with pytest.raises(ValueError, match="received both `use_causal_mask`"):
        SelfAttention(use_causal_mask=True, causal=False)


def test_config_saved_with_causal_loads_without_a_warning():
    config = SelfAttention(num_heads=2, use_causal_mask=True, seed=3).get_config()
    config["causal"] = config.pop("use_causal_mask")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        restored = SelfAttention.from_config(config)
    assert restored.use_causal_mask is True and restored.seed == 3


def test_seed_is_validated_and_in_the_config():
    assert SelfAttention(seed=7).get_config()["seed"] == 7
    assert SelfAttention().get_config()["seed"] is None
    with pytest.raises(TypeError, match="SelfAttention: `seed` must be an int"):
        SelfAttention(seed="7")


def test_seed_makes_attention_dropout_reproducible():
    x = _sequence(length=6, dim=8)
    first = SelfAttention(num_heads=2, dropout=0.5, seed=11)
    second = SelfAttention(num_heads=2, dropout=0.5, seed=11)
    first(x), second(x)
    second.set_weights(first.get_weights())
    np.testing.assert_array_equal(
        to_numpy(first(x, training=True)), to_numpy(second(x, training=True))
    )
    assert not np.allclose(to_numpy(first(x, training=True)), to_numpy(first(x)))
