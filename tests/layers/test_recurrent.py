"""AttentionWrapper and AttentionDecoder: the Keras contract, NumPy and
step-by-step references, masks, decoding and compiled training."""

import keras
import numpy as np
import pytest
from harness import BACKEND, CHECKS, LayerCase, run_check, to_numpy
from keras import ops

from keras_attention import (
    AdditiveAttention,
    AttentionDecoder,
    AttentionWrapper,
    MultiplicativeAttention,
)
from keras_attention.decoding import beam_search, greedy_search

RNG = np.random.default_rng(0)


def lstm_config(units, **config):
    return {
        "module": "keras.layers",
        "class_name": "LSTMCell",
        "config": {"units": units, **config},
    }


def gru_config(units, **config):
    return {
        "module": "keras.layers",
        "class_name": "GRUCell",
        "config": {"units": units, **config},
    }


def attention_config(name, **config):
    return {"class_name": f"keras_attention>{name}", "config": config}


CASES = [
    LayerCase(
        AttentionDecoder,
        {
            "cell": lstm_config(6),
            "attention": attention_config("MultiplicativeAttention", score="general"),
            "attention_layer_size": 5,
        },
        {"inputs": (2, 5, 3), "memory": (2, 7, 4)},
        scores=True,
        mask_inputs=("inputs", "memory"),
        id="luong-lstm-general",
    ),
    LayerCase(
        AttentionDecoder,
        {
            "cell": gru_config(6),
            "attention": attention_config("AdditiveAttention", units=4),
            "style": "bahdanau",
        },
        {"inputs": (2, 5, 3), "memory": (2, 7, 4)},
        scores=True,
        mask_inputs=("inputs", "memory"),
        id="bahdanau-gru-additive",
    ),
    LayerCase(
        AttentionDecoder,
        {
            "cell": lstm_config(4),
            "attention": attention_config("MultiplicativeAttention", score="concat"),
            "input_feeding": False,
            "attention_layer": {
                "module": "keras.layers",
                "class_name": "Identity",
                "config": {},
            },
        },
        {"inputs": (2, 4, 3), "memory": (2, 6, 5)},
        scores=True,
        mask_inputs=("memory",),
        id="luong-no-feeding-concat-readout",
    ),
]


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_keras_contract(case, check, tmp_path):
    run_check(case, check, tmp_path)


# --------------------------------------------------------------------------
# NumPy references.
# --------------------------------------------------------------------------


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def masked_softmax(scores, mask):
    scores = np.where(mask, scores, -np.inf)
    scores = scores - scores.max(-1, keepdims=True)
    weights = np.where(mask, np.exp(scores), 0.0)
    return weights / weights.sum(-1, keepdims=True)


def np_lstm(x, h, c, cell):
    z = x @ to_numpy(cell.kernel) + h @ to_numpy(cell.recurrent_kernel)
    z = z + to_numpy(cell.bias)
    i, f, g, o = np.split(z, 4, axis=-1)
    c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    return sigmoid(o) * np.tanh(c), c


def np_gru(x, h, cell):
    # Keras' default GRU: reset_after=True, bias of shape (2, 3 * units).
    bias = to_numpy(cell.bias)
    x_z, x_r, x_h = np.split(x @ to_numpy(cell.kernel) + bias[0], 3, axis=-1)
    h_z, h_r, h_h = np.split(h @ to_numpy(cell.recurrent_kernel) + bias[1], 3, axis=-1)
    z, r = sigmoid(x_z + h_z), sigmoid(x_r + h_r)
    return z * h + (1 - z) * np.tanh(x_h + r * h_h)


def np_additive(query, memory, mask, attention):
    keys = memory @ to_numpy(attention.key_kernel)
    hidden = np.tanh(
        (query @ to_numpy(attention.query_kernel))[:, None]
        + keys
        + to_numpy(attention.bias)
    )
    weights = masked_softmax(hidden @ to_numpy(attention.attention_v), mask)
    return np.einsum("bs,bsd->bd", weights, memory), weights


