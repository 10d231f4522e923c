"""Blocked sliding-window attention against the full masked reference.

Runs on whatever backend `KERAS_BACKEND` selects (the suite runs once per
backend). Values and gradients of `sliding_window_attention` must equal those
of `reference_sliding_window_attention` (full attention with a band mask) and
of an independent NumPy formula of the window convention.
"""

import keras
import numpy as np
import pytest
from keras import ops

from keras_attention.core import window_blocks
from keras_attention.core.masking import band_mask
from keras_attention.core.windowed import (
    blocked_window_is_cheaper,
    default_block_size,
    reference_sliding_window_attention,
    sliding_window_attention,
    use_blocked_window,
    window_extent,
)

BACKEND = keras.backend.backend()
ATOL = 1e-5


def _inputs(batch=2, heads=2, length=13, depth=8, value_depth=6, seed=0):
    rng = np.random.default_rng(seed)
    query = rng.standard_normal((batch, heads, length, depth)).astype("float32")
    key = rng.standard_normal((batch, heads, length, depth)).astype("float32")
    value = rng.standard_normal((batch, heads, length, value_depth)).astype("float32")
    return query, key, value


def _masks(batch, length, seed=1):
    """Random padding masks; the last sequence's keys are all masked."""
    rng = np.random.default_rng(seed)
    query_mask = rng.random((batch, length)) > 0.25
    key_mask = rng.random((batch, length)) > 0.25
    key_mask[-1] = False
    return query_mask, key_mask


def _numpy_window_attention(
    q, k, v, window, causal, query_mask=None, key_mask=None, slopes=None
):
    """The documented convention, written out in NumPy (float64)."""
    length = q.shape[2]
    i = np.arange(length)[:, None]
    j = np.arange(length)[None, :]
    if causal:
        allowed = (j > i - window) & (j <= i)
    else:
        allowed = np.abs(i - j) <= window
    mask = np.broadcast_to(allowed, (q.shape[0], 1, length, length))
    if query_mask is not None:
        mask = mask & query_mask[:, None, :, None]
    if key_mask is not None:
        mask = mask & key_mask[:, None, None, :]
    scores = np.einsum("bhid,bhjd->bhij", q, k) / np.sqrt(q.shape[-1])
    if slopes is not None:  # ALiBi: -m_h * (i - j), or * |i - j| if symmetric
        distance = (i - j) if causal else np.abs(i - j)
        scores = scores - np.asarray(slopes)[:, None, None] * distance
    scores = np.where(mask, scores, -np.inf)
    top = np.max(scores, axis=-1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    weights = np.where(mask, np.exp(scores - top), 0.0)
    total = weights.sum(-1, keepdims=True)
    weights = weights / np.where(total > 0, total, 1.0)
    return np.einsum("bhij,bhjd->bhid", weights, v)


def _run(fn, *args):
    """`fn(*args)`; jit-compiled on JAX, whose eager mode compiles op by op."""
    if BACKEND == "jax":
        import jax

        return jax.jit(fn)(*args)
    return fn(*args)


def _value_and_grads(fn, inputs, cotangent):
    """`fn(*inputs)` and the gradients of `sum(fn(*inputs) * cotangent)`.

    Chooses jax.grad, tf.GradientTape or torch autograd by the backend.
    """
    if BACKEND == "jax":
        import jax
        import jax.numpy as jnp

        def loss(*xs):
            out = fn(*xs)
            return jnp.sum(out * cotangent), out

        grad_fn = jax.grad(loss, argnums=tuple(range(len(inputs))), has_aux=True)
        grad_fn = jax.jit(grad_fn)  # Eager JAX compiles op by op: slow.
        grads, out = grad_fn(*[jnp.asarray(x) for x in inputs])
    elif BACKEND == "tensorflow":
        import tensorflow as tf

        xs = [tf.constant(x) for x in inputs]
        with tf.GradientTape() as tape:
            tape.watch(xs)
            out = fn(*xs)
            loss = tf.reduce_sum(out * cotangent)
        grads = tape.gradient(loss, xs)
    elif BACKEND == "torch":
        import torch

        xs = [torch.tensor(x, requires_grad=True) for x in inputs]
        out = fn(*xs)
        torch.sum(out * torch.as_tensor(cotangent)).backward()
        grads = [x.grad for x in xs]
    else:  # pragma: no cover
        pytest.skip(f"no gradient helper for backend {BACKEND}")
    return ops.convert_to_numpy(out), [ops.convert_to_numpy(g) for g in grads]


def _jit(fn):
    """Compile `fn` with static shapes where the backend supports it."""
    if BACKEND == "jax":
        import jax

        return jax.jit(fn)
    if BACKEND == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, jit_compile=True)
    pytest.skip(
        f"{BACKEND} backend: Keras has no static-shape graph compiler there "
        "(jax.jit and tf.function(jit_compile=True) are checked on JAX and TF)"
    )


