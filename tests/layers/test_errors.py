"""Bad input gets a ValueError that names the argument, never a backend trace."""

import numpy as np
import pytest

from keras_attention import (
    AdditiveAttention,
    LearnedPositionalEmbedding,
    MultiplicativeAttention,
    SinusoidalPositionalEncoding,
)

Q = np.zeros((2, 5, 4), "float32")
V = np.zeros((2, 7, 4), "float32")


@pytest.mark.parametrize(
    "make, argument",
    [
        (lambda: AdditiveAttention(units=0), "units"),
        (lambda: AdditiveAttention(units=-3), "units"),
        (lambda: AdditiveAttention(units=2.5), "units"),
        (lambda: AdditiveAttention(units=4, dropout=1.0), "dropout"),
        (lambda: AdditiveAttention(units=4, dropout=-0.1), "dropout"),
        (lambda: AdditiveAttention(units=4, query_chunk_size=0), "query_chunk_size"),
        (lambda: MultiplicativeAttention(score="cosine"), "score"),
        (lambda: MultiplicativeAttention(dropout=2), "dropout"),
        (lambda: MultiplicativeAttention("concat", units=0), "units"),
        (lambda: MultiplicativeAttention("location"), "max_length"),
        (lambda: SinusoidalPositionalEncoding(max_wavelength=0), "max_wavelength"),
        (lambda: SinusoidalPositionalEncoding(mode="concat"), "mode"),
        (lambda: LearnedPositionalEmbedding(sequence_length=0), "sequence_length"),
    ],
)
def test_constructor_arguments_are_validated(make, argument):
    with pytest.raises(ValueError, match=f"`{argument}`"):
        make()


LAYERS = [
    lambda: AdditiveAttention(units=3),
    lambda: MultiplicativeAttention("dot"),
    lambda: MultiplicativeAttention("general"),
]


@pytest.mark.parametrize("make", LAYERS)
@pytest.mark.parametrize(
    "args, kwargs, argument",
    [
        ((np.zeros((2, 3, 5, 4), "float32"), V), {}, "query"),
        ((np.zeros((2,), "float32"), V), {}, "query"),
        ((Q, np.zeros((2, 7), "float32")), {}, "value"),
        ((Q, V, np.zeros((2, 6, 4), "float32")), {}, "key"),
        ((Q, np.zeros((3, 7, 4), "float32")), {}, "batch size"),
        ((Q, V), {"value_mask": np.ones((2, 6), bool)}, "value_mask"),
        ((Q, V), {"query_mask": np.ones((2, 7), bool)}, "query_mask"),
        ((Q, V), {"attention_mask": np.ones((5, 6), bool)}, "attention_mask"),
        ((Q, V), {"attention_mask": np.ones((7,), bool)}, "attention_mask"),
    ],
)
def test_bad_call_inputs_are_named(make, args, kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        make()(*args, **kwargs)


def test_dot_score_needs_equal_query_and_key_sizes():
    with pytest.raises(ValueError, match="same last dimension"):
        MultiplicativeAttention("dot")(np.zeros((2, 5, 3), "float32"), V)


def test_location_score_rejects_longer_sources():
    layer = MultiplicativeAttention("location", max_length=6)
    with pytest.raises(ValueError, match="max_length=6"):
        layer(Q, V)


def test_learned_positions_reject_sequences_longer_than_the_table():
    layer = LearnedPositionalEmbedding(sequence_length=6)
    layer(np.zeros((2, 6, 4), "float32"))
    with pytest.raises(ValueError, match="sequence_length=6"):
        layer(np.zeros((2, 7, 4), "float32"))
    with pytest.raises(ValueError, match="start_index=3"):
        layer(np.zeros((2, 4, 4), "float32"), start_index=3)


@pytest.mark.parametrize("bad", [-1, 1.5, True])
def test_start_index_is_validated(bad):
    with pytest.raises(ValueError, match="start_index"):
        SinusoidalPositionalEncoding()(Q, start_index=bad)


def test_positional_layers_need_sequences():
    with pytest.raises(ValueError, match="inputs"):
        SinusoidalPositionalEncoding()(np.zeros((4,), "float32"))
