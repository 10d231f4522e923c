"""`HeadProjections`: the weights of `MultiHeadAttention` and its projections.

The weights keep the names, shapes and creation order saved models rely on,
and the projections are the einsums they claim to be (checked against NumPy).
"""

import keras
import numpy as np
import pytest

import keras_attention
from keras_attention.layers.head_projections import HeadProjections
from tests.harness import to_numpy

RNG = np.random.default_rng(3)


def _layer(**kwargs):
    layer = keras_attention.MultiHeadAttention(**kwargs)
    query = RNG.normal(size=(2, 5, 12)).astype("float32")
    value = RNG.normal(size=(2, 7, 10)).astype("float32")
    layer(query, value)
    return layer, query, value


def test_multi_head_attention_is_a_head_projections_layer():
    assert issubclass(keras_attention.MultiHeadAttention, HeadProjections)


@pytest.mark.parametrize(
    "kwargs, names",
    [
        ({}, ["query", "key", "value", "output"]),
        ({"score": "additive"}, ["query", "key", "value", "output", "score_v"]),
        ({"score": "general"}, ["query", "key", "value", "output", "score_kernel"]),
        ({"use_gate": True}, ["query", "key", "value", "output", "gate"]),
    ],
)
def test_weight_names_shapes_and_order(kwargs, names):
    layer, _, _ = _layer(num_heads=4, key_dim=3, value_dim=2, output_dim=6, **kwargs)
    expected = {
        "query_kernel": (12, 4, 3),
        "query_bias": (4, 3),
        "key_kernel": (10, 4, 3),
        "key_bias": (4, 3),
        "value_kernel": (10, 4, 2),
        "value_bias": (4, 2),
        "output_kernel": (4, 2, 6),
        "output_bias": (6,),
        "score_v": (4, 3),
        "score_kernel": (4, 3, 3),
        "gate_kernel": (12, 4, 2),
        "gate_bias": (4, 2),
    }
    order = []
    for name in names:
        order += [name] if name.startswith("score") else [f"{name}_kernel"]
        if not name.startswith("score"):
            order.append(f"{name}_bias")
    assert [w.name for w in layer.weights] == order
    for weight in layer.weights:
        assert tuple(weight.shape) == expected[weight.name]


def test_without_bias_there_are_no_bias_weights():
    layer, _, _ = _layer(num_heads=2, key_dim=4, use_bias=False)
    assert [w.name for w in layer.weights] == [
        "query_kernel",
        "key_kernel",
        "value_kernel",
        "output_kernel",
    ]
    assert layer.query_bias is None and layer.output_bias is None


def test_project_is_the_heads_first_einsum():
    layer, query, value = _layer(num_heads=4, key_dim=3, num_key_value_heads=2)
    got = to_numpy(layer._project(value, "key"))
    kernel, bias = to_numpy(layer.key_kernel), to_numpy(layer.key_bias)
    expected = np.einsum("btd,dhk->bhtk", value, kernel) + bias[None, :, None, :]
    assert got.shape == (2, 2, 7, 3)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_output_gates_then_projects_the_heads_back():
    layer, query, _ = _layer(num_heads=4, key_dim=3, value_dim=2, use_gate=True)
    heads = RNG.normal(size=(2, 4, 5, 2)).astype("float32")
    got = to_numpy(layer._output(query, keras.ops.convert_to_tensor(heads)))
    w = {name: to_numpy(getattr(layer, name)) for name in ("gate_kernel", "gate_bias")}
    gate = np.einsum("btd,dhk->bhtk", query, w["gate_kernel"])
    gate = 1 / (1 + np.exp(-(gate + w["gate_bias"][None, :, None, :])))
    output = np.einsum("bhtv,hvo->bto", heads * gate, to_numpy(layer.output_kernel))
    expected = output + to_numpy(layer.output_bias)
    assert got.shape == (2, 5, 12)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_output_packs_the_extras_after_the_output():
    layer, query, _ = _layer(num_heads=2, key_dim=4)
    heads = np.zeros((2, 2, 5, 4), "float32")
    output, extra = layer._output(query, keras.ops.convert_to_tensor(heads), "extra")
    assert extra == "extra"
    np.testing.assert_allclose(
        to_numpy(output), np.broadcast_to(to_numpy(layer.output_bias), (2, 5, 12))
    )


def test_a_call_with_other_feature_sizes_names_the_argument():
    layer, query, value = _layer(num_heads=2, key_dim=4)
    with pytest.raises(ValueError, match="MultiHeadAttention.*value"):
        layer(query, value[..., :4])
