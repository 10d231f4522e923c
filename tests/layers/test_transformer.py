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
