import keras
import numpy as np
import pytest
from harness import CHECKS, LayerCase, run_check, to_numpy

from keras_attention import LearnedPositionalEmbedding, SinusoidalPositionalEncoding

CASES = [
    LayerCase(
        SinusoidalPositionalEncoding,
        {"mode": "add"},
        {"inputs": (2, 6, 8)},
        mask_inputs=("inputs",),
        id="add",
    ),
    LayerCase(
        SinusoidalPositionalEncoding,
        {"max_wavelength": 100, "mode": "encoding"},
        {"inputs": (2, 6, 7)},
        call_kwargs={"start_index": 3},
        mask_inputs=("inputs",),
        id="encoding-odd-dim-start",
    ),
    LayerCase(
        LearnedPositionalEmbedding,
        {"sequence_length": 10, "mode": "add"},
        {"inputs": (2, 6, 8)},
        mask_inputs=("inputs",),
        id="add",
    ),
    LayerCase(
        LearnedPositionalEmbedding,
        {"sequence_length": 10},
        {"inputs": (2, 6, 8)},
        call_kwargs={"start_index": 2},
        mask_inputs=("inputs",),
        id="encoding-start",
    ),
]


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_keras_contract(case, check, tmp_path):
    run_check(case, check, tmp_path)


def closed_form(length, dim, max_wavelength=10000.0, start=0):
    """PE(p, 2i) = sin(p / w^(2i/d)), PE(p, 2i + 1) = cos(p / w^(2i/d))."""
    pe = np.zeros((length, dim))
    for p in range(length):
        for j in range(dim):
            i2 = j - j % 2
            angle = (p + start) / max_wavelength ** (i2 / dim)
            pe[p, j] = np.sin(angle) if j % 2 == 0 else np.cos(angle)
    return pe


@pytest.mark.parametrize("dim, wavelength", [(16, 10000), (7, 10000), (6, 50)])
def test_sinusoidal_matches_closed_form(dim, wavelength):
    layer = SinusoidalPositionalEncoding(max_wavelength=wavelength)
    got = to_numpy(layer(np.zeros((3, 20, dim), "float32")))
    for b in range(3):
        np.testing.assert_allclose(
            got[b], closed_form(20, dim, wavelength), atol=2e-5, rtol=1e-4
        )


def test_sinusoidal_start_index_gives_the_later_rows():
    layer = SinusoidalPositionalEncoding()
    full = to_numpy(layer(np.zeros((1, 12, 8), "float32")))
    step = to_numpy(layer(np.zeros((1, 1, 8), "float32"), start_index=7))
    np.testing.assert_allclose(step[0, 0], full[0, 7], atol=1e-6)
    tensor_index = keras.ops.convert_to_tensor(5, dtype="int32")
    step = to_numpy(layer(np.zeros((1, 2, 8), "float32"), start_index=tensor_index))
    np.testing.assert_allclose(step[0], full[0, 5:7], atol=1e-6)


def test_sinusoidal_add_mode_adds():
    x = np.random.default_rng(0).normal(size=(2, 5, 6)).astype("float32")
    added = to_numpy(SinusoidalPositionalEncoding(mode="add")(x))
    np.testing.assert_allclose(
        added - x, closed_form(5, 6)[None].repeat(2, 0), atol=1e-5
    )


def test_learned_positions_slice_the_table():
    layer = LearnedPositionalEmbedding(sequence_length=10)
    x = np.zeros((2, 4, 3), "float32")
    layer(x)
    table = to_numpy(layer.embeddings)
    np.testing.assert_allclose(to_numpy(layer(x))[1], table[:4])
    np.testing.assert_allclose(to_numpy(layer(x, start_index=6))[0], table[6:10])
    index = keras.ops.convert_to_tensor(3, dtype="int32")
    np.testing.assert_allclose(to_numpy(layer(x, start_index=index))[0], table[3:7])


def test_embedding_mask_passes_through_to_attention():
    # mask_zero -> positional encoding -> output mask of the functional graph.
    tokens = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(20, 8, mask_zero=True)(tokens)
    for layer in (
        SinusoidalPositionalEncoding(mode="add"),
        LearnedPositionalEmbedding(12, mode="add"),
    ):
        y = layer(x)
        assert getattr(y, "_keras_mask", None) is not None
