"""Helpers shared by the recurrent decoder tests (test_decoder.py,
test_stepwise.py, test_wrapper.py): source masks and small decoders."""

import keras
import numpy as np

from keras_attention import (
    AdditiveAttention,
    AttentionDecoder,
    MultiplicativeAttention,
)


def source_mask(batch, length, lengths):
    return np.arange(length)[None] < np.asarray(lengths)[:, None]


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


def small_decoder(**kwargs):
    arguments = {"cell": keras.layers.LSTMCell(4), "attention": AdditiveAttention(3)}
    return AttentionDecoder(**{**arguments, **kwargs})
