import keras
import numpy as np
import pytest
from keras import ops

from keras_attention.core import (
    band_mask,
    causal_mask,
    combine_masks,
    compute_attention_mask,
    masked_softmax,
    padding_mask,
)


def np_(x):
    return ops.convert_to_numpy(x)


def test_causal_mask_square_and_top_left_alignment():
    np.testing.assert_array_equal(np_(causal_mask(3, 3)), np.tril(np.ones((3, 3))))
    # Tq != Tk: aligned top-left, as keras.layers.MultiHeadAttention.
    np.testing.assert_array_equal(np_(causal_mask(2, 4)), [[1, 0, 0, 0], [1, 1, 0, 0]])


def test_causal_mask_offset_for_cached_decoding():
    # One query at position 2 of a 4-key cache sees keys 0..2.
    np.testing.assert_array_equal(np_(causal_mask(1, 4, offset=2)), [[1, 1, 1, 0]])
    offset = ops.convert_to_tensor(1, dtype="int32")
    np.testing.assert_array_equal(
        np_(causal_mask(2, 4, offset=offset)), [[1, 1, 0, 0], [1, 1, 1, 0]]
    )


def test_band_mask_matches_its_definition():
    q, k, left, right = 6, 6, 2, 1
    i = np.arange(q)[:, None]
    j = np.arange(k)[None, :]
    expected = (j >= i - left) & (j <= i + right)
    np.testing.assert_array_equal(np_(band_mask(q, k, left, right)), expected)
    # A causal window of w keys is band_mask(left=w - 1, right=0).
    np.testing.assert_array_equal(
        np_(band_mask(5, 5, left=4, right=0)), np_(causal_mask(5, 5))
    )


@pytest.mark.parametrize("arg", ["left", "right"])
@pytest.mark.parametrize("bad", [-1, 1.5, True])
def test_band_mask_rejects_negative_or_fractional_widths(arg, bad):
    kwargs = {"left": 1, "right": 1, arg: bad}
    with pytest.raises(ValueError, match=f"`{arg}` must be a non-negative integer"):
        band_mask(4, 4, **kwargs)


def test_padding_and_combined_masks():
    query_mask = np.array([[1, 1, 0]], bool)
    value_mask = np.array([[1, 0, 1, 1]], bool)
    mask = np_(padding_mask(query_mask, value_mask))
    np.testing.assert_array_equal(mask, query_mask[:, :, None] & value_mask[:, None])
    assert padding_mask(None, None) is None
    assert combine_masks(None, None) is None
    combined = compute_attention_mask(
        3,
        4,
        query_mask=query_mask,
        value_mask=value_mask,
        attention_mask=np.ones((3, 4), bool),
        use_causal_mask=True,
    )
    expected = (
        query_mask[:, :, None] & value_mask[:, None] & np.tril(np.ones((3, 4), bool))
    )
    np.testing.assert_array_equal(np_(combined), expected)
    assert compute_attention_mask(3, 4) is None


def test_masked_softmax_zero_rows_and_normalisation():
    scores = np.random.default_rng(0).normal(size=(2, 3, 5)).astype("float32")
    mask = np.ones((2, 3, 5), bool)
    mask[0, 1] = False  # a fully masked row
    mask[1, 2, :3] = False
    weights = np_(masked_softmax(scores, mask))
    assert weights.dtype == np.float32
    np.testing.assert_array_equal(weights[0, 1], 0.0)
    np.testing.assert_array_equal(weights[1, 2, :3], 0.0)
    sums = weights.sum(-1)
    np.testing.assert_allclose(sums[mask.any(-1)], 1.0, rtol=1e-6)
    expected = np.exp(scores[1, 2, 3:]) / np.exp(scores[1, 2, 3:]).sum()
    np.testing.assert_allclose(weights[1, 2, 3:], expected, rtol=1e-6)


def test_masked_softmax_runs_in_float32_for_half_inputs():
    scores = ops.cast(np.array([[1000.0, 999.0, -5.0]], "float32"), "float16")
    weights = masked_softmax(scores, np.array([[True, True, False]]))
    assert keras.backend.standardize_dtype(weights.dtype) == "float32"
    np.testing.assert_allclose(
        np_(weights)[0, :2], [1 / (1 + np.exp(-1)), 1 / (1 + np.exp(1))], rtol=1e-3
    )


def test_masked_softmax_has_finite_gradients_on_fully_masked_rows():
    from grad_utils import value_and_grad

    scores = np.random.default_rng(1).normal(size=(2, 4)).astype("float32")
    mask = np.array([[True, False, True, True], [False] * 4])

    def loss(s):
        return ops.sum(masked_softmax(s, mask) * ops.arange(4, dtype="float32"))

    value, grad = value_and_grad(loss, scores)
    assert np.isfinite(value)
    assert np.all(np.isfinite(grad))
    np.testing.assert_array_equal(grad[1], 0.0)
    np.testing.assert_array_equal(grad[0, 1], 0.0)


def test_inert_inputs_zero_padding_once_for_self_attention():
    from keras_attention.core.masking import inert_inputs

    x = np.arange(24, dtype="float32").reshape(2, 3, 4)
    x[1, 2] = np.nan  # padding holds garbage
    x = ops.convert_to_tensor(x)
    valid = ops.convert_to_tensor([[True, True, True], [True, True, False]])
    query, value, key = inert_inputs(x, x, None, valid, valid)
    # One mask for queries and keys of one sequence: one tensor for all three.
    assert query is value and key is None
    expected = np_(x).copy()
    expected[1, 2] = 0.0
    np.testing.assert_array_equal(np_(value), expected)
    query, value, key = inert_inputs(x, x, x, valid, valid)
    assert query is value and key is value
    # Different query and value masks: each input zeroed by its own mask.
    no_query = ops.convert_to_tensor([[False, True, True], [True, True, True]])
    query, value, _ = inert_inputs(x, x, None, no_query, valid)
    np.testing.assert_array_equal(np_(value), expected)
    assert np_(query)[0, 0].tolist() == [0.0] * 4
    assert np.isnan(np_(query)[1, 2]).all()  # the query mask keeps that row


def test_sequence_mask_marks_the_first_lengths_positions():
    from keras_attention.core.masking import sequence_mask

    mask = sequence_mask(ops.convert_to_tensor([3, 0, 5], dtype="int32"), 5)
    expected = np.arange(5)[None] < np.array([3, 0, 5])[:, None]
    np.testing.assert_array_equal(np_(mask), expected)


def test_window_around_real_valued_centres():
    from keras_attention.core.masking import window_around

    centres = ops.convert_to_tensor([[0.0, 2.5], [4.0, 1.0]])
    mask, distance = window_around(centres, 6, 1.5)
    expected_distance = np.arange(6)[None, None] - np_(centres)[:, :, None]
    np.testing.assert_allclose(np_(distance), expected_distance)
    np.testing.assert_array_equal(np_(mask), np.abs(expected_distance) <= 1.5)
    # Query 1 of sequence 0 sits between keys 2 and 3: keys 1..4 are within 1.5.
    assert np_(mask)[0, 1].tolist() == [False, True, True, True, True, False]
