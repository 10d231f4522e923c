"""Bad inputs to every public layer and decoder: one table, one contract.

Every row of `ROWS` builds and/or calls a public layer or function of
`keras_attention` with one bad input. The contract each row checks:

- the error is a `ValueError` or a `TypeError` (the row says which), raised
  by the library itself: never a backend error from deep inside
  (`tf.errors.InvalidArgumentError`, a JAX shape error, a torch
  `RuntimeError`, an `IndexError`, ...) and never silence;
- its message names the layer class (or the decoding function), the
  offending argument in backticks (`` `num_heads` ``) and what was received
  (the bad value or shape, as text).

Type conventions: bad values and shapes, non-integer sizes and unknown
constructor keywords are `ValueError` (as the constructor validators already
do; an unknown keyword also suggests the closest accepted name, "did you mean
`num_heads`?"); a mask of a float dtype is a `TypeError` that points to
`attention_bias` (float masks are never reinterpreted silently); so are
float token ids.

The second half of the file checks the degenerate-but-valid inputs: an empty
batch and zero-length sequences give correctly shaped, finite outputs, and a
query with no keys at all gets zeros (its row is fully masked).
"""

import collections

import keras
import numpy as np
import pytest
from keras import ops

from keras_attention import (
    AdditiveAttention,
    AttentionDecoder,
    AttentionWrapper,
    LearnedPositionalEmbedding,
    LocalAttention,
    MultiHeadAttention,
    MultiplicativeAttention,
    SelfAttention,
    SinusoidalPositionalEncoding,
    TokenAndPositionEmbedding,
    TransformerDecoderBlock,
    TransformerEncoderBlock,
    decoding,
)


def x(*shape):
    """Small float32 data (not zeros, so that nothing is trivially fine)."""
    return np.random.RandomState(0).rand(*shape).astype("float32")


def mask(*shape):
    return np.ones(shape, bool)


def float_mask(*shape):
    return np.ones(shape, "float32")


Q, V = x(2, 5, 4), x(2, 7, 4)  # query (batch 2, Tq 5), value (Tk 7), dim 4

Row = collections.namedtuple("Row", "id make error needs")
ROWS = []


def row(id, error, needs, make):
    """One bad input: `needs` are substrings, a tuple meaning "any of these"."""
    ROWS.append(Row(id, make, error, needs))


def built(layer, *args, **kwargs):
    """`layer` after one good call, for second-call rows."""
    layer(*args, **kwargs)
    return layer


def float_mask_needs(layer, arg):
    return [layer, f"`{arg}`", "float32", "`attention_bias`"]


# --------------------------------------------------------------------------
# AdditiveAttention
# --------------------------------------------------------------------------
A = "AdditiveAttention"
row(
    "additive/units_float",
    ValueError,
    [A, "`units`", "2.5"],
    lambda: AdditiveAttention(units=2.5),
)
row(
    "additive/dropout_negative",
    ValueError,
    [A, "`dropout`", "-0.1"],
    lambda: AdditiveAttention(units=4, dropout=-0.1),
)
row(
    "additive/unknown_kwarg",
    ValueError,
    [A, "`normalise`", "`normalize`"],
    lambda: AdditiveAttention(units=4, normalise=True),
)
row(
    "additive/query_rank4",
    ValueError,
    [A, "`query`", "(2, 3, 5, 4)"],
    lambda: AdditiveAttention(units=3)(x(2, 3, 5, 4), V),
)
row(
    "additive/batch_mismatch",
    ValueError,
    [A, "`value`", ("(3, 7, 4)", "value=3")],
    lambda: AdditiveAttention(units=3)(Q, x(3, 7, 4)),
)
row(
    "additive/second_call_value_dim",
    ValueError,
    [A, "`value`", "(2, 7, 6)"],
    lambda: built(AdditiveAttention(units=3), Q, V)(Q, x(2, 7, 6)),
)
row(
    "additive/attention_mask_rank5",
    ValueError,
    [A, "`attention_mask`", "(2, 1, 1, 5, 7)"],
    lambda: AdditiveAttention(units=3)(Q, V, attention_mask=mask(2, 1, 1, 5, 7)),
)
row(
    "additive/value_mask_float",
    TypeError,
    float_mask_needs(A, "value_mask"),
    lambda: AdditiveAttention(units=3)(Q, V, value_mask=float_mask(2, 7)),
)
row(
    "additive/attention_mask_float",
    TypeError,
    float_mask_needs(A, "attention_mask"),
    lambda: AdditiveAttention(units=3)(Q, V, attention_mask=float_mask(2, 5, 7)),
)

