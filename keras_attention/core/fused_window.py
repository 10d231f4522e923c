"""Fused sliding-window kernels: a guarded GPU fast path with a blocked fallback.

`fused_sliding_window_attention` runs windowed self-attention through a
backend's own fused kernel when one applies, and returns `None` otherwise, so
the caller falls back to the blocked `keras.ops` form,
`keras_attention.core.windowed.sliding_window_attention`, which computes the
same thing (`MultiHeadAttention(window=w)` does exactly that). The window is
the library's: query `i` sees keys `i - left .. i + right` with
`(left, right) = window_extent(window, causal)`, i.e. `(window - 1, 0)` causal
and `(window, window)` symmetric, as `band_mask` defines it.

- JAX on a GPU: `jax.nn.dot_product_attention(..., local_window_size=(left,
  right), implementation="cudnn")`, float16/bfloat16 only, causal windows
  only (cuDNN has no right-hand window without a causal mask), head size a
  multiple of 8 up to 256, equal query/key and value head sizes. Grouped
  key/value heads are passed as they are.
- torch on CUDA: `flex_attention` compiled once with `torch.compile`, with a
  block mask built from the band (cached per length, window and device);
  grouped key/value heads through `enable_gqa=True`.
- TensorFlow, and every backend on CPU: no fused kernel, `None`.

Inputs use Keras' `(batch, T, heads, dim)` layout, the layout of
`MultiHeadAttention`'s projections and of `jax.nn.dot_product_attention`, so
the JAX path needs no transpose (torch's `flex_attention` takes `(batch,
heads, T, dim)`: the torch path transposes views).

This is the one place the package imports `jax` or `torch` directly, and
only inside the backend's branch. Errors the kernels raise for unsupported
shapes or devices are caught and give `None`. Under `jax.jit` the cuDNN
checks run at trace time; a failure only XLA's compiler detects would not be
caught.

`fused_sliding_window_attention` checks the device (`_on_gpu`) and calls
`_window_attention`, which runs the kernel on the inputs' device: the fused
implementations on a GPU, their unfused forms elsewhere (JAX
`implementation="xla"`, torch eager `flex_attention`, forward only). Those
are slower than the blocked form, so only the tests run them, to check the
window mapping and the numerics without a GPU.
"""

import math
import warnings

import keras

from keras_attention.core import _backend
from keras_attention.core.validation import check_positive_int
from keras_attention.core.windowed import window_extent

_CUDNN_DTYPES = ("float16", "bfloat16")
_CUDNN_MAX_HEAD_DIM = 256  # Hopper and later; cuDNN itself rejects > 128 before.

# torch: the compiled `flex_attention`, block masks, and configurations whose
# fused call failed on CUDA (so they are not compiled again on every call).
_TORCH_STATE = {"compiled": None, "compiled_block_mask": None}
_TORCH_BLOCK_MASKS = {}
_TORCH_FAILED = set()


def _shapes_supported(query, key, value):
    """Static shape checks shared by both kernels: self-attention, GQA heads."""
    shapes = [tuple(x.shape) for x in (query, key, value)]
    if any(len(s) != 4 or None in s for s in shapes):
        return False
    (b, t, n, d), (kb, kt, kn, kd), (vb, vt, vn, _) = shapes
    return b == kb == vb and t == kt == vt and kn == vn and n % kn == 0 and d == kd


def fused_sliding_window_attention(query, key, value, window, causal=True, scale=None):
    """Sliding-window self-attention through a fused kernel, or `None`.

    Computes the same attention as
    `keras_attention.core.windowed.sliding_window_attention` without
    padding masks, ALiBi or dropout: query `i` attends to keys
    `i - window < j <= i` (`causal=True`) or `|i - j| <= window`
    (`causal=False`), scores scaled by `scale`. Returns `None` (and the
    caller uses the blocked form) when no fused kernel applies: TensorFlow,
    CPU, an unsupported dtype, head size or window kind, or an error from
    the kernel. See the module docstring for each backend's conditions.

    Args:
        query (Tensor): `(batch, T, heads, d)`.
        key (Tensor): `(batch, T, kv_heads, d)`; `kv_heads` divides `heads`
            (grouped-query attention).
        value (Tensor): `(batch, T, kv_heads, dv)` (JAX needs `dv == d`).
        window (int): window size, a positive int.
        causal (bool): causal window (default) or symmetric window.
        scale (float | None): multiplier of the scores; default `1 / sqrt(d)`.

    Returns:
        `(batch, T, heads, dv)` in `value`'s dtype, or `None`.

    Example:

    ```python
    import numpy as np
    from keras import ops
    from keras_attention.core import (
        fused_sliding_window_attention,
        sliding_window_attention,
    )

    q, k, v = np.random.rand(3, 1, 100, 2, 8).astype("float32")  # (B, T, N, d)
    output = fused_sliding_window_attention(q, k, v, window=16)
    if output is None:  # No fused kernel (CPU, TensorFlow): the blocked form.
        heads_first = [ops.transpose(x, (0, 2, 1, 3)) for x in (q, k, v)]
        output = sliding_window_attention(*heads_first, window=16)
        output = ops.transpose(output, (0, 2, 1, 3))
    assert tuple(output.shape) == (1, 100, 2, 8)
    ```
    """
    window = check_positive_int("fused_sliding_window_attention", "window", window)
    if not isinstance(causal, bool):
        raise ValueError(f"`causal` must be a bool; received causal={causal!r}.")
    if _backend.name() == "torch":
        query, key, value = _torch_tensors(query, key, value)
    if not _on_gpu(query, key, value):
        return None  # CPU, or TensorFlow: no fused windowed kernel.
    return _window_attention(query, key, value, window, causal, scale)


