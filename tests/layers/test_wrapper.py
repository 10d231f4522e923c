"""AttentionWrapper: the cell inside a plain keras.layers.RNN (the TF Addons
migration path), its TF Addons semantics and its config."""

import keras
import numpy as np
import pytest
from harness import to_numpy
from recurrent_helpers import source_mask

from keras_attention import (
    AdditiveAttention,
    AttentionDecoder,
    AttentionWrapper,
    MultiplicativeAttention,
)

RNG = np.random.default_rng(0)


def test_wrapper_in_keras_rnn_equals_the_decoder():
    batch, steps, source = 2, 4, 5
    inputs = RNG.normal(size=(batch, steps, 3)).astype("float32")
    memory = RNG.normal(size=(batch, source, 4)).astype("float32")
    lengths = np.array([5, 2])
    decoder = AttentionDecoder(
        keras.layers.LSTMCell(6),
        MultiplicativeAttention(score="general"),
        attention_layer_size=5,
    )
    state = [RNG.normal(size=(batch, 6)).astype("float32") for _ in range(2)]
    mask = source_mask(batch, source, lengths)
    expected, expected_alignments = decoder(
        inputs,
        memory,
        initial_state=state,
        memory_mask=mask,
        return_attention_scores=True,
    )

    # The same cell and attention layer, in a wrapper with its own W_c.
    wrapper = AttentionWrapper(
        decoder.cell, decoder.attention, attention_layer_size=5, alignment_history=True
    )
    rnn = keras.layers.RNN(wrapper, return_sequences=True, return_state=True)
    wrapper.setup_memory(memory, memory_sequence_length=lengths)
    assert wrapper.state_size == [6, 6, 5] and wrapper.output_size == 5 + source
    outputs, *final = rnn(
        inputs, initial_state=wrapper.get_initial_state(cell_state=state)
    )
    wrapper.clear_memory()
    wrapper.attention_layer.set_weights(decoder.wrapper.attention_layer.get_weights())
    wrapper.setup_memory(memory, memory_mask=mask)
    outputs, *final = rnn(
        inputs, initial_state=wrapper.get_initial_state(cell_state=state)
    )
    wrapper.clear_memory()
    outputs, alignments = wrapper.split_outputs(outputs)
    np.testing.assert_allclose(to_numpy(outputs), to_numpy(expected), atol=1e-5)
    np.testing.assert_allclose(
        to_numpy(alignments), to_numpy(expected_alignments), atol=1e-6
    )
    assert len(final) == 3
    np.testing.assert_allclose(to_numpy(final[-1]), to_numpy(outputs[:, -1]), atol=1e-6)

    with pytest.raises(ValueError, match="setup_memory"):
        rnn(inputs)


def test_wrapper_tfa_semantics_and_defaults():
    memory = RNG.normal(size=(2, 5, 4)).astype("float32")
    inputs = RNG.normal(size=(2, 3)).astype("float32")
    # No attention layer: the attention vector and the output are the context.
    wrapper = AttentionWrapper(keras.layers.GRUCell(4), MultiplicativeAttention())
    wrapper.setup_memory(memory)
    state = wrapper.get_initial_state()
    assert [tuple(s.shape) for s in state] == [(2, 4), (2, 4)]
    output, new_state = wrapper(inputs, state)
    context = AttentionWrapper(
        wrapper.cell, wrapper.attention_mechanism, output_attention=False
    )
    context.setup_memory(memory)
    h, _ = context(inputs, state)
    wrapper.clear_memory()
    # o_t = c_t = attention(h_t), fed back as a_t; o_t = h_t without output_attention.
    expected = wrapper.attention_mechanism(h, memory)
    np.testing.assert_allclose(to_numpy(output), to_numpy(expected), atol=1e-6)
    np.testing.assert_allclose(to_numpy(new_state[-1]), to_numpy(output), atol=1e-6)
    np.testing.assert_allclose(to_numpy(new_state[0]), to_numpy(h), atol=1e-6)


def test_wrapper_config_and_build_config_round_trip():
    wrapper = AttentionWrapper(
        keras.layers.LSTMCell(4),
        AdditiveAttention(units=3),
        attention_layer=keras.layers.Dense(6, activation="relu"),
        style="bahdanau",
        alignment_history=True,
    )
    memory = RNG.normal(size=(2, 5, 4)).astype("float32")
    inputs = RNG.normal(size=(2, 3)).astype("float32")
    wrapper.setup_memory(memory)
    state = wrapper.get_initial_state()
    expected, _ = wrapper(inputs, state)
    config = wrapper.get_config()
    clone = AttentionWrapper.from_config(config)
    assert clone.get_config() == config
    clone.build_from_config(wrapper.get_build_config())
    clone.set_weights(wrapper.get_weights())
    clone.setup_memory(memory)
    got, _ = clone(inputs, state)
    np.testing.assert_allclose(to_numpy(got), to_numpy(expected), atol=1e-6)
    assert got.shape[-1] == 6 + 5