# --------------------------------------------------------------------------
# MultiplicativeAttention
# --------------------------------------------------------------------------
M = "MultiplicativeAttention"
row(
    "multiplicative/score_unknown",
    ValueError,
    [M, "`score`", "'cosine'"],
    lambda: MultiplicativeAttention(score="cosine"),
)
row(
    "multiplicative/dropout_one",
    ValueError,
    [M, "`dropout`", "1.0"],
    lambda: MultiplicativeAttention(dropout=1.0),
)
row(
    "multiplicative/units_str",
    ValueError,
    [M, "`units`", "'8'"],
    lambda: MultiplicativeAttention("concat", units="8"),
)
row(
    "multiplicative/unknown_kwarg",
    ValueError,
    [M, "`scores`", "`score`"],
    lambda: MultiplicativeAttention(scores="general"),
)
row(
    "multiplicative/value_rank2",
    ValueError,
    [M, "`value`", "(2, 7)"],
    lambda: MultiplicativeAttention()(Q, x(2, 7)),
)
row(
    "multiplicative/key_value_lengths",
    ValueError,
    [M, "`key`", "(2, 6, 4)"],
    lambda: MultiplicativeAttention()(Q, V, x(2, 6, 4)),
)
row(
    "multiplicative/dot_sizes",
    ValueError,
    [M, "`query`", ("(2, 5, 3)", "3")],
    lambda: MultiplicativeAttention("dot")(x(2, 5, 3), V),
)
row(
    "multiplicative/second_call_query_dim",
    ValueError,
    [M, "`query`", "(2, 5, 6)"],
    lambda: built(MultiplicativeAttention("general"), Q, V)(x(2, 5, 6), V),
)
row(
    "multiplicative/location_too_long",
    ValueError,
    [M, ("`value`", "`max_length`"), ("(2, 7, 4)", "7")],
    lambda: MultiplicativeAttention("location", max_length=6)(Q, V),
)
row(
    "multiplicative/value_mask_rank3",
    ValueError,
    [M, "`value_mask`", "(2, 7, 1)"],
    lambda: MultiplicativeAttention()(Q, V, value_mask=mask(2, 7, 1)),
)
row(
    "multiplicative/key_mask_float",
    TypeError,
    float_mask_needs(M, "key_mask"),
    lambda: MultiplicativeAttention()(Q, V, V, key_mask=float_mask(2, 7)),
)

# --------------------------------------------------------------------------
# LocalAttention
# --------------------------------------------------------------------------
L = "LocalAttention"
row(
    "local/window_zero",
    ValueError,
    [L, "`window_width`", "0"],
    lambda: LocalAttention(window_width=0),
)
row(
    "local/window_float",
    ValueError,
    [L, "`window_width`", "1.5"],
    lambda: LocalAttention(window_width=1.5),
)
row(
    "local/mode_unknown",
    ValueError,
    [L, "`mode`", "'gaussian'"],
    lambda: LocalAttention(window_width=2, mode="gaussian"),
)
row(
    "local/score_location",
    ValueError,
    [L, "`score`", "'location'"],
    lambda: LocalAttention(window_width=2, score="location"),
)
row(
    "local/query_chunk_size",
    ValueError,
    [L, "`query_chunk_size`", "4"],
    lambda: LocalAttention(window_width=2, query_chunk_size=4),
)
row(
    "local/unknown_kwarg",
    ValueError,
    [L, "`modes`", "`mode`"],
    lambda: LocalAttention(window_width=2, modes="monotonic"),
)
row(
    "local/positions_length",
    ValueError,
    [L, "`positions`", "(2, 6)"],
    lambda: LocalAttention(2, mode="monotonic")(
        Q, V, positions=np.zeros((2, 6), "int32")
    ),
)
row(
    "local/second_call_query_dim",
    ValueError,
    [L, "`query`", "(2, 5, 6)"],
    lambda: built(LocalAttention(2), Q, V)(x(2, 5, 6), V),
)
row(
    "local/value_mask_float",
    TypeError,
    float_mask_needs(L, "value_mask"),
    lambda: LocalAttention(2)(Q, V, value_mask=float_mask(2, 7)),
)

# --------------------------------------------------------------------------
# MultiHeadAttention
# --------------------------------------------------------------------------
H = "MultiHeadAttention"


def mha(**kwargs):
    return MultiHeadAttention(**{"num_heads": 2, "key_dim": 4, **kwargs})


def cache(*shape):
    return np.zeros(shape, "float32")


