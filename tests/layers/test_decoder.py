"""AttentionDecoder: the Keras contract, NumPy references, masks, compiled
training and saving, its config and the errors of its arguments."""

import keras
import numpy as np
import pytest
from harness import BACKEND, CHECKS, LayerCase, run_check, to_numpy
from recurrent_helpers import CONFIGS, make_decoder, small_decoder, source_mask

from keras_attention import (
    AdditiveAttention,
    AttentionDecoder,
    MultiplicativeAttention,
)

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
        small_decoder(**kwargs)


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
    decoder = small_decoder()
    with pytest.raises(ValueError, match=name):
        decoder(np.zeros(inputs, "float32"), np.zeros(memory, "float32"), **kwargs)