def _close(actual, expected, atol=ATOL):
    actual = ops.convert_to_numpy(actual)
    assert actual.shape == expected.shape
    assert np.all(np.isfinite(actual))
    np.testing.assert_allclose(actual, expected, atol=atol, rtol=1e-5)


# (length, window, block_size): lengths not divisible by the block, blocks
# smaller and larger than the window, windows of 1 and >= T.
CASES = [
    (13, 4, 4),  # block = window
    (13, 3, 5),  # block > window
    (29, 5, 2),  # block < window: two previous (and next) blocks
    (37, 1, None),  # window 1, default block 32, T % block != 0
    (9, 9, None),  # window = T: one block
    (9, 50, 4),  # window > T with several blocks
    (24, 6, 7),
]


MODES = (True, False)  # causal, symmetric


def _both_modes(window, block_size, **masks):
    """`fn(q, k, v)`: blocked and reference outputs, causal then symmetric."""

    def fn(q, k, v):
        outputs = []
        for causal in MODES:
            outputs.append(
                sliding_window_attention(
                    q, k, v, window, causal=causal, block_size=block_size, **masks
                )
            )
            outputs.append(
                reference_sliding_window_attention(q, k, v, window, causal, **masks)
            )
        return outputs

    return fn


@pytest.mark.parametrize("length,window,block_size", CASES)
def test_matches_reference_and_numpy(length, window, block_size):
    query, key, value = _inputs(length=length)
    outputs = _run(_both_modes(window, block_size), query, key, value)
    for i, causal in enumerate(MODES):
        expected = _numpy_window_attention(query, key, value, window, causal)
        _close(outputs[2 * i], expected)  # blocked
        _close(outputs[2 * i + 1], expected)  # reference


@pytest.mark.parametrize("length,window,block_size", [(13, 3, 5), (20, 4, None)])
def test_padding_masks(length, window, block_size):
    query, key, value = _inputs(batch=3, length=length)
    query_mask, key_mask = _masks(3, length)
    fn = _both_modes(window, block_size, query_mask=query_mask, key_mask=key_mask)
    outputs = _run(fn, query, key, value)
    for i, causal in enumerate(MODES):
        expected = _numpy_window_attention(
            query, key, value, window, causal, query_mask, key_mask
        )
        _close(outputs[2 * i], expected)
        _close(outputs[2 * i + 1], expected)
        output = np.moveaxis(ops.convert_to_numpy(outputs[2 * i]), 1, 2)
        # Every key of the last sequence is masked: zeros, not NaN or uniform.
        np.testing.assert_array_equal(output[-1], 0.0)
        # Masked queries get zeros too.
        np.testing.assert_array_equal(output[:-1][~query_mask[:-1]], 0.0)


def test_key_mask_only_and_query_mask_only():
    """Also the one eager check on JAX (every other JAX test runs under jit)."""
    query, key, value = _inputs(batch=3, length=11)
    query_mask, key_mask = _masks(3, 11)
    output = sliding_window_attention(query, key, value, 3, key_mask=key_mask)
    expected = _numpy_window_attention(query, key, value, 3, True, None, key_mask)
    _close(output, expected)

    def fn(q, k, v):
        return sliding_window_attention(q, k, v, 3, query_mask=query_mask)

    output = _run(fn, query, key, value)
    expected = _numpy_window_attention(query, key, value, 3, True, query_mask, None)
    _close(output, expected)


@pytest.mark.parametrize("length,window,block_size", [(13, 3, 5), (12, 4, None)])
def test_gradients_match_reference(length, window, block_size):
    query, key, value = _inputs(batch=2, length=length)
    query_mask, key_mask = _masks(2, length)
    fn = _both_modes(window, block_size, query_mask=query_mask, key_mask=key_mask)

    def separate(*xs):
        # Each output gets its own copy of the inputs, so its own gradients.
        outputs = [fn(*xs[3 * i : 3 * i + 3])[i] for i in range(4)]
        return ops.stack(outputs)

    # Blocked and reference outputs of a mode get the same cotangent.
    cotangent = np.random.default_rng(3).standard_normal((2, 1, 2, 2, length, 6))
    cotangent = np.repeat(cotangent, 2, axis=1).reshape(4, 2, 2, length, 6)
    out, grads = _value_and_grads(
        separate, [query, key, value] * 4, cotangent.astype("float32")
    )
    for i in range(2):  # causal, symmetric
        blocked, reference = 2 * i, 2 * i + 1
        _close(out[blocked], out[reference])
        for j in range(3):  # query, key, value
            grad, ref_grad = grads[3 * blocked + j], grads[3 * reference + j]
            _close(grad, ref_grad)
            assert np.abs(ref_grad).max() > 0


