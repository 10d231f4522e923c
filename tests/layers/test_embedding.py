import warnings

import keras
import numpy as np
import pytest
from harness import CHECKS, LayerCase, run_check, to_numpy

from keras_attention import SinusoidalPositionalEncoding, TokenAndPositionEmbedding

CASES = [
    LayerCase(
        TokenAndPositionEmbedding,
        {
            "vocabulary_size": 11,
            "sequence_length": 8,
            "embedding_dim": 6,
            "mask_zero": True,
        },
        {"inputs": (2, 5)},
        integer_inputs={"inputs": 11},
        mask_inputs=("inputs",),
        id="learned",
    ),
    LayerCase(
        TokenAndPositionEmbedding,
        {
            "vocabulary_size": 11,
            "sequence_length": 8,
            "embedding_dim": 6,
            "position_embedding": "sinusoidal",
            "scale_embeddings": True,
            "mask_zero": True,
        },
        {"inputs": (2, 5)},
        integer_inputs={"inputs": 11},
        mask_inputs=("inputs",),
        id="sinusoidal",
    ),
]


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_keras_contract(case, check, tmp_path):
    run_check(case, check, tmp_path)


def test_sum_of_scaled_tokens_and_positions():
    layer = TokenAndPositionEmbedding(
        10, 6, 4, position_embedding="learned", scale_embeddings=True
    )
    ids = np.array([[3, 1, 4, 1]])
    out = to_numpy(layer(ids))
    tokens = to_numpy(layer.token_embedding.embeddings)
    positions = to_numpy(layer.position_embedding.embeddings)
    np.testing.assert_allclose(out[0], 2.0 * tokens[ids[0]] + positions[:4], atol=1e-6)
    shifted = to_numpy(layer(ids[:, :2], start_index=2))
    np.testing.assert_allclose(
        shifted[0], 2.0 * tokens[ids[0, :2]] + positions[2:4], atol=1e-6
    )


def test_without_positions_is_the_token_embedding():
    layer = TokenAndPositionEmbedding(10, 6, 4, position_embedding=None)
    ids = np.array([[3, 1, 4]])
    np.testing.assert_allclose(
        to_numpy(layer(ids))[0], to_numpy(layer.token_embedding.embeddings)[ids[0]]
    )


def test_mask_zero_reaches_attention():
    tokens = keras.Input((None,), dtype="int32")
    x = TokenAndPositionEmbedding(10, 6, 4, mask_zero=True)(tokens)
    assert getattr(x, "_keras_mask", None) is not None


@pytest.mark.parametrize(
    "make, argument",
    [
        (lambda: TokenAndPositionEmbedding(0, 4, 4), "vocabulary_size"),
        (lambda: TokenAndPositionEmbedding(4, 0, 4), "sequence_length"),
        (lambda: TokenAndPositionEmbedding(4, 4, 0), "embedding_dim"),
        (lambda: TokenAndPositionEmbedding(4, 4, 4, "rope"), "position_embedding"),
    ],
)
def test_arguments_are_validated(make, argument):
    with pytest.raises(ValueError, match=f"`{argument}`"):
        make()


def test_position_encoding_is_the_deprecated_spelling():
    with pytest.warns(DeprecationWarning, match="`position_encoding` is deprecated"):
        old = TokenAndPositionEmbedding(10, 6, 4, position_encoding="sinusoidal")
    assert old.position_embedding_type == "sinusoidal"
    assert old.position_encoding == "sinusoidal"
    assert isinstance(old.position_embedding, SinusoidalPositionalEncoding)
    config = old.get_config()
    assert config["position_embedding"] == "sinusoidal"
    assert "position_encoding" not in config
    with pytest.raises(ValueError, match="received both `position_embedding`"):
        TokenAndPositionEmbedding(
            10, 6, 4, position_embedding=None, position_encoding="sinusoidal"
        )


def test_config_with_the_old_key_loads_silently_and_equal():
    layer = TokenAndPositionEmbedding(10, 6, 4, position_embedding=None)
    ids = np.array([[3, 1, 4]])
    expected = to_numpy(layer(ids))
    config = layer.get_config()
    config["position_encoding"] = config.pop("position_embedding")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        restored = TokenAndPositionEmbedding.from_config(config)
    assert restored.position_embedding_type is None
    restored.build((1, 3))
    restored.set_weights(layer.get_weights())
    np.testing.assert_array_equal(to_numpy(restored(ids)), expected)
