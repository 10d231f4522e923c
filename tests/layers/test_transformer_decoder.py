"""TransformerDecoder (layers/transformer_decoder.py): caches, scores, masks."""

import keras
import numpy as np
import pytest
from harness import CHECKS, LayerCase, run_check, to_numpy
from keras import ops

from keras_attention import TransformerDecoder, TransformerDecoderBlock

CASES = [
    LayerCase(
        TransformerDecoderBlock,
        {"intermediate_dim": 12, "num_heads": 2},
        {"decoder_sequence": (2, 5, 8), "encoder_sequence": (2, 6, 4)},
        mask_inputs=("decoder_sequence", "encoder_sequence"),
        id="cross",
    ),
    LayerCase(
        TransformerDecoderBlock,
        {"intermediate_dim": 12, "num_heads": 2, "normalize_first": True},
        {"decoder_sequence": (2, 5, 8)},
        mask_inputs=("decoder_sequence",),
        id="gpt",
    ),
]


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_keras_contract(case, check, tmp_path):
    run_check(case, check, tmp_path)


RNG = np.random.default_rng(0)


@pytest.mark.parametrize("norm_first", [False, True])
def test_cached_decoder_equals_full_pass(norm_first):
    x = RNG.normal(size=(2, 6, 8)).astype("float32")
    source = RNG.normal(size=(2, 4, 8)).astype("float32")
    block = TransformerDecoderBlock(12, 2, normalize_first=norm_first)
    full = to_numpy(block(x, source))
    cache = ops.zeros((2, 2, 6, 2, 4))
    steps = []
    for t in range(6):
        out, cache = block(
            x[:, t : t + 1],
            source,
            self_attention_cache=cache,
            self_attention_cache_update_index=t,
        )
        steps.append(to_numpy(out))
    np.testing.assert_allclose(np.concatenate(steps, 1), full, atol=1e-5)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("with_encoder", [False, True])