row(
    "mha/num_heads_str",
    ValueError,
    [H, "`num_heads`", "'4'"],
    lambda: MultiHeadAttention(num_heads="4", key_dim=4),
)
row(
    "mha/kv_heads_not_dividing",
    ValueError,
    [H, "`num_key_value_heads`", "3"],
    lambda: MultiHeadAttention(num_heads=4, key_dim=4, num_key_value_heads=3),
)
row(
    "mha/rope_odd_key_dim",
    ValueError,
    [H, "`key_dim`", "5"],
    lambda: MultiHeadAttention(num_heads=2, key_dim=5, position_embedding="rope"),
)
row("mha/window_zero", ValueError, [H, "`window`", "0"], lambda: mha(window=0))
row("mha/window_float", ValueError, [H, "`window`", "2.5"], lambda: mha(window=2.5))
row(
    "mha/score_unknown",
    ValueError,
    [H, "`score`", "'cosine'"],
    lambda: mha(score="cosine"),
)
row(
    "mha/position_unknown",
    ValueError,
    [H, "`position_embedding`", "'learned'"],
    lambda: mha(position_embedding="learned"),
)
row(
    "mha/dropout_negative",
    ValueError,
    [H, "`dropout`", "-0.5"],
    lambda: mha(dropout=-0.5),
)
row(
    "mha/unknown_kwarg",
    ValueError,
    [H, "`num_head`", "`num_heads`"],
    lambda: MultiHeadAttention(num_heads=2, key_dim=4, num_head=3),
)
row("mha/query_rank2", ValueError, [H, "`query`", "(2, 4)"], lambda: mha()(x(2, 4), V))
row(
    "mha/key_value_lengths",
    ValueError,
    [H, "`key`", "(2, 6, 4)"],
    lambda: mha()(Q, V, x(2, 6, 4)),
)
row(
    "mha/second_call_query_dim",
    ValueError,
    [H, "`query`", "(2, 5, 6)"],
    lambda: built(mha(), Q, V)(x(2, 5, 6), V),
)
row(
    "mha/value_mask_length",
    ValueError,
    [H, "`value_mask`", "(2, 6)"],
    lambda: mha()(Q, V, value_mask=mask(2, 6)),
)
row(
    "mha/query_mask_rank3",
    ValueError,
    [H, "`query_mask`", "(2, 5, 1)"],
    lambda: mha()(Q, V, query_mask=mask(2, 5, 1)),
)
row(
    "mha/key_mask_batch",
    ValueError,
    [H, "`key_mask`", "(3, 7)"],
    lambda: mha()(Q, V, V, key_mask=mask(3, 7)),
)
row(
    "mha/attention_mask_shape",
    ValueError,
    [H, "`attention_mask`", "(5, 6)"],
    lambda: mha()(Q, V, attention_mask=mask(5, 6)),
)
row(
    "mha/attention_mask_heads",
    ValueError,
    [H, "`attention_mask`", "(2, 3, 5, 7)"],
    lambda: mha()(Q, V, attention_mask=mask(2, 3, 5, 7)),
)
row(
    "mha/attention_mask_float",
    TypeError,
    float_mask_needs(H, "attention_mask"),
    lambda: mha()(Q, V, attention_mask=float_mask(2, 5, 7)),
)
row(
    "mha/value_mask_float",
    TypeError,
    float_mask_needs(H, "value_mask"),
    lambda: mha()(Q, V, value_mask=float_mask(2, 7)),
)
row(
    "mha/cache_kv_heads",
    ValueError,
    [H, "`cache`", "(2, 2, 8, 3, 4)"],
    lambda: mha()(
        x(2, 1, 4), x(2, 1, 4), cache=cache(2, 2, 8, 3, 4), cache_update_index=0
    ),
)
row(
    "mha/cache_batch",
    ValueError,
    [H, "`cache`", "(3, 2, 8, 2, 4)"],
    lambda: mha()(
        x(2, 1, 4), x(2, 1, 4), cache=cache(3, 2, 8, 2, 4), cache_update_index=0
    ),
)
row(
    "mha/cache_update_index_negative",
    ValueError,
    [H, "`cache_update_index`", "-1"],
    lambda: mha()(
        x(2, 1, 4), x(2, 1, 4), cache=cache(2, 2, 8, 2, 4), cache_update_index=-1
    ),
)
row(
    "mha/cache_update_index_past_end",
    ValueError,
    [H, "`cache_update_index`", "6"],
    lambda: mha()(
        x(2, 3, 4), x(2, 3, 4), cache=cache(2, 2, 8, 2, 4), cache_update_index=6
    ),
)
row(
    "mha/cache_update_index_without_cache",
    ValueError,
    [H, "`cache_update_index`", "0"],
    lambda: mha()(Q, V, cache_update_index=0),
)
row(
    "mha/cache_value_dim",
    ValueError,
    [H, "`value_dim`", "8"],
    lambda: mha(value_dim=8)(
        x(2, 1, 4), x(2, 1, 4), cache=cache(2, 2, 8, 2, 4), cache_update_index=0
    ),
)