@pytest.mark.parametrize("causal", [True, False], ids=["causal", "symmetric"])
def test_jit(causal):
    query, key, value = _inputs(batch=2, length=21)
    query_mask, key_mask = _masks(2, 21)

    def fn(q, k, v, qm, km):
        return sliding_window_attention(
            q, k, v, 4, causal=causal, query_mask=qm, key_mask=km, block_size=8
        )

    compiled = _jit(fn)
    output = compiled(query, key, value, query_mask, key_mask)
    expected = _numpy_window_attention(
        query, key, value, 4, causal, query_mask, key_mask
    )
    _close(output, expected)


def test_gradients_under_jit():
    query, key, value = _inputs(batch=1, length=18)
    cotangent = np.ones((1, 2, 18, 6), "float32")
    if BACKEND == "jax":
        import jax

        def loss(q, k, v):
            return (
                sliding_window_attention(q, k, v, 5, block_size=4) * cotangent
            ).sum()

        grads = jax.jit(jax.grad(loss, argnums=(0, 1, 2)))(query, key, value)
    elif BACKEND == "tensorflow":
        import tensorflow as tf

        @tf.function(jit_compile=True)
        def grad_fn(q, k, v):
            with tf.GradientTape() as tape:
                tape.watch([q, k, v])
                out = sliding_window_attention(q, k, v, 5, block_size=4)
                loss = tf.reduce_sum(out * cotangent)
            return tape.gradient(loss, [q, k, v])

        grads = grad_fn(tf.constant(query), tf.constant(key), tf.constant(value))
    else:
        pytest.skip(
            f"{BACKEND} backend: Keras has no static-shape graph compiler there "
            "(jax.jit and tf.function(jit_compile=True) are checked on JAX and TF)"
        )

    def reference(q, k, v):
        return reference_sliding_window_attention(q, k, v, 5)

    _, ref_grads = _value_and_grads(reference, [query, key, value], cotangent)
    for grad, ref_grad in zip(grads, ref_grads, strict=True):
        _close(grad, ref_grad)


def test_unknown_length_in_tf_graph():
    if BACKEND != "tensorflow":
        pytest.skip(
            "only TensorFlow graphs have a length unknown at trace time; JAX "
            "and torch always see concrete shapes"
        )
    import tensorflow as tf

    spec = tf.TensorSpec((None, 2, None, 8), "float32")
    mask_spec = tf.TensorSpec((None, None), "bool")

    @tf.function(input_signature=[spec, spec, spec, mask_spec])
    def fn(q, k, v, km):
        return sliding_window_attention(q, k, v, 3, key_mask=km, block_size=4)

    query, key, value = _inputs(batch=3, length=11, value_depth=8)
    _, key_mask = _masks(3, 11)
    expected = _numpy_window_attention(query, key, value, 3, True, None, key_mask)
    _close(fn(query, key, value, key_mask), expected)


def test_no_quadratic_intermediate():
    """The blocked path never builds a (T, T) array (checked on the jaxpr)."""
    if BACKEND != "jax":
        pytest.skip("inspects a jaxpr, which only the JAX backend produces")
    import jax

    length, window = 1024, 16
    query, key, value = _inputs(batch=1, heads=1, length=length, depth=4)
    jaxpr = jax.make_jaxpr(
        lambda q, k, v: sliding_window_attention(q, k, v, window, causal=False)
    )(query, key, value)
    largest = max(
        int(np.prod(var.aval.shape))
        for eqn in jaxpr.jaxpr.eqns
        for var in eqn.outvars
        if hasattr(var.aval, "shape")
    )
    assert largest <= length * 3 * default_block_size(window) * 8


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_low_precision_output_dtype(dtype):
    query, key, value = _inputs(length=10)

    def fn(q, k, v):
        cast = [ops.cast(x, dtype) for x in (q, k, v)]
        return sliding_window_attention(*cast, 3, block_size=4)

    output = _run(fn, query, key, value)
    assert ops.dtype(output) == dtype
    expected = _numpy_window_attention(query, key, value, 3, True)
    output = ops.convert_to_numpy(ops.cast(output, "float32"))
    np.testing.assert_allclose(output, expected, atol=0.1)


