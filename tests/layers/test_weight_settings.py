"""Kernel and bias settings reach every weight-bearing layer and survive config."""

import keras
import numpy as np
import pytest
from harness import to_numpy

from keras_attention import (
    AdditiveAttention,
    MultiHeadAttention,
    MultiplicativeAttention,
)

LAYERS = {
    "additive": lambda **kw: AdditiveAttention(units=3, **kw),
    "general": lambda **kw: MultiplicativeAttention("general", **kw),
    "concat": lambda **kw: MultiplicativeAttention("concat", units=3, **kw),
    "multi_head": lambda **kw: MultiHeadAttention(num_heads=2, key_dim=2, **kw),
}
Q = np.random.default_rng(0).normal(size=(2, 3, 4)).astype("float32")


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_initializers_regularizers_constraints_apply(name):
    layer = LAYERS[name](
        kernel_initializer=keras.initializers.Constant(0.5),
        bias_initializer=keras.initializers.Constant(0.25),
        kernel_regularizer=keras.regularizers.L2(0.1),
        bias_regularizer=keras.regularizers.L1(0.2),
        kernel_constraint=keras.constraints.NonNeg(),
        bias_constraint=keras.constraints.NonNeg(),
    )
    layer(Q, Q)
    kernels = [w for w in layer.weights if "bias" not in w.path]
    biases = [w for w in layer.weights if "bias" in w.path]
    for w in kernels:
        np.testing.assert_allclose(to_numpy(w), 0.5)
        assert w.constraint is not None
    for w in biases:
        np.testing.assert_allclose(to_numpy(w), 0.25)
    assert len(layer.losses) == len(layer.weights)
    expected = sum(0.1 * 0.25 * w.numpy().size for w in kernels) + sum(
        0.2 * 0.25 * w.numpy().size for w in biases
    )
    np.testing.assert_allclose(
        float(sum(to_numpy(loss) for loss in layer.losses)), expected, rtol=1e-5
    )


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_settings_round_trip_through_config(name):
    layer = LAYERS[name](
        kernel_initializer="he_normal",
        kernel_regularizer=keras.regularizers.L2(0.3),
        bias_constraint=keras.constraints.MaxNorm(2.0),
    )
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    assert isinstance(clone.kernel_initializer, keras.initializers.HeNormal)
    assert isinstance(clone.bias_constraint, keras.constraints.MaxNorm)