def np_general(query, memory, mask, attention):
    scores = np.einsum("bq,qk,bsk->bs", query, to_numpy(attention.kernel), memory)
    weights = masked_softmax(scores, mask)
    return np.einsum("bs,bsd->bd", weights, memory), weights


def source_mask(batch, length, lengths):
    return np.arange(length)[None] < np.asarray(lengths)[:, None]


def test_bahdanau_lstm_additive_matches_numpy():
    batch, steps, source, units = 3, 4, 6, 5
    inputs = RNG.normal(size=(batch, steps, 3)).astype("float32")
    memory = RNG.normal(size=(batch, source, 4)).astype("float32")
    mask = source_mask(batch, source, [6, 3, 1])
    h0 = RNG.normal(size=(batch, units)).astype("float32")
    c0 = RNG.normal(size=(batch, units)).astype("float32")
    decoder = AttentionDecoder(
        keras.layers.LSTMCell(units),
        AdditiveAttention(units=7),
        style="bahdanau",
        attention_layer=keras.layers.Identity(),
    )
    decoder(inputs, memory, initial_state=[h0, c0], memory_mask=mask)
    decoder.attention.bias.assign(RNG.normal(size=(7,)).astype("float32"))
    decoder.cell.bias.assign(RNG.normal(size=(4 * units,)).astype("float32"))
    outputs, alignments = decoder(
        inputs,
        memory,
        initial_state=[h0, c0],
        memory_mask=mask,
        return_attention_scores=True,
    )

    h, c = h0, c0
    expected, expected_alignments = [], []
    for t in range(steps):
        context, weights = np_additive(h, memory, mask, decoder.attention)
        h, c = np_lstm(np.concatenate([inputs[:, t], context], -1), h, c, decoder.cell)
        expected.append(np.concatenate([context, h], -1))  # Identity: [c_t; h_t]
        expected_alignments.append(weights)
    np.testing.assert_allclose(to_numpy(outputs), np.stack(expected, 1), atol=1e-5)
    np.testing.assert_allclose(
        to_numpy(alignments), np.stack(expected_alignments, 1), atol=1e-6
    )


def test_luong_gru_general_with_input_feeding_matches_numpy():
    batch, steps, source, units, size = 2, 5, 4, 6, 3
    inputs = RNG.normal(size=(batch, steps, 2)).astype("float32")
    memory = RNG.normal(size=(batch, source, 5)).astype("float32")
    mask = source_mask(batch, source, [2, 4])
    decoder = AttentionDecoder(
        keras.layers.GRUCell(units),
        MultiplicativeAttention(score="general"),
        style="luong",
        attention_layer_size=size,
    )
    outputs, alignments = decoder(
        inputs, memory, memory_mask=mask, return_attention_scores=True
    )
    w_c = to_numpy(decoder.wrapper.attention_layer.kernel)

    h = np.zeros((batch, units), "float32")
    attention = np.zeros((batch, size), "float32")
    expected, expected_alignments = [], []
    for t in range(steps):
        h = np_gru(np.concatenate([inputs[:, t], attention], -1), h, decoder.cell)
        context, weights = np_general(h, memory, mask, decoder.attention)
        attention = np.tanh(np.concatenate([context, h], -1) @ w_c)
        expected.append(attention)
        expected_alignments.append(weights)
    np.testing.assert_allclose(to_numpy(outputs), np.stack(expected, 1), atol=1e-5)
    np.testing.assert_allclose(
        to_numpy(alignments), np.stack(expected_alignments, 1), atol=1e-6
    )


# --------------------------------------------------------------------------
# A Python loop over the Keras cell and attention layer, and the step API.
# --------------------------------------------------------------------------


def stacked_cell():
    return keras.layers.StackedRNNCells(
        [keras.layers.LSTMCell(5), keras.layers.GRUCell(6)]
    )