def test_window_convention_is_band_mask():
    length = 12
    for window in (1, 3, 12, 20):
        i = np.arange(length)[:, None]
        j = np.arange(length)[None, :]
        left, right = window_extent(window, causal=True)
        causal = ops.convert_to_numpy(band_mask(length, length, left, right))
        np.testing.assert_array_equal(causal, (j > i - window) & (j <= i))
        left, right = window_extent(window, causal=False)
        symmetric = ops.convert_to_numpy(band_mask(length, length, left, right))
        np.testing.assert_array_equal(symmetric, np.abs(i - j) <= window)


def test_blocked_window_is_cheaper():
    assert blocked_window_is_cheaper(8192, 128)
    assert blocked_window_is_cheaper(512, 128)  # 2 blocks of 128 <= 512 / 2
    assert not blocked_window_is_cheaper(256, 128)
    assert not blocked_window_is_cheaper(100, 128)  # window >= T: one block
    assert not blocked_window_is_cheaper(512, 128, causal=False)  # 3 * 128 > 256
    assert blocked_window_is_cheaper(768, 128, causal=False)
    assert blocked_window_is_cheaper(None, 128)
    # PyTorch's fused blocks are fastest near window // 8 (see its docstring).
    assert default_block_size(128) == (32 if BACKEND == "torch" else 128)
    assert default_block_size(1024) == (128 if BACKEND == "torch" else 1024)
    assert default_block_size(4) == 32
    assert default_block_size(1024, length=50) == 50


@pytest.mark.parametrize("length,window,block_size", [(13, 3, 5), (29, 5, 2)])
def test_alibi_bias_matches_reference_and_numpy(length, window, block_size):
    query, key, value = _inputs(batch=2, heads=2, length=length)
    query_mask, key_mask = _masks(2, length)
    slopes = [0.5, 0.125]
    masks = dict(query_mask=query_mask, key_mask=key_mask, alibi_slopes=slopes)
    outputs = _run(_both_modes(window, block_size, **masks), query, key, value)
    for i, causal in enumerate(MODES):
        expected = _numpy_window_attention(
            query, key, value, window, causal, query_mask, key_mask, slopes
        )
        _close(outputs[2 * i], expected)
        _close(outputs[2 * i + 1], expected)
        plain = _numpy_window_attention(
            query, key, value, window, causal, query_mask, key_mask
        )
        assert not np.allclose(expected, plain, atol=1e-3)  # the bias matters


def test_dropout_fn_sees_the_weights():
    """A deterministic `dropout_fn` acts on the blocked and the full weights alike."""
    query, key, value = _inputs(length=19)
    query_mask, key_mask = _masks(2, 19)
    masks = dict(query_mask=query_mask, key_mask=key_mask)
    seen = []

    def halve(weights):  # what dropout does to a weight it keeps, inverted
        seen.append(tuple(weights.shape))
        return weights * 0.5

    for causal in MODES:
        seen.clear()
        blocked = sliding_window_attention(
            query, key, value, 3, causal, block_size=4, dropout_fn=halve, **masks
        )
        reference = reference_sliding_window_attention(
            query, key, value, 3, causal, dropout_fn=halve, **masks
        )
        expected = _numpy_window_attention(query, key, value, 3, causal, **masks)
        _close(blocked, 0.5 * expected)
        _close(reference, 0.5 * expected)
        context = 2 if causal else 3
        assert seen == [(2, 2, 5, 4, context * 4), (2, 2, 19, 19)]


def test_use_blocked_window():
    assert use_blocked_window(512, 512, 128)
    assert not use_blocked_window(512, 513, 128)  # not self-attention shaped
    assert not use_blocked_window(256, 256, 128)  # not cheaper
    assert not use_blocked_window(512, 512, 128, causal=False)
    assert use_blocked_window(768, 768, 128, causal=False)
    # Unknown lengths: only when the caller knows they are equal.
    assert not use_blocked_window(None, None, 128)
    assert not use_blocked_window(None, 512, 128)
    assert use_blocked_window(None, None, 128, same_length=True)
    assert use_blocked_window(None, 512, 128, same_length=True)
    assert not use_blocked_window(None, 256, 128, same_length=True)