# --------------------------------------------------------------------------
# SelfAttention
# --------------------------------------------------------------------------
S = "SelfAttention"
row(
    "self/num_heads_not_dividing",
    ValueError,
    [S, ("`num_heads`", "`key_dim`"), "3"],
    lambda: SelfAttention(num_heads=3)(Q),
)
row(
    "self/causal_str",
    ValueError,
    [S, "`use_causal_mask`", "'yes'"],
    lambda: SelfAttention(use_causal_mask="yes"),
)
row(
    "self/units_with_scaled_dot",
    ValueError,
    [S, "`units`", "8"],
    lambda: SelfAttention(units=8),
)
row(
    "self/classic_num_heads",
    ValueError,
    [S, "`num_heads`", "2"],
    lambda: SelfAttention(score="additive", num_heads=2),
)
row(
    "self/score_unknown",
    ValueError,
    [S, "`score`", "'cosine'"],
    lambda: SelfAttention(score="cosine"),
)
row(
    "self/unknown_kwarg",
    ValueError,
    [S, "`num_head`", "`num_heads`"],
    lambda: SelfAttention(num_head=2),
)
row(
    "self/inputs_rank2",
    ValueError,
    [S, "`inputs`", "(2, 4)"],
    lambda: SelfAttention()(x(2, 4)),
)
row(
    "self/mask_length",
    ValueError,
    [S, "`mask`", "(2, 6)"],
    lambda: SelfAttention(num_heads=2)(Q, mask=mask(2, 6)),
)
row(
    "self/second_call_dim",
    ValueError,
    [S, "`inputs`", "(2, 5, 8)"],
    lambda: built(SelfAttention(num_heads=2), Q)(x(2, 5, 8)),
)
row(
    "self/attention_mask_float",
    TypeError,
    float_mask_needs(S, "attention_mask"),
    lambda: SelfAttention(num_heads=2)(Q, attention_mask=float_mask(2, 5, 5)),
)

# --------------------------------------------------------------------------
# Positional layers
# --------------------------------------------------------------------------
P, E, T = (
    "SinusoidalPositionalEncoding",
    "LearnedPositionalEmbedding",
    "TokenAndPositionEmbedding",
)
row(
    "sinusoidal/max_wavelength_zero",
    ValueError,
    [P, "`max_wavelength`", "0"],
    lambda: SinusoidalPositionalEncoding(max_wavelength=0),
)
row(
    "sinusoidal/mode_unknown",
    ValueError,
    [P, "`mode`", "'concat'"],
    lambda: SinusoidalPositionalEncoding(mode="concat"),
)
row(
    "sinusoidal/start_index_negative",
    ValueError,
    [P, "`start_index`", "-1"],
    lambda: SinusoidalPositionalEncoding()(Q, start_index=-1),
)
row(
    "sinusoidal/inputs_rank1",
    ValueError,
    [P, "`inputs`", ("(4,)", "(4)")],
    lambda: SinusoidalPositionalEncoding()(x(4)),
)
row(
    "learned/sequence_length_float",
    ValueError,
    [E, "`sequence_length`", "6.0"],
    lambda: LearnedPositionalEmbedding(sequence_length=6.0),
)
row(
    "learned/too_long",
    ValueError,
    [E, "`sequence_length`", "7"],
    lambda: LearnedPositionalEmbedding(sequence_length=6)(x(2, 7, 4)),
)
row(
    "learned/start_index_past_table",
    ValueError,
    [E, "`start_index`", "3"],
    lambda: built(LearnedPositionalEmbedding(6), x(2, 4, 4))(x(2, 4, 4), start_index=3),
)
row(
    "learned/second_call_dim",
    ValueError,
    [E, "`inputs`", "(2, 3, 6)"],
    lambda: built(LearnedPositionalEmbedding(6), x(2, 3, 4))(x(2, 3, 6)),
)
row(
    "token/vocabulary_size_zero",
    ValueError,
    [T, "`vocabulary_size`", "0"],
    lambda: TokenAndPositionEmbedding(0, 4, 8),
)
row(
    "token/position_unknown",
    ValueError,
    [T, "`position_embedding`", "'rope'"],
    lambda: TokenAndPositionEmbedding(10, 4, 8, position_embedding="rope"),
)
row(
    "token/unknown_kwarg",
    ValueError,
    [T, "`mask_zeros`", "`mask_zero`"],
    lambda: TokenAndPositionEmbedding(10, 4, 8, mask_zeros=True),
)
row(
    "token/too_long",
    ValueError,
    [T, "`sequence_length`", "6"],
    lambda: TokenAndPositionEmbedding(10, 4, 8)(np.ones((2, 6), "int32")),
)
row(
    "token/start_index_past_table",
    ValueError,
    [T, "`start_index`", "2"],
    lambda: TokenAndPositionEmbedding(10, 4, 8)(
        np.ones((2, 3), "int32"), start_index=2
    ),
)
row(
    "token/float_ids",
    TypeError,
    [T, "`inputs`", "float32"],
    lambda: TokenAndPositionEmbedding(10, 4, 8)(np.ones((2, 3), "float32")),
)
row(
    "token/inputs_rank3",
    ValueError,
    [T, "`inputs`", "(2, 3, 1)"],
    lambda: TokenAndPositionEmbedding(10, 4, 8)(np.ones((2, 3, 1), "int32")),
)