def test_cached_step_calls_sublayers_directly_with_equal_results(
    norm_first, with_encoder, monkeypatch
):
    """Cached steps skip the sublayers' `__call__`; nothing else changes.

    The step input carries a Keras mask (a padded token, `mask_zero=True`),
    which `__call__` would turn into the self-attention's query mask.
    """
    embedding = keras.layers.Embedding(7, 8, mask_zero=True)
    tokens = np.array([[3], [0]], "int32")  # the second row is padding
    source = RNG.normal(size=(2, 4, 8)).astype("float32")
    source_mask = np.array([[True] * 4, [True, True, False, False]])
    block = TransformerDecoderBlock(12, 2, normalize_first=norm_first)
    extra = (source,) if with_encoder else ()
    block(embedding(np.ones((2, 3), "int32")), *extra)
    assert block._sublayers_callable_directly(training=None)
    assert not block._sublayers_callable_directly(training=True)

    def step(cache, index):
        kwargs = {"encoder_padding_mask": source_mask} if with_encoder else {}
        return block(
            embedding(tokens),
            *extra,
            self_attention_cache=cache,
            self_attention_cache_update_index=index,
            **kwargs,
        )

    cache = ops.convert_to_tensor(RNG.normal(size=(2, 2, 5, 2, 4)), "float32")
    direct = [to_numpy(t) for t in step(cache, 2)]
    monkeypatch.setattr(
        TransformerDecoderBlock, "_sublayers_callable_directly", lambda *a: False
    )
    through_call = [to_numpy(t) for t in step(cache, 2)]
    for a, b in zip(direct, through_call, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_mixed_precision_cached_steps_go_through_layer_call():
    block = TransformerDecoderBlock(12, 2, dtype="mixed_bfloat16")
    block(np.ones((1, 3, 8), "float32"))
    # Layer.__call__ opens the autocast scopes that mixed precision needs.
    assert not block._sublayers_callable_directly(training=None)


def test_decoder_returns_the_attention_scores_it_used():
    x = RNG.normal(size=(2, 5, 8)).astype("float32")
    source = RNG.normal(size=(2, 4, 6)).astype("float32")
    source_mask = np.array([[True] * 4, [True, True, False, False]])
    block = TransformerDecoderBlock(12, 2)
    plain = block(x, source, encoder_padding_mask=source_mask)
    out, scores = block(
        x, source, encoder_padding_mask=source_mask, return_attention_scores=True
    )
    np.testing.assert_allclose(to_numpy(out), to_numpy(plain), atol=1e-5)
    assert sorted(scores) == ["cross_attention", "self_attention"]
    self_w = to_numpy(scores["self_attention"])
    cross_w = to_numpy(scores["cross_attention"])
    assert self_w.shape == (2, 2, 5, 5) and cross_w.shape == (2, 2, 5, 4)
    assert np.all(np.triu(self_w, 1) == 0)  # causal
    np.testing.assert_allclose(cross_w.sum(-1), 1.0, atol=1e-5)
    assert np.all(cross_w[1, :, :, 2:] == 0)  # padded source positions
    # The same weights as the cross-attention sublayer's, run by hand
    # (post-norm: it sees the normalised self-attention residual).
    xt = ops.convert_to_tensor(x)
    h = block.self_attention_norm(
        xt + block.self_attention(xt, xt, use_causal_mask=True)
    )
    _, expected = block.cross_attention(
        h, source, value_mask=source_mask, return_attention_scores=True
    )
    np.testing.assert_allclose(cross_w, to_numpy(expected), atol=1e-5)


def test_cached_gpt_block_returns_scores_before_the_cache():
    x = RNG.normal(size=(1, 4, 8)).astype("float32")
    block = TransformerDecoderBlock(12, 2)
    block(x)
    cache = ops.zeros((1, 2, 4, 2, 4))
    _, plain_cache = block(
        x[:, :1], self_attention_cache=cache, self_attention_cache_update_index=0
    )
    out, scores, new_cache = block(
        x[:, :1],
        self_attention_cache=cache,
        self_attention_cache_update_index=0,
        return_attention_scores=True,
    )
    np.testing.assert_allclose(to_numpy(new_cache), to_numpy(plain_cache), atol=1e-6)
    weights = to_numpy(scores["self_attention"])
    assert list(scores) == ["self_attention"] and weights.shape == (1, 2, 1, 4)
    np.testing.assert_allclose(weights[..., 0], 1.0, atol=1e-6)  # only key 0


def test_decoder_scores_in_a_functional_model():
    target = keras.Input((5, 8))
    source = keras.Input((4, 6))
    out, scores = TransformerDecoderBlock(12, 2)(
        target, source, return_attention_scores=True
    )
    assert tuple(scores["cross_attention"].shape) == (None, 2, 5, 4)
    model = keras.Model([target, source], [out, scores["cross_attention"]])
    y, w = model.predict(
        [np.ones((3, 5, 8), "float32"), np.ones((3, 4, 6), "float32")], verbose=0
    )
    assert y.shape == (3, 5, 8) and w.shape == (3, 2, 5, 4)


def test_decoder_requires_matching_encoder():
    block = TransformerDecoderBlock(12, 2)
    block(np.zeros((1, 3, 8), "float32"))
    with pytest.raises(ValueError, match="encoder_sequence"):
        block(np.zeros((1, 3, 8), "float32"), np.zeros((1, 2, 8), "float32"))


def test_decoder_attention_masks_are_combined_with_the_others():
    x = RNG.normal(size=(2, 5, 8)).astype("float32")
    source = RNG.normal(size=(2, 4, 6)).astype("float32")
    block = TransformerDecoder(12, 2)
    block(x, source)
    decoder_mask = np.ones((2, 5, 5), bool)
    decoder_mask[:, :, 0] = False  # no step may attend to the first
    decoder_mask[:, 0, 0] = True
    encoder_mask = np.ones((2, 5, 4), bool)
    encoder_mask[:, :, 1] = False
    _, scores = block(
        x,
        source,
        decoder_attention_mask=decoder_mask,
        encoder_attention_mask=encoder_mask,
        encoder_padding_mask=np.array([[True] * 4, [True] * 3 + [False]]),
        return_attention_scores=True,
    )
    self_scores = to_numpy(scores["self_attention"])
    cross_scores = to_numpy(scores["cross_attention"])
    np.testing.assert_array_equal(self_scores[:, :, 1:, 0], 0.0)
    assert np.all(np.triu(self_scores, 1) == 0)  # still causal
    np.testing.assert_array_equal(cross_scores[:, :, :, 1], 0.0)
    np.testing.assert_array_equal(cross_scores[1, :, :, 3], 0.0)
    np.testing.assert_allclose(cross_scores.sum(-1), 1.0, atol=1e-5)


def test_cross_attention_cache_as_in_keras_hub():
    """Index 0 fills the cache from the encoder sequence; None reuses it."""
    x = RNG.normal(size=(2, 4, 8)).astype("float32")
    source = RNG.normal(size=(2, 3, 6)).astype("float32")
    padding = np.array([[True] * 3, [True, True, False]])
    block = TransformerDecoder(12, 2)
    full = to_numpy(block(x, source, encoder_padding_mask=padding))
    cache = ops.zeros((2, 2, 4, 2, 4))
    cross = ops.zeros((2, 2, 3, 2, 4))
    steps = []
    for t in range(4):
        out, cache, filled = block(
            x[:, t : t + 1],
            source,
            encoder_padding_mask=padding,
            self_attention_cache=cache,
            self_attention_cache_update_index=t,
            cross_attention_cache=cross,
            cross_attention_cache_update_index=0 if t == 0 else None,
        )
        if t == 0:
            attention = block.cross_attention
            keys = np.einsum("btd,dhk->bthk", source, to_numpy(attention.key_kernel))
            keys = keys + to_numpy(attention.key_bias)
            np.testing.assert_allclose(to_numpy(filled)[:, 0], keys, atol=1e-5)
            cross = filled
        else:
            np.testing.assert_array_equal(to_numpy(filled), to_numpy(cross))
        steps.append(to_numpy(out))
    np.testing.assert_allclose(np.concatenate(steps, 1), full, atol=1e-5)


def test_cross_attention_cache_errors_are_clear():
    x = RNG.normal(size=(2, 1, 8)).astype("float32")
    source = RNG.normal(size=(2, 3, 6)).astype("float32")
    cross = ops.zeros((2, 2, 3, 2, 4))
    block = TransformerDecoder(12, 2)
    block(x, source)
    with pytest.raises(ValueError, match="without a `self_attention_cache`"):
        block(x, source, cross_attention_cache=cross)
    with pytest.raises(ValueError, match="`cross_attention_cache_update_index`"):
        block(x, source, cross_attention_cache_update_index=0)
    gpt = TransformerDecoder(12, 2)
    gpt(x)
    with pytest.raises(ValueError, match="needs an `encoder_sequence`"):
        gpt(
            x,
            self_attention_cache=ops.zeros((2, 2, 3, 2, 4)),
            self_attention_cache_update_index=0,
            cross_attention_cache=cross,
        )
