import warnings

import keras
import numpy as np
import pytest
from harness import BACKEND, CHECKS, LayerCase, run_check, to_numpy
from keras import ops

from keras_attention import (
    TokenAndPositionEmbedding,
    TransformerDecoder,
    TransformerDecoderBlock,
    TransformerEncoder,
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
            "normalize_first": True,
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


def _gpt(vocab=13, length=8, dim=16):
    tokens = keras.Input((length,), dtype="int32")
    x = TokenAndPositionEmbedding(vocab, length, dim)(tokens)
    x = TransformerDecoderBlock(32, 2, normalize_first=True)(x)
    x = TransformerDecoderBlock(32, 2, normalize_first=True)(x)
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


# ---------------------------------------------------------------- keras-hub names
def test_keras_hub_names_are_the_classes_and_old_names_alias_them():
    assert TransformerEncoder is TransformerEncoderBlock
    assert TransformerDecoder is TransformerDecoderBlock
    assert TransformerEncoder.__name__ == "TransformerEncoder"
    for cls in (TransformerEncoder, TransformerDecoder):
        name = f"keras_attention>{cls.__name__}"
        assert keras.saving.get_registered_name(cls) == name
        assert keras.saving.get_registered_object(name) is cls
        # Files saved under the old registered names load as a subclass
        # (Keras finds the weights by the class name written then).
        legacy = keras.saving.get_registered_object(f"{name}Block")
        assert issubclass(legacy, cls) and legacy.__name__ == f"{cls.__name__}Block"


def test_old_registered_name_loads_a_keras_file(tmp_path):
    x = RNG.normal(size=(2, 5, 8)).astype("float32")
    inputs = keras.Input((5, 8))
    model = keras.Model(inputs, TransformerEncoder(12, 2, name="block")(inputs))
    expected = to_numpy(model(x))
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.get_layer("block")) is TransformerEncoder
    np.testing.assert_array_equal(to_numpy(loaded(x)), expected)


@pytest.mark.parametrize("cls", [TransformerEncoder, TransformerDecoder])
def test_norm_first_is_the_deprecated_spelling_of_normalize_first(cls):
    with pytest.warns(DeprecationWarning, match=r"`norm_first` is deprecated; use"):
        old = cls(12, 2, norm_first=True)
    assert old.normalize_first is True and old.norm_first is True
    config = cls(12, 2, normalize_first=True).get_config()
    assert config["normalize_first"] is True and "norm_first" not in config
    config["norm_first"] = config.pop("normalize_first")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        assert cls.from_config(config).normalize_first is True
    with pytest.raises(ValueError, match="received both `normalize_first`"):
        cls(12, 2, normalize_first=True, norm_first=False)


def _keras_hub_encoder(block, x, padding_mask=None, attention_mask=None):
    """keras-hub's TransformerEncoder.call, written out with Keras' own layers.

    keras-hub merges the padding mask into the attention mask and runs Keras'
    MultiHeadAttention; the residual branches are the same as ours.
    """
    mha = keras.layers.MultiHeadAttention(
        block.num_heads, x.shape[-1] // block.num_heads
    )
    mha.build(x.shape, x.shape)
    ours = block.self_attention
    mha.set_weights(
        [
            to_numpy(w)
            for w in (
                ours.query_kernel,
                ours.query_bias,
                ours.key_kernel,
                ours.key_bias,
                ours.value_kernel,
                ours.value_bias,
                ours.output_kernel,
                ours.output_bias,
            )
        ]
    )
    mask = attention_mask
    if padding_mask is not None:
        pad = padding_mask[:, None, :] & padding_mask[:, :, None]
        mask = pad if mask is None else mask & pad
    x = ops.convert_to_tensor(x)
    h = x
    if block.normalize_first:
        h = block.self_attention_norm(h)
    h = mha(h, h, attention_mask=mask) + x
    if not block.normalize_first:
        h = block.self_attention_norm(h)
    f = block.ffn_norm(h) if block.normalize_first else h
    out = block.ffn_output(block.ffn_intermediate(f)) + h
    return out if block.normalize_first else block.ffn_norm(out)


@pytest.mark.parametrize("normalize_first", [False, True])
def test_encoder_arguments_mean_what_keras_hub_means(normalize_first):
    x = RNG.normal(size=(2, 5, 8)).astype("float32")
    block = TransformerEncoder(
        intermediate_dim=12,
        num_heads=2,
        dropout=0.0,
        activation="gelu",
        layer_norm_epsilon=1e-6,
        kernel_initializer="he_normal",
        bias_initializer="ones",
        normalize_first=normalize_first,
    )
    block(x)
    assert block.self_attention_norm.epsilon == 1e-6
    assert block.ffn_intermediate.activation is keras.activations.gelu
    np.testing.assert_array_equal(to_numpy(block.ffn_output.bias), 1.0)
    attention_mask = np.tril(np.ones((2, 5, 5), bool)) | np.eye(5, k=2, dtype=bool)
    padding_mask = np.array([[True] * 5, [True] * 3 + [False] * 2])
    got = block(x, padding_mask=padding_mask, attention_mask=attention_mask)
    expected = _keras_hub_encoder(block, x, padding_mask, attention_mask)
    real = padding_mask[..., None]  # padded steps: ours are zeroed inputs
    np.testing.assert_allclose(
        to_numpy(got) * real, to_numpy(expected) * real, atol=1e-5
    )


def test_encoder_returns_attention_scores():
    x = RNG.normal(size=(2, 5, 8)).astype("float32")
    block = TransformerEncoder(12, 2)
    out, scores = block(x, return_attention_scores=True, use_causal_mask=True)
    np.testing.assert_allclose(
        to_numpy(out), to_numpy(block(x, use_causal_mask=True)), atol=1e-6
    )
    scores = to_numpy(scores)
    assert scores.shape == (2, 2, 5, 5)
    np.testing.assert_allclose(scores.sum(-1), 1.0, atol=1e-5)
    assert np.all(np.triu(scores, 1) == 0)
    symbolic = keras.Input((5, 8))
    out, scores = TransformerEncoder(12, 2)(symbolic, return_attention_scores=True)
    assert tuple(out.shape) == (None, 5, 8)
    assert tuple(scores.shape) == (None, 2, 5, 5)


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


def test_seed_reaches_the_dropout_layers_and_the_config():
    block = TransformerDecoder(12, 2, dropout=0.1, seed=5)
    block(np.zeros((2, 3, 8), "float32"), np.zeros((2, 4, 8), "float32"))
    seeds = [
        layer.seed
        for layer in (
            block.self_attention_dropout,
            block.cross_attention_dropout,
            block.ffn_dropout,
        )
    ]
    assert None not in seeds and len(set(seeds)) == 3
    assert block.get_config()["seed"] == 5
    assert TransformerDecoder.from_config(block.get_config()).seed == 5
    with pytest.raises(TypeError, match="TransformerEncoder: `seed` must be an int"):
        TransformerEncoder(12, 2, seed=1.5)