# --------------------------------------------------------------------------
# Transformer blocks
# --------------------------------------------------------------------------
# The classes are TransformerEncoder/TransformerDecoder (keras-hub's names);
# the *Block names are aliases of the same classes.
TE, TD = "TransformerEncoder", "TransformerDecoder"
row(
    "encoder/num_heads_not_dividing",
    ValueError,
    [TE, "`num_heads`", "3"],
    lambda: TransformerEncoderBlock(8, 3)(Q),
)
row(
    "encoder/kv_heads_not_dividing",
    ValueError,
    [TE, "`num_key_value_heads`", "3"],
    lambda: TransformerEncoderBlock(8, 4, num_key_value_heads=3),
)
row(
    "encoder/window_zero",
    ValueError,
    [TE, "`window`", "0"],
    lambda: TransformerEncoderBlock(8, 2, window=0),
)
row(
    "encoder/dropout_large",
    ValueError,
    [TE, "`dropout`", "1.5"],
    lambda: TransformerEncoderBlock(8, 2, dropout=1.5),
)
row(
    "encoder/unknown_kwarg",
    ValueError,
    [TE, "`layer_norm_eps`", "`layer_norm_epsilon`"],
    lambda: TransformerEncoderBlock(8, 2, layer_norm_eps=1e-6),
)
row(
    "encoder/inputs_rank2",
    ValueError,
    [TE, "`inputs`", "(2, 4)"],
    lambda: TransformerEncoderBlock(8, 2)(x(2, 4)),
)
row(
    "encoder/padding_mask_length",
    ValueError,
    [TE, "`padding_mask`", "(2, 6)"],
    lambda: TransformerEncoderBlock(8, 2)(Q, padding_mask=mask(2, 6)),
)
row(
    "encoder/attention_mask_float",
    TypeError,
    float_mask_needs(TE, "attention_mask"),
    lambda: TransformerEncoderBlock(8, 2)(Q, attention_mask=float_mask(2, 5, 5)),
)
row(
    "encoder/second_call_dim",
    ValueError,
    [TE, "`inputs`", "(2, 5, 6)"],
    lambda: built(TransformerEncoderBlock(8, 2), Q)(x(2, 5, 6)),
)
row(
    "decoder/rope_odd_key_dim",
    ValueError,
    [TD, "`key_dim`", "3"],
    lambda: TransformerDecoderBlock(8, 2, key_dim=3, position_embedding="rope"),
)
row(
    "decoder/unknown_kwarg",
    ValueError,
    [TD, "`normalise_first`", "`normalize_first`"],
    lambda: TransformerDecoderBlock(8, 2, normalise_first=True),
)
row(
    "decoder/encoder_batch",
    ValueError,
    [TD, "`encoder_sequence`", "(3, 7, 4)"],
    lambda: TransformerDecoderBlock(8, 2)(Q, x(3, 7, 4)),
)
row(
    "decoder/second_call_encoder_dim",
    ValueError,
    [TD, "`encoder_sequence`", "(2, 7, 6)"],
    lambda: built(TransformerDecoderBlock(8, 2), Q, V)(Q, x(2, 7, 6)),
)
row(
    "decoder/encoder_padding_mask_length",
    ValueError,
    [TD, "`encoder_padding_mask`", "(2, 6)"],
    lambda: TransformerDecoderBlock(8, 2)(Q, V, encoder_padding_mask=mask(2, 6)),
)
row(
    "decoder/decoder_padding_mask_float",
    TypeError,
    float_mask_needs(TD, "decoder_padding_mask"),
    lambda: TransformerDecoderBlock(8, 2)(Q, decoder_padding_mask=float_mask(2, 5)),
)
row(
    "decoder/cache_rank4",
    ValueError,
    [TD, "`self_attention_cache`", "(2, 2, 8, 2)"],
    lambda: built(TransformerDecoderBlock(8, 2), Q)(
        x(2, 1, 4),
        self_attention_cache=cache(2, 2, 8, 2),
        self_attention_cache_update_index=0,
    ),
)
row(
    "decoder/cache_update_index_past_end",
    ValueError,
    [TD, "`self_attention_cache_update_index`", "8"],
    lambda: built(TransformerDecoderBlock(8, 2), Q)(
        x(2, 1, 4),
        self_attention_cache=cache(2, 2, 8, 2, 2),
        self_attention_cache_update_index=8,
    ),
)

