"""`AttentionLayer` (layers/attention_layer.py): the contract every attention
layer shares: call validation in the layer's name, packed outputs and specs,
the query's Keras mask passed on."""

import keras
import numpy as np
import pytest

from keras_attention import AdditiveAttention, MultiHeadAttention
from keras_attention.layers.attention_layer import AttentionLayer, pack


def test_every_attention_layer_is_one():
    assert issubclass(AdditiveAttention, AttentionLayer)
    assert issubclass(MultiHeadAttention, AttentionLayer)


def test_pack_returns_the_output_alone_or_a_tuple():
    assert pack(["out"]) == "out"
    assert pack(["out", "weights"]) == ("out", "weights")
    assert pack(iter(["out", "weights", "cache"])) == ("out", "weights", "cache")


def test_output_specs_in_the_compute_dtype_unless_given():
    layer = AttentionLayer(dtype="mixed_float16")
    spec = layer.output_specs((2, 3, 4))
    assert isinstance(spec, keras.KerasTensor)
    assert spec.shape == (2, 3, 4) and spec.dtype == "float16"
    out, weights = layer.output_specs((2, 3, 4), (2, 3, 5))
    assert weights.shape == (2, 3, 5) and weights.dtype == "float16"
    _, cache = layer.output_specs((2, 3, 4), (2, 2), dtypes=("int32",))
    assert cache.dtype == "int32"


def test_check_masks_names_the_layer_and_the_argument():
    layer = AttentionLayer(name="probe")
    query = np.zeros((2, 3, 4), "float32")
    value = np.zeros((2, 5, 4), "float32")
    ok = np.ones((2, 5), bool)
    layer.check_masks(query, value, value, (None, ok, None), (None, None), 1, 5)
    with pytest.raises(ValueError, match=r"AttentionLayer.*`value_mask`"):
        bad = np.ones((2, 4), bool)
        layer.check_masks(query, value, value, (None, bad, None), (None, None), 1, 5)
    with pytest.raises(TypeError, match=r"AttentionLayer.*float"):
        floats = np.ones((2, 3, 5), "float32")
        layer.check_masks(query, value, value, (None,) * 3, (floats, None), 1, 5)
    # One decoder step (a rank-2 query) takes a (batch,) query mask.
    step_mask = np.ones((2,), bool)
    layer.check_masks(
        query[:, 0], value, value, (step_mask, None, None), (None,) * 2, 1, 5
    )


def test_the_output_keeps_the_query_mask():
    tokens = keras.ops.convert_to_tensor([[3, 4, 0], [5, 0, 0]])
    x = keras.layers.Embedding(8, 4, mask_zero=True)(tokens)
    memory = np.random.default_rng(0).normal(size=(2, 6, 4)).astype("float32")
    output = AdditiveAttention(units=3)(x, memory)
    mask = keras.ops.convert_to_numpy(output._keras_mask)
    assert mask.tolist() == [[True, True, False], [True, False, False]]
