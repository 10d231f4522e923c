"""The fused sliding-window fast path and its fallback.

There is no GPU here: `fused_window._window_attention`, which the public
function calls once it has found a GPU, runs the same kernels on CPU with the
unfused implementations (JAX `implementation="xla"`, torch eager
`flex_attention`), which checks the window mapping and grouped heads; the
layer tests make `fused_window._on_gpu` say yes, which checks the layer's
dispatch. The public function itself must return `None` on CPU, and always
on TensorFlow.
"""

import contextlib

import numpy as np
import pytest
from harness import BACKEND, to_numpy
from keras import ops

from keras_attention import MultiHeadAttention, SelfAttention
from keras_attention.core import fused_window, windowed
from keras_attention.core.fused_window import (
    _window_attention,
    fused_sliding_window_attention,
)
from keras_attention.core.masking import band_mask

RNG = np.random.default_rng(0)
NO_FUSED_KERNEL = "TensorFlow has no fused windowed kernel"
needs_fused = pytest.mark.skipif(BACKEND == "tensorflow", reason=NO_FUSED_KERNEL)


def _inputs(length, heads=4, kv_heads=4, depth=8, value_depth=None, batch=2):
    """`(batch, T, heads, d)` query, `(batch, T, kv_heads, d|dv)` key, value."""
    q = RNG.normal(size=(batch, length, heads, depth)).astype("float32")
    k = RNG.normal(size=(batch, length, kv_heads, depth)).astype("float32")
    v = RNG.normal(size=(batch, length, kv_heads, value_depth or depth))
    return [ops.convert_to_tensor(x, "float32") for x in (q, k, v)]


def _heads_first(q, k, v):
    """The blocked core's layout, key/value heads repeated for every group."""
    groups = q.shape[2] // k.shape[2]
    q, k, v = (ops.transpose(x, (0, 2, 1, 3)) for x in (q, k, v))
    return q, ops.repeat(k, groups, axis=1), ops.repeat(v, groups, axis=1)


def _numpy_reference(q, k, v, window, causal, scale):
    q, k, v = (to_numpy(x).astype("float64") for x in _heads_first(q, k, v))
    length = q.shape[2]
    i, j = np.arange(length)[:, None], np.arange(length)[None]
    band = (i - j < window) & (j <= i) if causal else np.abs(i - j) <= window
    scores = np.where(band, q @ np.swapaxes(k, -1, -2) * scale, -np.inf)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    return np.transpose(weights @ v, (0, 2, 1, 3))


def _no_grad():
    """torch's `flex_attention` has no backward on CPU: forward only there."""
    if BACKEND == "torch":
        import torch

        return torch.no_grad()
    return contextlib.nullcontext()


# ---------------------------------------------------------------- fallback
@pytest.mark.parametrize("causal", [True, False], ids=["causal", "symmetric"])
def test_returns_none_on_cpu(causal):
    q, k, v = _inputs(150)
    assert fused_sliding_window_attention(q, k, v, 8, causal=causal) is None
    # The device check gave None: the kernel itself runs here (not on TF).
    with _no_grad():
        output = _window_attention(q, k, v, 8, causal=causal)
    assert (output is None) == (BACKEND == "tensorflow")


def test_tensorflow_never_has_a_fused_kernel():
    q, k, v = _inputs(150)
    output = _window_attention(q, k, v, 8)
    if BACKEND == "tensorflow":
        assert output is None
    else:
        assert output is not None


@needs_fused
def test_unsupported_shapes_fall_back():
    q, k, v = _inputs(150)
    short = k[:, :100]
    assert _window_attention(q, short, short, 8) is None
    q3 = _inputs(150, heads=3, kv_heads=2)[0]  # 2 does not divide 3
    kv = k[:, :, :2]
    assert _window_attention(q3, kv, kv, 8) is None


def test_bad_arguments():
    q, k, v = _inputs(40)
    with pytest.raises(ValueError, match="window"):
        fused_sliding_window_attention(q, k, v, 0)
    with pytest.raises(ValueError, match="causal"):
        fused_sliding_window_attention(q, k, v, 4, causal="yes")