# --------------------------------------------------------------------------
# AttentionWrapper and AttentionDecoder
# --------------------------------------------------------------------------
W, D = "AttentionWrapper", "AttentionDecoder"


def wrapper(**kwargs):
    return AttentionWrapper(
        keras.layers.LSTMCell(4), MultiplicativeAttention("general"), **kwargs
    )


def att_decoder(**kwargs):
    return AttentionDecoder(
        keras.layers.LSTMCell(4), MultiplicativeAttention("general"), **kwargs
    )


row(
    "wrapper/style_unknown",
    ValueError,
    [W, "`style`", "'gru'"],
    lambda: wrapper(style="gru"),
)
row(
    "wrapper/attention_layer_size_zero",
    ValueError,
    [W, "`attention_layer_size`", "0"],
    lambda: wrapper(attention_layer_size=0),
)
row(
    "wrapper/cell_not_layer",
    ValueError,
    [W, "`cell`", "'lstm'"],
    lambda: AttentionWrapper("lstm", MultiplicativeAttention()),
)
row(
    "wrapper/unknown_kwarg",
    ValueError,
    [W, "`attention_layer_sizes`", "`attention_layer_size`"],
    lambda: wrapper(attention_layer_sizes=4),
)
row(
    "wrapper/memory_rank2",
    ValueError,
    [W, "`memory`", "(2, 7)"],
    lambda: wrapper().setup_memory(x(2, 7)),
)
row(
    "wrapper/memory_mask_length",
    ValueError,
    [W, "`memory_mask`", "(2, 6)"],
    lambda: wrapper().setup_memory(V, memory_mask=mask(2, 6)),
)
row(
    "wrapper/memory_mask_batch",
    ValueError,
    [W, "`memory_mask`", "(3, 7)"],
    lambda: wrapper().setup_memory(V, memory_mask=mask(3, 7)),
)
row(
    "wrapper/memory_mask_float",
    TypeError,
    float_mask_needs(W, "memory_mask"),
    lambda: wrapper().setup_memory(V, memory_mask=float_mask(2, 7)),
)
row(
    "attention_decoder/style_unknown",
    ValueError,
    [D, "`style`", "'gru'"],
    lambda: att_decoder(style="gru"),
)
row(
    "attention_decoder/unknown_kwarg",
    ValueError,
    [D, "`return_states`", "`return_state`"],
    lambda: att_decoder(return_states=True),
)
row(
    "attention_decoder/batch_mismatch",
    ValueError,
    [D, "`memory`", "(3, 7, 4)"],
    lambda: att_decoder()(x(2, 5, 3), x(3, 7, 4)),
)
row(
    "attention_decoder/memory_mask_length",
    ValueError,
    [D, "`memory_mask`", "(2, 6)"],
    lambda: att_decoder()(x(2, 5, 3), V, memory_mask=mask(2, 6)),
)
row(
    "attention_decoder/memory_mask_float",
    TypeError,
    float_mask_needs(D, "memory_mask"),
    lambda: att_decoder()(x(2, 5, 3), V, memory_mask=float_mask(2, 7)),
)
row(
    "attention_decoder/inputs_mask_length",
    ValueError,
    [D, "`inputs_mask`", "(2, 4)"],
    lambda: att_decoder()(x(2, 5, 3), V, inputs_mask=mask(2, 4)),
)
row(
    "attention_decoder/initial_state_count",
    ValueError,
    [D, "`initial_state`", "1"],
    lambda: att_decoder()(x(2, 5, 3), V, initial_state=[x(2, 4)]),
)
row(
    "attention_decoder/second_call_memory_dim",
    ValueError,
    [D, "`memory`", "(2, 7, 6)"],
    lambda: built(att_decoder(), x(2, 5, 3), V)(x(2, 5, 3), x(2, 7, 6)),
)

