"""RotaryEmbedding: keras-hub's arguments over our positions core."""

import keras
import numpy as np
import pytest
from harness import CHECKS, LayerCase, run_check, to_numpy
from keras import ops

import keras_attention
from keras_attention import RotaryEmbedding
from keras_attention.core.positions import rotate_half

CASES = [
    LayerCase(RotaryEmbedding, {}, {"inputs": (2, 6, 8)}, mask_inputs=("inputs",)),
    LayerCase(
        RotaryEmbedding,
        {"max_wavelength": 100, "scaling_factor": 2.0},
        {"inputs": (2, 6, 3, 4)},
        call_kwargs={"start_index": 3},
        id="heads-start",
    ),
    LayerCase(
        RotaryEmbedding,
        {"sequence_axis": 2, "feature_axis": 1},
        {"inputs": (2, 4, 6)},
        id="axes",
    ),
]


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_keras_contract(case, check, tmp_path):
    run_check(case, check, tmp_path)


RNG = np.random.default_rng(0)


def numpy_rope(x, positions, max_wavelength=10000.0, scaling_factor=1.0):
    """keras-hub's formula: x * cos + concat(-x2, x1) * sin, (b, T, ..., d)."""
    d = x.shape[-1]
    inverse = max_wavelength ** (-np.arange(0, d, 2) / d) / scaling_factor
    angles = np.asarray(positions, "float64")[..., None] * inverse  # (..., T, d/2)
    angles = np.concatenate([angles, angles], -1)
    angles = angles.reshape(angles.shape[:-1] + (1,) * (x.ndim - 3) + (d,))
    x1, x2 = x[..., : d // 2], x[..., d // 2 :]
    return x * np.cos(angles) + np.concatenate([-x2, x1], -1) * np.sin(angles)


@pytest.mark.parametrize("shape", [(2, 7, 8), (2, 7, 3, 6)])
@pytest.mark.parametrize(
    "kwargs", [{}, {"max_wavelength": 50, "scaling_factor": 4.0}], ids=["default", "s"]
)
def test_rotary_matches_keras_hubs_formula(shape, kwargs):
    x = RNG.normal(size=shape).astype("float32")
    layer = RotaryEmbedding(**kwargs)
    expected = numpy_rope(x, np.arange(shape[1]), **kwargs)
    np.testing.assert_allclose(to_numpy(layer(x)), expected, atol=1e-5)
    shifted = numpy_rope(x, np.arange(shape[1]) + 5, **kwargs)
    np.testing.assert_allclose(to_numpy(layer(x, start_index=5)), shifted, atol=1e-5)
    positions = RNG.integers(0, 30, (shape[0], shape[1]))
    np.testing.assert_allclose(
        to_numpy(layer(x, start_index=99, positions=positions)),
        numpy_rope(x, positions, **kwargs),
        atol=1e-5,
    )


def test_rotary_is_what_multi_head_attention_applies():
    x = RNG.normal(size=(2, 5, 2, 4)).astype("float32")
    np.testing.assert_allclose(
        to_numpy(RotaryEmbedding(max_wavelength=500)(x)),
        to_numpy(rotate_half(x, ops.arange(5), 500.0)),
        atol=1e-6,
    )


def test_rotary_dot_products_depend_on_relative_positions_only():
    q = RNG.normal(size=(1, 1, 8)).astype("float32")
    k = RNG.normal(size=(1, 1, 8)).astype("float32")
    rope = RotaryEmbedding()

    def score(m, n):
        qm = to_numpy(rope(q, start_index=m))
        kn = to_numpy(rope(k, start_index=n))
        return float((qm * kn).sum())

    np.testing.assert_allclose(score(3, 1), score(10, 8), atol=1e-4)
    np.testing.assert_allclose(score(0, 0), float((q * k).sum()), atol=1e-5)


def test_rotary_axes_move_the_sequence_and_features():
    x = RNG.normal(size=(2, 6, 5, 4)).astype("float32")  # (batch, d, heads, T)
    moved = RotaryEmbedding(sequence_axis=3, feature_axis=1)(x)
    reference = RotaryEmbedding()(np.transpose(x, (0, 3, 2, 1)))
    np.testing.assert_allclose(
        to_numpy(moved), np.transpose(to_numpy(reference), (0, 3, 2, 1)), atol=1e-6
    )


def test_rotary_keeps_dtype_and_mask():
    x = keras.layers.Embedding(9, 8, mask_zero=True)(np.array([[1, 2, 0]]))
    y = RotaryEmbedding(dtype="float16")(ops.cast(x, "float16"))
    assert keras.backend.standardize_dtype(y.dtype) == "float16"
    layer = RotaryEmbedding()
    mask = np.array([[True, True, False]])
    assert to_numpy(layer.compute_mask(x, mask)).tolist() == mask.tolist()


@pytest.mark.parametrize(
    "make, error, words",
    [
        (lambda: RotaryEmbedding(max_wavelength=0), ValueError, "`max_wavelength`"),
        (lambda: RotaryEmbedding(scaling_factor=-1), ValueError, "`scaling_factor`"),
        (lambda: RotaryEmbedding(sequence_axis=1.5), ValueError, "`sequence_axis`"),
        (lambda: RotaryEmbedding()(np.ones((2, 3, 5))), ValueError, "even size"),
        (lambda: RotaryEmbedding()(np.ones((2, 4))), ValueError, "rank >= 3"),
        (
            lambda: RotaryEmbedding(sequence_axis=-1)(np.ones((2, 3, 4))),
            ValueError,
            "must be different",
        ),
        (
            lambda: RotaryEmbedding(feature_axis=5)(np.ones((2, 3, 4))),
            ValueError,
            "`feature_axis`=5",
        ),
    ],
)
def test_bad_arguments_are_named(make, error, words):
    with pytest.raises(error, match=words) as caught:
        make()
    assert "RotaryEmbedding: " in str(caught.value)


def test_exported_from_both_namespaces():
    for name in ("RotaryEmbedding",):
        assert name in keras_attention.__all__
        assert getattr(keras_attention.layers, name) is getattr(keras_attention, name)