CONFIGS = {
    "luong-lstm-general-feeding": dict(
        cell=lambda: keras.layers.LSTMCell(6),
        attention=lambda: MultiplicativeAttention(score="general"),
        style="luong",
        attention_layer_size=5,
    ),
    "luong-gru-additive-no-feeding-cell-output": dict(
        cell=lambda: keras.layers.GRUCell(6),
        attention=lambda: AdditiveAttention(units=4),
        style="luong",
        input_feeding=False,
        output_attention=False,
    ),
    "luong-lstm-scaled-dot-context": dict(
        cell=lambda: keras.layers.LSTMCell(4),
        attention=lambda: MultiplicativeAttention(score="scaled_dot", use_scale=True),
        style="luong",
    ),
    "bahdanau-lstm-additive-concat-readout": dict(
        cell=lambda: keras.layers.LSTMCell(6),
        attention=lambda: AdditiveAttention(units=4),
        style="bahdanau",
        attention_layer=keras.layers.Identity,
    ),
    "bahdanau-stacked-concat-score-linear": dict(
        cell=stacked_cell,
        attention=lambda: MultiplicativeAttention(score="concat", units=3),
        style="bahdanau",
        attention_layer_size=7,
        attention_activation=None,
    ),
}


def make_decoder(config, **overrides):
    config = {**config, **overrides}
    kwargs = {k: v for k, v in config.items() if k not in ("cell", "attention")}
    if "attention_layer" in kwargs:
        kwargs["attention_layer"] = kwargs["attention_layer"]()
    return AttentionDecoder(config["cell"](), config["attention"](), **kwargs)


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


# --------------------------------------------------------------------------
# Masks.
# --------------------------------------------------------------------------


