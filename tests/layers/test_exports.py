"""`keras_attention.layers.X` is every public layer, as `keras.layers.X` is."""

import inspect
import subprocess
import sys

import keras
import pytest

import keras_attention
import keras_attention.layers

PUBLIC_LAYERS = [
    name
    for name in keras_attention.__all__
    if inspect.isclass(getattr(keras_attention, name))
    and issubclass(getattr(keras_attention, name), keras.layers.Layer)
]


def test_there_are_public_layers():
    assert {"MultiHeadAttention", "TransformerEncoder", "RotaryEmbedding"} <= set(
        PUBLIC_LAYERS
    )


@pytest.mark.parametrize("name", PUBLIC_LAYERS)
def test_every_public_layer_is_in_keras_attention_layers(name):
    assert getattr(keras_attention.layers, name) is getattr(keras_attention, name)
    assert name in keras_attention.layers.__all__
    assert name in dir(keras_attention.layers)


def test_layers_all_lists_only_public_layers():
    assert sorted(keras_attention.layers.__all__) == sorted(PUBLIC_LAYERS)


def test_unknown_name_raises_attribute_error():
    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        keras_attention.layers.Nope  # noqa: B018


def test_layers_package_imports_first_without_a_cycle():
    """Importing `keras_attention.layers` alone (before the package) works."""
    code = (
        "from keras_attention.layers import TransformerEncoder, AttentionWrapper\n"
        "import keras_attention\n"
        "assert TransformerEncoder is keras_attention.TransformerEncoder\n"
        "assert AttentionWrapper is keras_attention.AttentionWrapper\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)
