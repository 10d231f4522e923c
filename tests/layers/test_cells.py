"""The wrapped cell: its initial state and its dropout masks (made outside
the recurrent loop)."""

import keras
import numpy as np
from harness import BACKEND, to_numpy

from keras_attention import AdditiveAttention, AttentionDecoder

RNG = np.random.default_rng(0)


def test_initial_state_is_used():
    inputs = RNG.normal(size=(2, 3, 3)).astype("float32")
    memory = RNG.normal(size=(2, 4, 4)).astype("float32")
    decoder = AttentionDecoder(keras.layers.LSTMCell(4), AdditiveAttention(units=3))
    zeros = to_numpy(decoder(inputs, memory))
    state = [np.ones((2, 4), "float32"), np.ones((2, 4), "float32")]
    given = to_numpy(decoder(inputs, memory, initial_state=state))
    explicit_zeros = [np.zeros((2, 4), "float32")] * 2
    np.testing.assert_allclose(
        to_numpy(decoder(inputs, memory, initial_state=explicit_zeros)), zeros
    )
    assert not np.allclose(given, zeros)


def test_cell_dropout_trains_with_masks_made_outside_the_loop():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((5, 3))
    memory = keras.Input((6, 4))
    decoder = AttentionDecoder(
        keras.layers.LSTMCell(6, dropout=0.3, recurrent_dropout=0.3),
        AdditiveAttention(units=4),
        attention_layer_size=5,
    )
    model = keras.Model(
        [inputs, memory], keras.layers.Dense(2)(decoder(inputs, memory))
    )
    model.compile(
        optimizer=keras.optimizers.Adam(0.02),
        loss="mse",
        jit_compile=BACKEND != "torch",
    )
    data = [
        RNG.normal(size=(8, 5, 3)).astype("float32"),
        RNG.normal(size=(8, 6, 4)).astype("float32"),
    ]
    target = RNG.normal(size=(8, 5, 2)).astype("float32")
    first = model.evaluate(data, target, verbose=0)
    model.fit(data, target, epochs=10, batch_size=8, verbose=0)
    assert model.evaluate(data, target, verbose=0) < first
    assert decoder.cell._dropout_mask is None  # reset after the call
    # Dropout is active in training only.
    training = to_numpy(decoder(*data, training=True))
    inference = to_numpy(decoder(*data))
    assert not np.allclose(training, inference)
    np.testing.assert_allclose(to_numpy(decoder(*data)), inference)