@pytest.mark.parametrize("style", ["luong", "bahdanau"])
def test_alignments_sum_to_one_over_the_unmasked_source(style):
    batch, steps, source = 3, 4, 6
    lengths = [6, 1, 3]
    inputs = RNG.normal(size=(batch, steps, 3)).astype("float32")
    memory = RNG.normal(size=(batch, source, 4)).astype("float32")
    mask = source_mask(batch, source, lengths)
    decoder = AttentionDecoder(
        keras.layers.GRUCell(5), AdditiveAttention(units=3), style=style
    )
    outputs, alignments = decoder(
        inputs, memory, memory_mask=mask, return_attention_scores=True
    )
    alignments = to_numpy(alignments)
    assert alignments.shape == (batch, steps, source)
    np.testing.assert_allclose(alignments.sum(-1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(alignments * ~mask[:, None], 0.0)
    assert np.all(alignments[:, :, 0][np.array(lengths) == 1] == 1.0)
    # The padded source steps' values do not matter.
    changed = memory.copy()
    changed[~mask] = 100.0
    np.testing.assert_allclose(
        to_numpy(decoder(inputs, changed, memory_mask=mask)),
        to_numpy(outputs),
        atol=1e-6,
    )


def test_keras_masks_of_both_sequences_in_a_functional_model():
    vocab, batch = 9, 3
    source = keras.Input((None,), dtype="int32")
    target = keras.Input((None,), dtype="int32")
    memory = keras.layers.Embedding(vocab, 4, mask_zero=True)(source)
    embedded = keras.layers.Embedding(vocab, 3, mask_zero=True)(target)
    decoder = AttentionDecoder(
        keras.layers.LSTMCell(5), AdditiveAttention(units=3), attention_layer_size=4
    )
    outputs, alignments = decoder(embedded, memory, return_attention_scores=True)
    assert tuple(outputs._keras_mask.shape) == (None, None)  # the target's mask
    model = keras.Model([source, target], [outputs, alignments])

    x = np.array([[1, 2, 3, 4], [5, 6, 0, 0], [7, 8, 0, 0]], "int32")
    y = np.array([[1, 2, 3], [4, 5, 0], [6, 0, 0]], "int32")
    got, weights = (to_numpy(t) for t in model([x, y]))
    x_mask, y_mask = x != 0, y != 0
    np.testing.assert_array_equal(weights * ~x_mask[:, None], 0.0)
    np.testing.assert_allclose(weights.sum(-1)[y_mask], 1.0, atol=1e-5)
    # Padded target steps output zeros (and zero alignments).
    np.testing.assert_array_equal(got[~y_mask], 0.0)
    np.testing.assert_array_equal(weights[~y_mask], 0.0)
    # Each item equals the same item unpadded.
    for item in range(batch):
        sx, sy = x[item : item + 1, x_mask[item]], y[item : item + 1, y_mask[item]]
        alone, alone_weights = (to_numpy(t) for t in model([sx, sy]))
        np.testing.assert_allclose(
            got[item : item + 1, : sy.shape[1]], alone, atol=1e-5
        )
        np.testing.assert_allclose(
            weights[item, : sy.shape[1], : sx.shape[1]], alone_weights[0], atol=1e-6
        )


# --------------------------------------------------------------------------
# Encoders, compiled training, saving.
# --------------------------------------------------------------------------


def seq2seq_model(vocab=8, style="bahdanau"):
    """A bidirectional two-layer LSTM encoder and an attention decoder
    initialised from the encoder's final states."""
    source = keras.Input((None,), dtype="int32", name="source")
    target = keras.Input((None,), dtype="int32", name="target")
    x = keras.layers.Embedding(vocab, 8, mask_zero=True)(source)
    x = keras.layers.Bidirectional(keras.layers.LSTM(6, return_sequences=True))(x)
    memory, fh, fc, bh, bc = keras.layers.Bidirectional(
        keras.layers.LSTM(6, return_sequences=True, return_state=True)
    )(x)
    h = keras.layers.Concatenate()([fh, bh])
    c = keras.layers.Concatenate()([fc, bc])
    decoder = AttentionDecoder(
        keras.layers.LSTMCell(12),
        AdditiveAttention(units=8),
        style=style,
        attention_layer_size=12,
        name="decoder",
    )
    y = keras.layers.Embedding(vocab, 8, mask_zero=True)(target)
    outputs, alignments = decoder(
        y, memory, initial_state=[h, c], return_attention_scores=True
    )
    logits = keras.layers.Dense(vocab, name="logits")(outputs)
    return keras.Model([source, target], [logits, alignments])


def copy_task(batch=16, length=5, vocab=8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(3, vocab, size=(batch, length)).astype("int32")
    lengths = rng.integers(2, length + 1, size=batch)
    x[np.arange(length)[None] >= lengths[:, None]] = 0
    y_in = np.concatenate([np.ones((batch, 1), "int32"), x[:, :-1]], 1)
    y_in[x == 0] = 0
    return x, y_in, x


@pytest.mark.parametrize("style", ["luong", "bahdanau"])
def test_bidirectional_encoder_training_compiles_and_reloads(style, tmp_path):
    keras.utils.set_random_seed(0)
    model = seq2seq_model(style=style)
    logits_model = keras.Model(model.inputs, model.outputs[0])
    logits_model.compile(
        optimizer=keras.optimizers.Adam(0.02),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=BACKEND != "torch",
    )
    x, y_in, y_out = copy_task()
    first = logits_model.evaluate([x, y_in], y_out, verbose=0)
    logits_model.fit([x, y_in], y_out, epochs=15, batch_size=16, verbose=0)
    last = logits_model.evaluate([x, y_in], y_out, verbose=0)
    assert np.isfinite(last) and last < 0.8 * first, (first, last)

    logits, alignments = (to_numpy(t) for t in model([x, y_in]))
    x_mask, y_mask = x != 0, y_in != 0
    np.testing.assert_array_equal(alignments * ~x_mask[:, None], 0.0)
    np.testing.assert_allclose(alignments.sum(-1)[y_mask], 1.0, atol=1e-5)

    path = str(tmp_path / "seq2seq.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert isinstance(reloaded.get_layer("decoder"), AttentionDecoder)
    for got, want in zip(reloaded([x, y_in]), (logits, alignments), strict=True):
        np.testing.assert_allclose(to_numpy(got), want, atol=1e-6)


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


@pytest.mark.skipif(BACKEND != "jax", reason="the limitation is JAX's lax.scan")
def test_attention_dropout_in_the_loop_is_refused_on_jax():
    decoder = AttentionDecoder(
        keras.layers.LSTMCell(4), AdditiveAttention(units=3, dropout=0.2)
    )
    inputs = np.zeros((2, 3, 3), "float32")
    memory = np.zeros((2, 4, 4), "float32")
    decoder(inputs, memory)  # inference is fine
    with pytest.raises(ValueError, match="dropout"):
        decoder(inputs, memory, training=True)


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


# --------------------------------------------------------------------------
# The wrapper inside a plain keras.layers.RNN (the TF Addons migration path).
# --------------------------------------------------------------------------


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


def test_decoder_config_round_trip():
    decoder = make_decoder(CONFIGS["bahdanau-stacked-concat-score-linear"])
    config = decoder.get_config()
    clone = AttentionDecoder.from_config(config)
    assert isinstance(clone.cell, keras.layers.StackedRNNCells)
    assert clone.get_config() == config
    assert config["attention_activation"] == "linear"
    assert clone.wrapper.attention_layer_size == 7


# --------------------------------------------------------------------------
# Errors name the argument.
# --------------------------------------------------------------------------


def _decoder(**kwargs):
    arguments = {"cell": keras.layers.LSTMCell(4), "attention": AdditiveAttention(3)}
    return AttentionDecoder(**{**arguments, **kwargs})


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"style": "transformer"}, "style"),
        ({"cell": keras.layers.Dense(3)}, "cell"),
        ({"cell": keras.layers.LSTM(3)}, "cell"),
        ({"cell": "lstm"}, "cell"),
        ({"attention": "additive"}, "attention"),
        ({"style": "bahdanau", "input_feeding": False}, "input_feeding"),
        ({"attention_layer_size": 0}, "attention_layer_size"),
        (
            {"attention_layer_size": 3, "attention_layer": keras.layers.Dense(3)},
            "attention_layer",
        ),
    ],
)
def test_bad_constructor_arguments(kwargs, name):
    with pytest.raises(ValueError, match=f"`{name}`"):
        _decoder(**kwargs)