@pytest.mark.parametrize(
    "kwargs,name",
    [
        ({"window": 0}, "window"),
        ({"window": -3}, "window"),
        ({"window": 2.5}, "window"),
        ({"window": True}, "window"),
        ({"block_size": 0}, "block_size"),
        ({"causal": "yes"}, "causal"),
        ({"scale": "big"}, "scale"),
        ({"query": np.zeros((2, 13, 8), "float32")}, "query"),
        ({"key": np.zeros((2, 2, 13), "float32")}, "key"),
        ({"value": np.zeros((2, 2, 13, 6, 1), "float32")}, "value"),
        ({"key": np.zeros((2, 2, 12, 8), "float32")}, "key"),
        ({"key": np.zeros((2, 3, 13, 8), "float32")}, "key"),
        ({"key": np.zeros((2, 2, 13, 7), "float32")}, "key"),
        ({"value": np.zeros((2, 2, 14, 6), "float32")}, "value"),
        ({"value": np.zeros((1, 2, 13, 6), "float32")}, "value"),
        ({"query_mask": np.ones((2, 12), bool)}, "query_mask"),
        ({"key_mask": np.ones((2, 2, 13), bool)}, "key_mask"),
        ({"alibi_slopes": [0.5, 0.25, 0.125]}, "alibi_slopes"),
        ({"alibi_slopes": [[0.5, 0.25]]}, "alibi_slopes"),
        ({"dropout_fn": 0.1}, "dropout_fn"),
    ],
)
@pytest.mark.parametrize(
    "fn",
    [sliding_window_attention, reference_sliding_window_attention],
    ids=["blocked", "reference"],
)
def test_bad_arguments(fn, kwargs, name):
    query, key, value = _inputs(length=13)
    args = {"query": query, "key": key, "value": value, "window": 3}
    args.update(kwargs)
    if "block_size" in args and fn is reference_sliding_window_attention:
        pytest.skip("the reference has no block_size")
    with pytest.raises(ValueError, match=f"`{name}`"):
        fn(**args)


@pytest.mark.parametrize("length,window,block_size", [(29, 5, 2), (37, 2, 4)])
def test_grouped_loop_equals_all_blocks_at_once(
    monkeypatch, length, window, block_size
):
    # Groups of 3 blocks (the block count is not a multiple of 3: padded
    # groups), with padding masks; values and gradients against the reference.
    monkeypatch.setattr(window_blocks, "_blocks_per_group", lambda *args: 3)
    test_gradients_match_reference(length, window, block_size)


def test_blocks_are_grouped_only_by_a_compiler_on_a_cpu():
    query = ops.zeros((1, 4, 16384, 64))
    context = 2 * 128
    group = window_blocks._blocks_per_group(query, 128, 128, context, None)
    per_block = 4 * 4 * 128 * context
    if BACKEND == "jax":  # compiled, on this CPU
        assert group == window_blocks.GROUP_BYTES // per_block
    else:  # torch and eager TensorFlow run op by op: no loop
        assert group is None
    # Small problems, unknown sizes and dropout: all blocks at once.
    assert window_blocks._blocks_per_group(query, 2, 128, context, None) is None
    assert (
        window_blocks._blocks_per_group(query, 128, 128, context, lambda w: w) is None
    )


@pytest.mark.parametrize("strided", [True, False])
@pytest.mark.parametrize("causal", MODES)
def test_strided_and_explicit_blocks_agree_with_numpy(strided, causal, monkeypatch):
    """Blocks as strided views through one fused call (PyTorch's choice,
    `core.strided_blocks`) and explicit blocks (the fallback everywhere)
    give the window's numbers: padding masks, a sequence without keys (zero
    rows), ALiBi."""
    from keras_attention.core import strided_blocks

    if strided and BACKEND != "torch":
        pytest.skip("the strided views are PyTorch's Tensor.as_strided")
    if not strided:
        monkeypatch.setattr(
            window_blocks, "strided_blocks_attention", lambda *args: None
        )
    else:  # the strided path must be taken
        calls = []
        original = strided_blocks.strided_blocks_attention
        monkeypatch.setattr(
            window_blocks,
            "strided_blocks_attention",
            lambda *args: calls.append(original(*args)) or calls[-1],
        )
    query, key, value = _inputs(batch=2, heads=2, length=21)
    query_mask, key_mask = _masks(2, 21)
    slopes = [0.5, 0.125]
    for kwargs in ({}, {"alibi_slopes": slopes}):
        output = sliding_window_attention(
            query,
            key,
            value,
            4,
            causal=causal,
            query_mask=query_mask,
            key_mask=key_mask,
            block_size=5,
            **kwargs,
        )
        expected = _numpy_window_attention(
            query,
            key,
            value,
            4,
            causal,
            query_mask,
            key_mask,
            kwargs.get("alibi_slopes"),
        )
        _close(output, expected)
        np.testing.assert_array_equal(ops.convert_to_numpy(output)[-1], 0.0)
    if strided:  # both calls went through the strided kernel
        assert len(calls) == 2 and all(c is not None for c in calls)
