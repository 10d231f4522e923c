"""The blocks' public module (layers/transformer.py): keras-hub names, the old
names and files saved under them, and whole models of both blocks."""

import keras
import numpy as np
import pytest
from harness import BACKEND, to_numpy

from keras_attention import (
    TokenAndPositionEmbedding,
    TransformerDecoder,
    TransformerDecoderBlock,
    TransformerEncoder,
    TransformerEncoderBlock,
)

RNG = np.random.default_rng(0)


def _gpt(vocab=13, length=8, dim=16):
    tokens = keras.Input((length,), dtype="int32")
    x = TokenAndPositionEmbedding(vocab, length, dim)(tokens)
    x = TransformerDecoderBlock(32, 2, normalize_first=True)(x)
    x = TransformerDecoderBlock(32, 2, normalize_first=True)(x)
    return keras.Model(tokens, keras.layers.Dense(vocab)(x))


def _transformer(vocab=13, length=8, dim=16):
    source = keras.Input((length,), dtype="int32")
    target = keras.Input((length,), dtype="int32")
    e = TokenAndPositionEmbedding(vocab, length, dim, "sinusoidal", mask_zero=True)
    d = TokenAndPositionEmbedding(vocab, length, dim, "sinusoidal", mask_zero=True)
    memory = TransformerEncoderBlock(32, 2)(e(source))
    y = TransformerDecoderBlock(32, 2)(d(target), memory)
    return keras.Model([source, target], keras.layers.Dense(vocab)(y))


@pytest.mark.parametrize("build", [_gpt, _transformer], ids=["gpt", "transformer"])
def test_tiny_models_train_save_and_compile(build, tmp_path):
    keras.utils.set_random_seed(0)
    # Copy task: the target is the source shifted by one step.
    seq = RNG.integers(1, 13, size=(64, 9)).astype("int32")
    model = build()
    if build is _gpt:
        inputs, labels = seq[:, :-1], seq[:, 1:]
    else:
        inputs, labels = [seq[:, 1:], seq[:, :-1]], seq[:, 1:]
    jit = BACKEND in ("tensorflow", "jax")
    model.compile(
        optimizer=keras.optimizers.Adam(5e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=jit,
    )
    first = model.evaluate(inputs, labels, verbose=0)
    model.fit(inputs, labels, epochs=20, batch_size=16, verbose=0)
    last = model.evaluate(inputs, labels, verbose=0)
    assert last < 0.9 * first, (first, last)
    path = str(tmp_path / "model.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_allclose(
        to_numpy(reloaded(inputs)), to_numpy(model(inputs)), atol=1e-5
    )


# ---------------------------------------------------------------- keras-hub names
def test_keras_hub_names_are_the_classes_and_old_names_alias_them():
    assert TransformerEncoder is TransformerEncoderBlock
    assert TransformerDecoder is TransformerDecoderBlock
    assert TransformerEncoder.__name__ == "TransformerEncoder"
    for cls in (TransformerEncoder, TransformerDecoder):
        name = f"keras_attention>{cls.__name__}"
        assert keras.saving.get_registered_name(cls) == name
        assert keras.saving.get_registered_object(name) is cls
        # Files saved under the old registered names load as a subclass
        # (Keras finds the weights by the class name written then).
        legacy = keras.saving.get_registered_object(f"{name}Block")
        assert issubclass(legacy, cls) and legacy.__name__ == f"{cls.__name__}Block"


def test_old_registered_name_loads_a_keras_file(tmp_path):
    x = RNG.normal(size=(2, 5, 8)).astype("float32")
    inputs = keras.Input((5, 8))
    model = keras.Model(inputs, TransformerEncoder(12, 2, name="block")(inputs))
    expected = to_numpy(model(x))
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.get_layer("block")) is TransformerEncoder
    np.testing.assert_array_equal(to_numpy(loaded(x)), expected)