# --------------------------------------------------------------------------
# keras_attention.decoding
# --------------------------------------------------------------------------


def step_fn(tokens, state, index):
    return ops.zeros((ops.shape(tokens)[0], 5)), state


START = np.array([1, 1], "int32")
G, B = "greedy_search", "beam_search"
SAMPLE = ("sample:", "sample(", "`sample`", "decoding.sample")
row(
    "greedy/max_length_zero",
    ValueError,
    [G, "`max_length`", "0"],
    lambda: decoding.greedy_search(step_fn, START, None, max_length=0),
)
row(
    "greedy/start_tokens_rank2",
    ValueError,
    [G, "`start_tokens`", "(2, 1)"],
    lambda: decoding.greedy_search(step_fn, START[:, None], None, max_length=3),
)
row(
    "greedy/start_tokens_float",
    TypeError,
    [G, "`start_tokens`", "float32"],
    lambda: decoding.greedy_search(step_fn, START.astype("float32"), None, 3),
)
row(
    "greedy/end_token_past_vocab",
    ValueError,
    [G, "`end_token`", "10"],
    lambda: decoding.greedy_search(step_fn, START, None, 3, end_token=10),
)
row(
    "greedy/pad_token_negative",
    ValueError,
    [G, "`pad_token`", "-1"],
    lambda: decoding.greedy_search(step_fn, START, None, 3, pad_token=-1),
)
row(
    "beam/beam_size_zero",
    ValueError,
    [B, "`beam_size`", "0"],
    lambda: decoding.beam_search(step_fn, START, None, 3, beam_size=0),
)
row(
    "beam/length_penalty_nan",
    ValueError,
    [B, "`length_penalty`", "nan"],
    lambda: decoding.beam_search(step_fn, START, None, 3, length_penalty=float("nan")),
)
row(
    "sample/temperature_zero",
    ValueError,
    [SAMPLE, "`temperature`", "0"],
    lambda: decoding.sample(step_fn, START, None, 3, temperature=0),
)
row(
    "sample/top_p_above_one",
    ValueError,
    [SAMPLE, "`top_p`", "1.5"],
    lambda: decoding.sample(step_fn, START, None, 3, top_p=1.5),
)
row(
    "sample/top_k_zero",
    ValueError,
    [SAMPLE, "`top_k`", "0"],
    lambda: decoding.sample(step_fn, START, None, 3, top_k=0),
)


def _message(error):
    """The library's own message, without Keras' call-argument wrapping.

    Keras re-raises an error from inside a layer's `call` as
    "Exception encountered when calling X.call(). <message> Arguments
    received by X.call(): <argument shapes>"; the argument list would
    satisfy the checks by itself, so only the original message counts.
    """
    text = str(error)
    start, end = "\x1b[1m", "\x1b[0m\n\nArguments received by"
    if text.startswith("Exception encountered when calling") and start in text:
        text = text.split(start, 1)[1].rsplit(end, 1)[0]
    return text


def _describe(error):
    text = _message(error).strip()
    first = text.splitlines()[0] if text else ""
    kind = type(error)
    module = "" if kind.__module__ == "builtins" else kind.__module__ + "."
    return f"{module}{kind.__name__}: {first[:240]}"


@pytest.mark.parametrize("case", ROWS, ids=[r.id for r in ROWS])
def test_bad_input_is_named(case):
    try:
        case.make()
    except Exception as error:  # noqa: BLE001 - what was raised is the result
        caught = error
    else:
        pytest.fail(f"{case.id}: no error")
    message = _message(caught)
    missing = [
        need
        for need in case.needs
        if not any(n in message for n in (need if isinstance(need, tuple) else (need,)))
    ]
    ok_type = isinstance(caught, case.error) and isinstance(
        caught, (ValueError, TypeError)
    )
    assert ok_type and not missing, (
        f"{case.id}: expected {case.error.__name__}; got {_describe(caught)}"
        + (f" | missing {missing}" if missing else "")
    )


def test_the_table_is_large_and_ids_unique():
    ids = [r.id for r in ROWS]
    assert len(ids) >= 50
    assert len(set(ids)) == len(ids)


# --------------------------------------------------------------------------
# Empty batches and zero-length sequences: valid, shaped, finite.
# --------------------------------------------------------------------------

