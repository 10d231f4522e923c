"""The dispatcher: which kernel it picks, and that every kernel agrees.

`return_weights=True` forces the explicit kernel and `allow_fused=False`
keeps the fused one out, so the same call can be run on each path and the
outputs compared.
"""

import keras
import numpy as np
import pytest
from keras import ops

from keras_attention.core import _backend, dispatch
from keras_attention.core.positions import POSITION_SCHEMES
from tests.harness import to_numpy

RNG = np.random.default_rng(0)


def _qkv(batch=2, heads=4, kv_heads=2, tq=6, tk=6, dim=8, dv=8):
    q = RNG.normal(size=(batch, heads, tq, dim)).astype("float32")
    k = RNG.normal(size=(batch, kv_heads, tk, dim)).astype("float32")
    v = RNG.normal(size=(batch, kv_heads, tk, dv)).astype("float32")
    return q, k, v


def _reference(q, k, v, mask=None, bias=None, scale=None):
    """NumPy softmax(q k^T * scale + bias) v, zeros for fully masked rows."""
    groups = q.shape[1] // k.shape[1]
    k, v = np.repeat(k, groups, axis=1), np.repeat(v, groups, axis=1)
    scale = 1 / np.sqrt(q.shape[-1]) if scale is None else scale
    scores = np.einsum("bhqd,bhkd->bhqk", q, k) * scale
    if bias is not None:
        scores = scores + bias
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    top = np.max(scores, axis=-1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0)
    weights = np.exp(scores - top)
    total = weights.sum(-1, keepdims=True)
    weights = np.where(total > 0, weights / np.where(total > 0, total, 1), 0)
    return np.einsum("bhqk,bhkd->bhqd", weights, v)


def _run_all_paths(q, k, v, **kwargs):
    fused_or_auto, _ = dispatch.attention(q, k, v, **kwargs)
    explicit, weights = dispatch.attention(q, k, v, return_weights=True, **kwargs)
    unfused, _ = dispatch.attention(q, k, v, allow_fused=False, **kwargs)
    return [to_numpy(x) for x in (fused_or_auto, explicit, unfused)], weights


@pytest.mark.parametrize("case", ["plain", "causal", "padding", "mask", "bias"])
def test_every_path_equals_the_reference(case):
    q, k, v = _qkv()
    query_mask = np.array([[1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1]], bool)
    key_mask = np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], bool)
    attention_mask = RNG.random((2, 1, 6, 6)) < 0.7
    bias = RNG.normal(size=(1, 4, 6, 6)).astype("float32")
    kwargs, mask, reference_bias = {}, np.ones((2, 4, 6, 6), bool), None
    if case == "causal":
        kwargs["causal"] = True
        mask = mask & np.tril(np.ones((6, 6), bool))
    elif case == "padding":
        kwargs.update(query_mask=query_mask, key_mask=key_mask)
        mask = mask & query_mask[:, None, :, None] & key_mask[:, None, None, :]
    elif case == "mask":
        kwargs["attention_mask"] = attention_mask
        mask = mask & attention_mask
    elif case == "bias":
        kwargs["bias"] = bias
        reference_bias = bias
    expected = _reference(q, k, v, mask, reference_bias)
    outputs, _ = _run_all_paths(q, k, v, **kwargs)
    for output in outputs:
        np.testing.assert_allclose(output, expected, atol=2e-5)


@pytest.mark.parametrize("causal", [False, True])
def test_distance_bias_and_band_with_an_offset(causal):
    # One cached step at position 5 over 8 keys: the causal mask, the band
    # and the distances all start at the offset.
    q, k, v = _qkv(tq=2, tk=8)
    alibi = POSITION_SCHEMES["alibi"].distance_bias(4)
    kwargs = dict(
        causal=causal,
        causal_offset=5,
        band=(2, 0 if causal else 2),
        distance_bias=alibi,
    )
    rows = np.arange(2)[:, None] + 5
    distance = (rows - np.arange(8)[None]).astype("float32")
    mask = np.abs(distance) <= 2
    if causal:
        mask &= distance >= 0
    bias = to_numpy(alibi(ops.convert_to_tensor(distance), causal))[None]
    expected = _reference(q, k, v, mask[None, None], bias)
    outputs, _ = _run_all_paths(q, k, v, **kwargs)
    for output in outputs:
        np.testing.assert_allclose(output, expected, atol=2e-5)


@pytest.mark.parametrize("causal", [False, True])
def test_blocked_window_equals_the_band_mask(causal):
    q, k, v = _qkv(tq=256, tk=256, heads=2, kv_heads=1)
    band = dispatch.window_band(8, causal)
    assert dispatch.choose_kernel(q, k, band=band, causal=causal) == "blocked_window"
    blocked, _ = dispatch.attention(q, k, v, band=band, causal=causal)
    explicit, _ = dispatch.attention(
        q, k, v, band=band, causal=causal, return_weights=True
    )
    np.testing.assert_allclose(to_numpy(blocked), to_numpy(explicit), atol=2e-5)


def test_fully_masked_rows_are_zero_on_every_path():
    q, k, v = _qkv()
    key_mask = np.array([[0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1]], bool)
    outputs, weights = _run_all_paths(q, k, v, key_mask=key_mask)
    for output in outputs:
        assert np.all(output[0] == 0) and np.all(np.isfinite(output))
    assert np.all(to_numpy(weights)[0] == 0)


def test_kernel_choice():
    q, k = (keras.ops.convert_to_tensor(x) for x in _qkv()[:2])
    expected = "explicit" if _backend.explicit_beats_fused(q) else "fused"
    assert dispatch.choose_kernel(q, k) == expected
    assert dispatch.choose_kernel(q, k, allow_fused=False) == "explicit"
    assert dispatch.choose_kernel(q, k, scaled_dot=False) == "explicit"
    assert dispatch.choose_kernel(q, k, return_weights=True) == "explicit"
    assert dispatch.choose_kernel(q, k, dropout=True) == "explicit"
    alibi = POSITION_SCHEMES["alibi"].distance_bias(4)
    assert dispatch.choose_kernel(q, k, distance_bias=alibi) == "explicit"
    # Short sequences: a window is cheaper as a band mask.
    assert dispatch.choose_kernel(q, k, band=(2, 0), causal=True) == expected
    # JAX with a CPU; eager TensorFlow with a CPU (these tests run eagerly).
    assert _backend.explicit_beats_fused(q) == (
        keras.backend.backend() in ("jax", "tensorflow")
        and _backend.default_device_is_cpu()
    )


def test_keras_band_and_window_band():
    assert dispatch.window_band(None, True) is None
    assert dispatch.window_band(4, True) == (3, 0)
    assert dispatch.window_band(4, False) == (4, 4)
    assert dispatch.keras_band(4, True) == (3, 0)
    assert dispatch.keras_band(4, False) == (3, 3)
    assert dispatch.keras_band(1, False) == (0, 0)
