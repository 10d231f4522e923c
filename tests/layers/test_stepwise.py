"""The step API of AttentionDecoder (`get_initial_state`, `step`): equal to
the teacher-forced call and to a Python loop, and driven by
keras_attention.decoding (greedy and beam search, compiled)."""

import keras
import numpy as np
import pytest
from harness import BACKEND, to_numpy
from keras import ops
from recurrent_helpers import CONFIGS, make_decoder, small_decoder, source_mask

from keras_attention import AdditiveAttention, AttentionDecoder
from keras_attention.decoding import beam_search, greedy_search

RNG = np.random.default_rng(0)


# --------------------------------------------------------------------------
# A Python loop over the Keras cell and attention layer, and the step API.
# --------------------------------------------------------------------------


def random_cell_state(cell, batch):
    """A random initial state nested as the cell's `state_size`."""
    return keras.tree.map_structure(
        lambda size: RNG.normal(size=(batch, size)).astype("float32"),
        cell.state_size if not isinstance(cell.state_size, int) else [cell.state_size],
    )


def python_loop(decoder, inputs, memory, mask, cell_state):
    """The decoder's equations, calling its Keras cell and attention layer."""
    cell, attention = decoder.cell, decoder.attention
    layer = decoder.wrapper.attention_layer
    state = cell_state
    attention_vector = None
    outputs, alignments = [], []
    for t in range(inputs.shape[1]):
        x = inputs[:, t]
        if decoder.style == "bahdanau":
            top = state[-1] if isinstance(cell, keras.layers.StackedRNNCells) else state
            previous = keras.tree.flatten(top)[0]
            context, weights = attention(
                previous, memory, value_mask=mask, return_attention_scores=True
            )
            h, state = cell(ops.concatenate([x, context], -1), state)
        else:
            if attention_vector is None:
                size = decoder.wrapper.attention_size
                attention_vector = ops.zeros((inputs.shape[0], size))
            cell_input = x
            if decoder.wrapper.input_feeding:
                cell_input = ops.concatenate([x, attention_vector], -1)
            h, state = cell(cell_input, state)
            context, weights = attention(
                h, memory, value_mask=mask, return_attention_scores=True
            )
        attention_vector = context
        if layer is not None:
            attention_vector = layer(ops.concatenate([context, h], -1))
        outputs.append(attention_vector if decoder.wrapper.output_attention else h)
        alignments.append(weights)
    return to_numpy(ops.stack(outputs, 1)), to_numpy(ops.stack(alignments, 1))


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_teacher_forced_equals_python_loop_and_step_wise(name):
    batch, steps, source = 3, 5, 6
    inputs = RNG.normal(size=(batch, steps, 3)).astype("float32")
    memory = RNG.normal(size=(batch, source, 4)).astype("float32")
    mask = source_mask(batch, source, [6, 2, 4])
    decoder = make_decoder(CONFIGS[name])
    decoder.build(inputs.shape, memory.shape)
    cell_state = random_cell_state(decoder.cell, batch)

    outputs, alignments = decoder(
        inputs,
        memory,
        initial_state=cell_state,
        memory_mask=mask,
        return_attention_scores=True,
    )
    outputs, alignments = to_numpy(outputs), to_numpy(alignments)
    loop_outputs, loop_alignments = python_loop(
        decoder, inputs, memory, mask, cell_state
    )
    np.testing.assert_allclose(outputs, loop_outputs, atol=1e-5)
    np.testing.assert_allclose(alignments, loop_alignments, atol=1e-6)
    assert (
        outputs.shape[-1]
        == decoder.compute_output_shape(inputs.shape, memory.shape)[-1]
    )

    state = decoder.get_initial_state(memory, cell_state=cell_state, memory_mask=mask)
    for t in range(steps):
        step_outputs, state = decoder.step(inputs[:, t], state)
        np.testing.assert_allclose(to_numpy(step_outputs), outputs[:, t], atol=1e-5)
        np.testing.assert_allclose(
            to_numpy(state["alignments"]), alignments[:, t], atol=1e-6
        )
    # The wrapper's state is what `return_state` gives.
    decoder_with_state = AttentionDecoder.from_config(
        {**decoder.get_config(), "return_state": True}
    )
    decoder_with_state.build(inputs.shape, memory.shape)
    decoder_with_state.set_weights(decoder.get_weights())
    _, *final = decoder_with_state(
        inputs, memory, initial_state=cell_state, memory_mask=mask
    )
    expected = list(state["cell_state"]) + [state["attention"]]
    assert len(final) == len(expected)
    for got, want in zip(final, expected, strict=True):
        np.testing.assert_allclose(to_numpy(got), to_numpy(want), atol=1e-5)


# --------------------------------------------------------------------------
# Decoding with keras_attention.decoding.
# --------------------------------------------------------------------------


