import keras
import numpy as np
import pytest
from harness import BACKEND, CHECKS, LayerCase, run_check, to_numpy
from keras import ops

from keras_attention import (
    TokenAndPositionEmbedding,
    TransformerDecoderBlock,
    TransformerEncoderBlock,
)

CASES = [
    LayerCase(
        TransformerEncoderBlock,
        {"intermediate_dim": 12, "num_heads": 2},
        {"inputs": (2, 5, 8)},
        mask_inputs=("inputs",),
        id="post-norm",
    ),
    LayerCase(
        TransformerEncoderBlock,
        {
            "intermediate_dim": 12,
            "num_heads": 2,
            "norm_first": True,
            "dropout": 0.1,
            "position_embedding": "rope",
        },
        {"inputs": (2, 5, 8)},
        mask_inputs=("inputs",),
        id="pre-norm-rope",
    ),
    LayerCase(
        TransformerDecoderBlock,
        {"intermediate_dim": 12, "num_heads": 2},
        {"decoder_sequence": (2, 5, 8), "encoder_sequence": (2, 6, 4)},
        mask_inputs=("decoder_sequence", "encoder_sequence"),
        id="cross",
    ),
    LayerCase(
        TransformerDecoderBlock,
        {"intermediate_dim": 12, "num_heads": 2, "norm_first": True},
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
    block = TransformerDecoderBlock(12, 2, norm_first=norm_first)
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
    block = TransformerDecoderBlock(12, 2, norm_first=norm_first)
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


def _gpt(vocab=13, length=8, dim=16):
    tokens = keras.Input((length,), dtype="int32")
    x = TokenAndPositionEmbedding(vocab, length, dim)(tokens)
    x = TransformerDecoderBlock(32, 2, norm_first=True)(x)
    x = TransformerDecoderBlock(32, 2, norm_first=True)(x)
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


def test_decoder_requires_matching_encoder():
    block = TransformerDecoderBlock(12, 2)
    block(np.zeros((1, 3, 8), "float32"))
    with pytest.raises(ValueError, match="encoder_sequence"):
        block(np.zeros((1, 3, 8), "float32"), np.zeros((1, 2, 8), "float32"))


@pytest.mark.parametrize(
    "make, argument",
    [
        (lambda: TransformerEncoderBlock(0, 2), "intermediate_dim"),
        (lambda: TransformerEncoderBlock(8, 0), "num_heads"),
        (lambda: TransformerDecoderBlock(8, 2, dropout=1.0), "dropout"),
        (
            lambda: TransformerDecoderBlock(8, 2, position_embedding="x"),
            "position_embedding",
        ),
    ],
)
def test_arguments_are_validated(make, argument):
    with pytest.raises(ValueError, match=f"`{argument}`"):
        make()


def test_hidden_size_must_split_into_heads():
    with pytest.raises(ValueError, match="num_heads"):
        TransformerEncoderBlock(8, 3)(np.zeros((1, 2, 8), "float32"))
