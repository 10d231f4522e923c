import keras
import numpy as np
import pytest
from harness import CHECKS, LayerCase, run_check, to_numpy

from keras_attention import TokenAndPositionEmbedding

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
            "position_encoding": "sinusoidal",
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
        10, 6, 4, position_encoding="learned", scale_embeddings=True
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
    layer = TokenAndPositionEmbedding(10, 6, 4, position_encoding=None)
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
        (lambda: TokenAndPositionEmbedding(4, 4, 4, "rope"), "position_encoding"),
    ],
)
def test_arguments_are_validated(make, argument):
    with pytest.raises(ValueError, match=f"`{argument}`"):
        make()