# ------------------------------------------- the kernels on CPU
@needs_fused
@pytest.mark.parametrize("causal", [True, False], ids=["causal", "symmetric"])
@pytest.mark.parametrize(
    "length, window, heads, kv_heads",
    [
        (150, 8, 4, 4),  # T not a multiple of the blocks (32 here, 128 in torch)
        (203, 50, 4, 2),  # grouped-query heads
        (77, 16, 4, 1),  # multi-query
        (45, 60, 2, 2),  # window wider than the sequence: full (causal) attention
        (131, 1, 2, 1),  # the smallest window
    ],
)
def test_cpu_kernels_equal_blocked_and_band_masked_attention(
    length, window, heads, kv_heads, causal
):
    q, k, v = _inputs(length, heads, kv_heads)
    scale = 0.3
    with _no_grad():
        got = _window_attention(q, k, v, window, causal=causal, scale=scale)
    assert got is not None
    assert tuple(got.shape) == tuple(q.shape)
    got = to_numpy(got)
    heads_first = _heads_first(q, k, v)
    blocked = windowed.sliding_window_attention(
        *heads_first, window, causal=causal, scale=scale
    )
    full = windowed.reference_sliding_window_attention(
        *heads_first, window, causal=causal, scale=scale
    )
    for expected in (blocked, full):
        expected = np.transpose(to_numpy(expected), (0, 2, 1, 3))
        np.testing.assert_allclose(got, expected, atol=1e-5, rtol=1e-5)
    expected = _numpy_reference(q, k, v, window, causal, scale)
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=1e-5)


@needs_fused
@pytest.mark.parametrize("causal", [True, False], ids=["causal", "symmetric"])
def test_window_mapping_is_band_mask(causal):
    """One-hot values read back which keys each query saw: exactly the band."""
    length, window = 37, 5
    q = ops.zeros((1, length, 1, length))  # equal scores: uniform over the band
    v = ops.reshape(ops.eye(length), (1, length, 1, length))
    with _no_grad():
        got = _window_attention(q, q, v, window, causal=causal)
    seen = to_numpy(got)[0, :, 0] > 0  # (query, key)
    left, right = windowed.window_extent(window, causal)
    np.testing.assert_array_equal(
        seen, to_numpy(band_mask(length, length, left, right))
    )


@needs_fused
def test_default_scale_and_value_head_size():
    q, k, v = _inputs(90, heads=2, kv_heads=1, value_depth=6)
    with _no_grad():
        got = _window_attention(q, k, v, 8)
    if BACKEND == "jax":  # jax.nn.dot_product_attention: value shape == key shape
        assert got is None
        return
    expected = windowed.sliding_window_attention(*_heads_first(q, k, v), 8)
    np.testing.assert_allclose(
        to_numpy(got), np.transpose(to_numpy(expected), (0, 2, 1, 3)), atol=1e-5
    )


@needs_fused
def test_jax_jit_and_gradients_of_the_cpu_kernel():
    if BACKEND != "jax":
        pytest.skip(
            "jit and gradients of the CPU kernels are checked on JAX only: "
            "torch's flex_attention has no backward on CPU and is compiled "
            "(torch.compile) only on CUDA"
        )
    import jax

    q, k, v = _inputs(150, heads=4, kv_heads=2)

    def fused(q, k, v):
        output = _window_attention(q, k, v, 8)
        return ops.sum(ops.sin(output))

    def blocked(q, k, v):
        output = windowed.sliding_window_attention(*_heads_first(q, k, v), 8)
        return ops.sum(ops.sin(output))

    got = jax.jit(jax.value_and_grad(fused, argnums=(0, 1, 2)))(q, k, v)
    expected = jax.value_and_grad(blocked, argnums=(0, 1, 2))(q, k, v)
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-5)
    for g, e in zip(got[1], expected[1], strict=True):
        np.testing.assert_allclose(g, e, atol=1e-5)


@needs_fused
def test_torch_backward_on_cpu_falls_back():
    if BACKEND != "torch":
        pytest.skip("a torch-only limitation")
    import torch

    q, k, v = _inputs(150)
    q = q.clone().requires_grad_(True)
    # "FlexAttention does not support backward on CPU": None, not an error.
    assert _window_attention(q, k, v, 8) is None
    with torch.no_grad():  # How the layer runs it: no input needs a gradient.
        q = q * 1.0
        assert _window_attention(q, k, v, 8) is not None