@pytest.mark.parametrize(
    "inputs, memory, kwargs, name",
    [
        ((2, 3), (2, 4, 4), {}, "inputs"),
        ((2, 3, 3), (2, 4), {}, "memory"),
        ((2, 3, 3), (3, 4, 4), {}, "batch"),
        ((2, 3, 3), (2, 4, 4), {"memory_mask": np.ones((2, 5), bool)}, "memory_mask"),
        ((2, 3, 3), (2, 4, 4), {"initial_state": [np.zeros((2, 4))]}, "initial_state"),
        (
            (2, 3, 3),
            (2, 4, 4),
            {"initial_state": [np.zeros((2, 5))] * 2},
            "initial_state",
        ),
    ],
)
def test_bad_call_arguments(inputs, memory, kwargs, name):
    decoder = _decoder()
    with pytest.raises(ValueError, match=name):
        decoder(np.zeros(inputs, "float32"), np.zeros(memory, "float32"), **kwargs)


def test_step_needs_a_built_decoder_and_a_single_step_input():
    decoder = _decoder()
    memory = np.zeros((2, 4, 4), "float32")
    with pytest.raises(ValueError, match="built"):
        decoder.step(np.zeros((2, 3), "float32"), decoder.get_initial_state(memory))
    decoder(np.zeros((2, 1, 3), "float32"), memory)
    with pytest.raises(ValueError, match="inputs"):
        decoder.step(np.zeros((2, 1, 3), "float32"), decoder.get_initial_state(memory))