def _on_gpu(query, key, value):
    """Whether the inputs live on a GPU of a backend with a fused window kernel."""
    backend = _backend.name()
    if backend == "jax":
        return _backend.jax_on_gpu(query)
    if backend == "torch":
        return all(_backend.on_cuda(x) for x in (query, key, value))
    return False


def _window_attention(query, key, value, window, causal=True, scale=None):
    """The backend's window kernel on the inputs' device, or `None`.

    Arguments and result as in `fused_sliding_window_attention`, whose
    checks come first. On a GPU it runs the fused kernels; on a CPU their
    unfused forms (JAX `implementation="xla"`, torch eager `flex_attention`,
    forward only), which only the tests call. `None` on TensorFlow, for
    unsupported shapes, and when the kernel fails.
    """
    backend = _backend.name()
    if backend not in ("jax", "torch"):
        return None  # TensorFlow has no fused windowed kernel.
    if not _shapes_supported(query, key, value):
        return None
    left, right = window_extent(window, causal)
    if scale is None:
        scale = 1.0 / math.sqrt(query.shape[-1])
    scale = float(scale)
    if backend == "jax":
        return _jax_attention(query, key, value, left, right, causal, scale)
    return _torch_attention(query, key, value, left, right, scale)


# ---------------------------------------------------------------------- JAX
def _jax_implementation(query, causal):
    """`"cudnn"` on a GPU where cuDNN takes the window, `"xla"` on a CPU."""
    if not _backend.jax_on_gpu(query):
        return "xla"
    if keras.backend.standardize_dtype(query.dtype) not in _CUDNN_DTYPES:
        return None
    if not causal:  # cuDNN windows reach left only (with a causal mask).
        return None
    depth = query.shape[-1]
    if depth % 8 or depth > _CUDNN_MAX_HEAD_DIM:
        return None
    return "cudnn"


def _jax_attention(query, key, value, left, right, causal, scale):
    import jax
    import jax.numpy as jnp

    implementation = _jax_implementation(query, causal)
    if implementation is None:
        return None
    query, key, value = (jnp.asarray(x) for x in (query, key, value))
    if value.shape != key.shape or not query.dtype == key.dtype == value.dtype:
        return None
    try:
        return jax.nn.dot_product_attention(
            query,
            key,
            value,
            scale=scale,
            is_causal=causal,
            local_window_size=(left, right),
            implementation=implementation,
        )
    except (ValueError, NotImplementedError, RuntimeError, TypeError):
        return None  # cuDNN missing, or this shape/dtype/GPU not supported.


# -------------------------------------------------------------------- torch
def _band_mask_mod(left, right):
    def mask_mod(batch, head, q_idx, kv_idx):
        return (kv_idx >= q_idx - left) & (kv_idx <= q_idx + right)

    return mask_mod


def _torch_block_mask(flex, length, left, right, device, compiled):
    import torch

    args = (_band_mask_mod(left, right), None, None, length, length)
    if torch.compiler.is_compiling():  # Inside a compiled graph: no caching.
        return flex.create_block_mask(*args, device=device)
    cache_key = (length, left, right, str(device))
    block_mask = _TORCH_BLOCK_MASKS.get(cache_key)
    if block_mask is None:
        create = flex.create_block_mask
        if compiled:  # Never materializes the (T, T) mask.
            if _TORCH_STATE["compiled_block_mask"] is None:
                _TORCH_STATE["compiled_block_mask"] = torch.compile(create)
            create = _TORCH_STATE["compiled_block_mask"]
        block_mask = create(*args, device=device)
        _TORCH_BLOCK_MASKS[cache_key] = block_mask
    return block_mask


def _torch_tensors(*xs):
    """The inputs as torch tensors (arrays go to Keras' default device)."""
    import torch

    return tuple(
        x if isinstance(x, torch.Tensor) else keras.ops.convert_to_tensor(x) for x in xs
    )


def _torch_attention(query, key, value, left, right, scale):
    import torch

    try:
        from torch.nn.attention import flex_attention as flex
    except ImportError:  # torch < 2.5
        return None
    query, key, value = _torch_tensors(query, key, value)
    on_cuda = query.is_cuda and key.is_cuda and value.is_cuda
    if not query.dtype == key.dtype == value.dtype:
        return None
    batch, length, heads, depth = query.shape
    config = (
        tuple(query.shape),
        tuple(key.shape),
        tuple(value.shape),
        query.dtype,
        left,
        right,
        str(query.device),
    )
    if config in _TORCH_FAILED:
        return None
    extra = {"enable_gqa": True} if key.shape[2] != heads else {}
    try:
        block_mask = _torch_block_mask(flex, length, left, right, query.device, on_cuda)
        q, k, v = (x.transpose(1, 2) for x in (query, key, value))
        if on_cuda:
            if torch.compiler.is_compiling():  # The outer compile fuses it.
                attention = flex.flex_attention
            else:
                if _TORCH_STATE["compiled"] is None:
                    _TORCH_STATE["compiled"] = torch.compile(flex.flex_attention)
                attention = _TORCH_STATE["compiled"]
            output = attention(q, k, v, block_mask=block_mask, scale=scale, **extra)
        else:  # On a CPU (the tests): eager, unfused, forward only.
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "flex_attention called without")
                output = flex.flex_attention(
                    q, k, v, block_mask=block_mask, scale=scale, **extra
                )
    except Exception as error:  # noqa: BLE001 - any failure means: fall back.
        if on_cuda:
            _TORCH_FAILED.add(config)
            warnings.warn(
                "keras_attention: the fused flex_attention sliding window failed "
                f"({type(error).__name__}: {error}); using the blocked form.",
                stacklevel=3,
            )
        return None
    return output.transpose(1, 2)


__all__ = ["fused_sliding_window_attention"]