CROSS_LAYERS = {
    "additive": lambda: AdditiveAttention(units=3),
    "dot": lambda: MultiplicativeAttention("dot"),
    "general": lambda: MultiplicativeAttention("general"),
    "concat": lambda: MultiplicativeAttention("concat"),
    "local_m": lambda: LocalAttention(2, mode="monotonic"),
    "local_p": lambda: LocalAttention(2, mode="predictive"),
    "mha": lambda: MultiHeadAttention(num_heads=2, key_dim=4),
    "mha_window": lambda: MultiHeadAttention(num_heads=2, key_dim=4, window=2),
}
SIZES = {  # (batch, Tq, Tk)
    "empty_batch": (0, 5, 7),
    "no_queries": (2, 0, 7),
    "no_keys": (2, 5, 0),
    "nothing": (2, 0, 0),
}


def _numpy(value):
    return np.asarray(ops.convert_to_numpy(value))


@pytest.mark.parametrize("scores", [False, True], ids=["output", "with_scores"])
@pytest.mark.parametrize("size", list(SIZES), ids=list(SIZES))
@pytest.mark.parametrize("name", list(CROSS_LAYERS), ids=list(CROSS_LAYERS))
def test_empty_inputs_cross_attention(name, size, scores):
    batch, tq, tk = SIZES[size]
    layer = CROSS_LAYERS[name]()
    query, value = x(batch, tq, 4), x(batch, tk, 4)
    result = layer(query, value, return_attention_scores=scores)
    output = _numpy(result[0] if scores else result)
    assert output.shape == (batch, tq, 4)
    assert np.all(np.isfinite(output))
    if tk == 0:
        # No key at all: every row is fully masked, so the attention output
        # is zero (MultiHeadAttention's output projection has zero biases
        # at initialisation, so it maps zeros to zeros).
        np.testing.assert_array_equal(output, 0.0)
    if scores:
        weights = _numpy(result[1])
        heads = (2,) if name.startswith("mha") else ()
        assert weights.shape == (batch, *heads, tq, tk)
        assert np.all(np.isfinite(weights))


@pytest.mark.parametrize("name", ["dot", "general", "additive", "mha"])
@pytest.mark.parametrize("size", ["empty_batch", "no_keys"])
def test_empty_inputs_single_decoder_step(name, size):
    """The `(batch, dq)` single-step form (MHA has none: a length-1 query)."""
    batch, _, tk = SIZES[size]
    layer = CROSS_LAYERS[name]()
    if name == "mha":
        output = _numpy(layer(x(batch, 1, 4), x(batch, tk, 4)))
        assert output.shape == (batch, 1, 4)
    else:
        output = _numpy(layer(x(batch, 4), x(batch, tk, 4)))
        assert output.shape == (batch, 4)
    assert np.all(np.isfinite(output))
    if tk == 0:
        np.testing.assert_array_equal(output, 0.0)


SELF_LAYERS = {
    "self_scaled_dot": lambda: SelfAttention(num_heads=2),
    "self_causal_window": lambda: SelfAttention(
        num_heads=2, use_causal_mask=True, window=2
    ),
    "self_additive": lambda: SelfAttention(score="additive", units=4),
    "encoder_block": lambda: TransformerEncoderBlock(8, 2),
    "decoder_block": lambda: TransformerDecoderBlock(8, 2),
}


@pytest.mark.parametrize("shape", [(0, 5, 4), (2, 0, 4)], ids=["empty_batch", "T0"])
@pytest.mark.parametrize("name", list(SELF_LAYERS), ids=list(SELF_LAYERS))
def test_empty_inputs_self_attention(name, shape):
    output = _numpy(SELF_LAYERS[name]()(x(*shape)))
    assert output.shape == shape
    assert np.all(np.isfinite(output))


@pytest.mark.parametrize(
    "shape, masked",
    [((0, 5, 4), False), ((2, 0, 4), False), ((2, 5, 4), True)],
    ids=["empty_batch", "T0", "all_padding"],
)
def test_mha_masks_on_empty_and_fully_padded_inputs(shape, masked):
    """Padding masks on degenerate inputs: all-False masks give zero rows."""
    batch, length, _ = shape
    layer = MultiHeadAttention(num_heads=2, key_dim=4)
    value_mask = np.zeros((batch, length), bool) if masked else mask(batch, length)
    output = _numpy(layer(x(*shape), x(*shape), value_mask=value_mask))
    assert output.shape == shape
    assert np.all(np.isfinite(output))
    if masked:
        np.testing.assert_array_equal(output, 0.0)