# ------------------------------------------------------ through the layer
@pytest.fixture
def fused_calls(monkeypatch):
    """Records whether each fused call of `MultiHeadAttention` gave an output."""
    calls = []

    def spy(*args, **kwargs):
        output = fused_sliding_window_attention(*args, **kwargs)
        calls.append(output is not None)
        return output

    monkeypatch.setattr(
        "keras_attention.core.dispatch.fused_sliding_window_attention", spy
    )
    return calls


def _says_gpu(*args):
    """Device detection answering "a GPU": the layer runs the CPU kernels."""
    return True


CONFIGS = {
    "mha": {"num_heads": 2, "key_dim": 8},
    "gqa-rope": {
        "num_heads": 4,
        "key_dim": 8,
        "num_key_value_heads": 2,
        "position_embedding": "rope",
    },
    "mqa": {"num_heads": 4, "key_dim": 8, "num_key_value_heads": 1},
}


@needs_fused
@pytest.mark.parametrize("causal", [True, False], ids=["causal", "symmetric"])
@pytest.mark.parametrize("config", list(CONFIGS), ids=str)
def test_layer_output_is_unchanged_on_the_fused_path(
    config, causal, fused_calls, monkeypatch
):
    length = 150 if causal else 203  # long enough for the blocked path
    x = RNG.normal(size=(2, length, 16)).astype("float32")
    layer = MultiHeadAttention(window=8, **CONFIGS[config])
    with _no_grad():
        blocked = to_numpy(layer(x, x, use_causal_mask=causal))
        assert fused_calls == [False]  # CPU: fell back to the blocked form
        monkeypatch.setattr(fused_window, "_on_gpu", _says_gpu)
        fused = to_numpy(layer(x, x, use_causal_mask=causal))
    assert fused_calls == [False, True]
    np.testing.assert_allclose(fused, blocked, atol=1e-5, rtol=1e-5)


@needs_fused
def test_self_attention_takes_the_fused_path(fused_calls, monkeypatch):
    x = RNG.normal(size=(2, 150, 16)).astype("float32")
    layer = SelfAttention(num_heads=2, causal=True, window=8)
    with _no_grad():
        blocked = to_numpy(layer(x))
        monkeypatch.setattr(fused_window, "_on_gpu", _says_gpu)
        fused = to_numpy(layer(x))
    assert fused_calls == [False, True]
    np.testing.assert_allclose(fused, blocked, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "layer_kwargs, call_kwargs",
    [
        ({}, {"value_mask": "padding"}),
        ({}, {"query_mask": "padding"}),
        ({"position_embedding": "alibi"}, {}),
        ({"dropout": 0.5}, {"training": True}),
    ],
    ids=["value_mask", "query_mask", "alibi", "dropout"],
)
def test_layer_skips_the_fused_path(
    layer_kwargs, call_kwargs, fused_calls, monkeypatch
):
    monkeypatch.setattr(fused_window, "_on_gpu", _says_gpu)
    x = RNG.normal(size=(2, 150, 16)).astype("float32")
    padding = np.ones((2, 150), bool)
    padding[0, -7:] = False
    call_kwargs = {
        name: padding if value == "padding" else value
        for name, value in call_kwargs.items()
    }
    layer = MultiHeadAttention(num_heads=2, key_dim=8, window=8, **layer_kwargs)
    with _no_grad():
        output = layer(x, x, use_causal_mask=True, **call_kwargs)
    assert not fused_calls
    assert np.all(np.isfinite(to_numpy(output)))


@needs_fused
def test_layer_with_inactive_dropout_takes_the_fused_path(fused_calls, monkeypatch):
    monkeypatch.setattr(fused_window, "_on_gpu", _says_gpu)
    x = RNG.normal(size=(2, 150, 16)).astype("float32")
    layer = MultiHeadAttention(num_heads=2, key_dim=8, window=8, dropout=0.5)
    with _no_grad():
        layer(x, x, use_causal_mask=True, training=False)
    assert fused_calls == [True]