class ToyTranslator:
    """Encoder, attention decoder and output layer with random weights."""

    def __init__(self, vocab=7, style="luong", seed=0):
        keras.utils.set_random_seed(seed)
        self.vocab = vocab
        self.source_embedding = keras.layers.Embedding(vocab, 6, mask_zero=True)
        self.encoder = keras.layers.LSTM(8, return_sequences=True, return_state=True)
        self.target_embedding = keras.layers.Embedding(vocab, 5)
        self.decoder = AttentionDecoder(
            keras.layers.LSTMCell(8),
            AdditiveAttention(units=6),
            style=style,
            attention_layer_size=8,
        )
        self.output_layer = keras.layers.Dense(vocab)
        self.source = np.array(
            [[3, 4, 5, 6, 0], [6, 5, 0, 0, 0], [2, 3, 4, 0, 0]], "int32"
        )
        self.start = np.ones(len(self.source), "int32")
        # Larger logits make the argmax robust to float round-off.
        self.teacher_forced(self.start[:, None])
        kernel = self.output_layer.kernel
        kernel.assign(kernel * 4.0)

    def encode(self, source):
        embedded = self.source_embedding(source)
        memory, h, c = self.encoder(embedded, mask=source != 0)
        return memory, [h, c], source != 0

    def teacher_forced(self, target_inputs, source=None):
        source = self.source if source is None else source
        memory, state, mask = self.encode(source)
        outputs = self.decoder(
            self.target_embedding(target_inputs),
            memory,
            initial_state=state,
            memory_mask=mask,
        )
        return self.output_layer(outputs)

    def initial_state(self, source=None):
        source = self.source if source is None else source
        memory, state, mask = self.encode(source)
        return self.decoder.get_initial_state(
            memory, cell_state=state, memory_mask=mask
        )

    def step_fn(self, tokens, state, index):
        outputs, state = self.decoder.step(self.target_embedding(tokens), state)
        return self.output_layer(outputs), state


def log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


@pytest.mark.parametrize("style", ["luong", "bahdanau"])
def test_greedy_search_equals_teacher_forced_argmax(style):
    model = ToyTranslator(style=style)
    max_length = 6
    tokens, scores = greedy_search(
        model.step_fn, model.start, model.initial_state(), max_length
    )
    tokens = to_numpy(tokens)
    # Teacher forcing on the start token and the greedy prefix.
    target_inputs = np.concatenate([model.start[:, None], tokens[:, :-1]], 1)
    logits = to_numpy(model.teacher_forced(target_inputs))
    np.testing.assert_array_equal(np.argmax(logits, -1), tokens)
    log_probs = np.take_along_axis(log_softmax(logits), tokens[..., None], -1)
    np.testing.assert_allclose(to_numpy(scores), log_probs[..., 0].sum(-1), rtol=1e-4)
    assert len({tuple(row) for row in tokens}) > 1  # the sources matter


def test_beam_search_over_the_decoder_state():
    """Beam search repeats and reorders the whole state, memory and mask
    included: each item decoded alone gives its beams in the batch, and the
    scores are the teacher-forced log-probabilities of the hypotheses."""
    model = ToyTranslator(style="bahdanau", seed=1)
    max_length, beams = 4, 3
    tokens, scores = beam_search(
        model.step_fn,
        model.start,
        model.initial_state(),
        max_length,
        beam_size=beams,
        return_all_beams=True,
    )
    tokens, scores = to_numpy(tokens), to_numpy(scores)
    for item in range(len(model.source)):
        source = model.source[item : item + 1]
        alone_tokens, alone_scores = beam_search(
            model.step_fn,
            model.start[:1],
            model.initial_state(source),
            max_length,
            beam_size=beams,
            return_all_beams=True,
        )
        np.testing.assert_array_equal(to_numpy(alone_tokens)[0], tokens[item])
        np.testing.assert_allclose(to_numpy(alone_scores)[0], scores[item], rtol=1e-4)
        target_inputs = np.concatenate(
            [np.ones((beams, 1), "int32"), tokens[item, :, :-1]], 1
        )
        logits = to_numpy(
            model.teacher_forced(target_inputs, np.repeat(source, beams, 0))
        )
        log_probs = np.take_along_axis(
            log_softmax(logits), tokens[item][..., None], -1
        )[..., 0]
        np.testing.assert_allclose(scores[item], log_probs.sum(-1), rtol=1e-4)
    best, best_scores = beam_search(
        model.step_fn, model.start, model.initial_state(), max_length, beam_size=1
    )
    greedy, greedy_scores = greedy_search(
        model.step_fn, model.start, model.initial_state(), max_length
    )
    np.testing.assert_array_equal(to_numpy(best), to_numpy(greedy))
    np.testing.assert_allclose(
        to_numpy(best_scores), to_numpy(greedy_scores), rtol=1e-5
    )


@pytest.mark.skipif(
    BACKEND == "torch", reason="checks XLA compilation (jax.jit, tf.function)"
)
def test_compiled_greedy_search_equals_eager():
    model = ToyTranslator()
    state = model.initial_state()
    eager = greedy_search(model.step_fn, model.start, state, 5, end_token=2)

    def run(start, state):
        return greedy_search(model.step_fn, start, state, 5, end_token=2)

    if BACKEND == "jax":
        import jax

        compiled = jax.jit(run)(model.start, state)
    else:
        import tensorflow as tf

        compiled = tf.function(run, jit_compile=True)(model.start, state)
    np.testing.assert_array_equal(to_numpy(compiled[0]), to_numpy(eager[0]))
    np.testing.assert_allclose(to_numpy(compiled[1]), to_numpy(eager[1]), rtol=1e-5)


def test_step_needs_a_built_decoder_and_a_single_step_input():
    decoder = small_decoder()
    memory = np.zeros((2, 4, 4), "float32")
    with pytest.raises(ValueError, match="built"):
        decoder.step(np.zeros((2, 3), "float32"), decoder.get_initial_state(memory))
    decoder(np.zeros((2, 1, 3), "float32"), memory)
    with pytest.raises(ValueError, match="inputs"):
        decoder.step(np.zeros((2, 1, 3), "float32"), decoder.get_initial_state(memory))
