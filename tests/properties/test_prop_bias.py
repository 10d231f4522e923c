"""Property 7: `attention_bias`, and masks that must be boolean.

(a) `attention_bias`, an additive float bias broadcastable to `(batch,
    heads, Tq, Tk)` (multi-head) or `(batch, Tq, Tk)` (single-head), added to
    the scores in float32:
    - `np.where(mask, 0, -inf)` gives what `attention_mask=mask` gives, fully
      masked rows (zeros) included, and `np.where(mask, 0, -1e9)` too on
      every row with a visible key;
    - a random finite bias gives `MultiHeadAttention` the weights
      `softmax(scores + bias)` of a NumPy reference, and the fused path
      (no weights returned) the output of the explicit one;
    - on the single-head layers, `softmax(s + b)` is `softmax(s) * exp(b)`
      renormalised: the layer's own unbiased weights are the reference.
(b) A float `attention_mask` / `query_mask` / `value_mask` (even holding only
    0 and 1) raises a `TypeError` that names the layer and points to
    `attention_bias`; integer 0/1 masks give exactly what boolean ones give.
"""

import math

import keras
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import (
    HEAD_DIMS,
    assert_close,
    batches,
    bool_masks,
    build,
    example_scope,
    examples,
    features,
    forward,
    init,
    lengths,
    mha_band,
    mha_kwargs,
    normal,
    np_masked_softmax,
    seeds,
    single_head_specs,
    to_np,
)

import keras_attention as ka
from keras_attention.core import alibi_slopes

KINDS = (
    "MultiHeadAttention",
    "SelfAttention",
    "AdditiveAttention",
    "MultiplicativeAttention",
)


def _setup(data, kind, with_heads_axis=True):
    """A layer factory, sizes, the mask/bias shape, and multi-head or not.

    Sizes: `(batch, Tq, Tk, features, heads, band)`, `band` the `(Tq, Tk)`
    mask the layer applies itself (a window).
    """
    batch = data.draw(batches, label="batch")
    length_q = data.draw(lengths, label="Tq")
    length_k = length_q if kind == "SelfAttention" else data.draw(lengths, label="Tk")
    dim = data.draw(features, label="features")
    heads = 1
    if kind == "MultiHeadAttention":
        kwargs = data.draw(mha_kwargs(), label="kwargs")
        heads = kwargs["num_heads"]

        def make():
            return ka.MultiHeadAttention(**kwargs, **init())

    elif kind == "SelfAttention":
        score = data.draw(
            st.sampled_from(("scaled_dot", "additive", "dot", "general")), label="score"
        )
        kwargs = {"score": score}
        if score == "scaled_dot":
            heads = data.draw(st.sampled_from((1, 2)), label="num_heads")
            key_dim = data.draw(st.sampled_from(HEAD_DIMS), label="key_dim")
            kwargs.update(num_heads=heads, key_dim=key_dim)

        def make():
            return ka.SelfAttention(**kwargs, **init())

    else:
        spec = data.draw(
            single_head_specs(
                length_k,
                scores=("dot", "scaled_dot", "general", "concat", "location")
                if kind == "MultiplicativeAttention"
                else ("additive",),
                local=False,
            ).filter(lambda s: s.cls.__name__ == kind),
            label="layer",
        )
        make = spec.make
    multi_head = kind == "MultiHeadAttention" or (
        kind == "SelfAttention" and kwargs["score"] == "scaled_dot"
    )
    if kind == "MultiHeadAttention" and with_heads_axis:
        forms = ("2d", "3d", "4d-1", "4d-h")
    elif kind == "SelfAttention" and multi_head and with_heads_axis:
        forms = ("2d", "3d", "4d-1")
    else:
        forms = ("2d", "3d")
    form = data.draw(st.sampled_from(forms), label="mask/bias shape")
    shape = {
        "2d": (length_q, length_k),
        "3d": (batch, length_q, length_k),
        "4d-1": (batch, 1, length_q, length_k),
        "4d-h": (batch, heads, length_q, length_k),
    }[form]
    band = np.ones((length_q, length_k), bool)
    if kind == "MultiHeadAttention":
        band = mha_band(kwargs, length_q, length_k, use_causal_mask=False)
    sizes = (batch, length_q, length_k, dim, heads, band)
    return make, sizes, shape, multi_head


def _call_for(kind, scores):
    if kind == "SelfAttention":

        def call(fn, q, v, **extra):
            result = fn(q, return_attention_scores=scores, **extra)
            return result if scores else (result, None)

    else:

        def call(fn, q, v, **extra):
            result = fn(q, v, return_attention_scores=scores, **extra)
            return result if scores else (result, None)

    return call


def _full(mask, batch, heads, length_q, length_k):
    """A mask or bias as `(batch, heads, Tq, Tk)`."""
    mask = np.asarray(mask)
    if mask.ndim == 2:
        mask = mask[None, None]
    elif mask.ndim == 3:
        mask = mask[:, None]
    return np.broadcast_to(mask, (batch, heads, length_q, length_k))


def _weights_4d(weights):
    return weights if weights.ndim == 4 else weights[:, None]


@examples()
@given(data=st.data())
def test_an_infinite_bias_is_a_boolean_mask(data):
    kind = data.draw(st.sampled_from(KINDS), label="layer")
    make, sizes, shape, multi_head = _setup(data, kind)
    batch, length_q, length_k, dim, heads, band = sizes
    mask = data.draw(bool_masks(shape), label="mask")
    scores = data.draw(st.booleans(), label="return_attention_scores")
    seed = data.draw(seeds, label="seed")
    with example_scope(seed) as rng:
        layer = make()
        q = normal(rng, (batch, length_q, dim))
        v = q if kind == "SelfAttention" else normal(rng, (batch, length_k, dim))
        base = _call_for(kind, scores)

        def call(fn, q, v, bias):
            if bias is None:
                return base(fn, q, v, attention_mask=mask)
            return base(fn, q, v, attention_bias=bias)

        build(layer, lambda fn, q, v: base(fn, q, v), q, v)
        run_mask = forward(layer, lambda fn, q, v: call(fn, q, v, None))
        run_bias = forward(layer, lambda fn, q, v, b: call(fn, q, v, b))
        want_out, want_w = run_mask(q, v)
        what = f"{kind}: attention_bias=where(mask, 0, -inf)"
        infinite = np.where(mask, 0.0, -np.inf).astype("float32")
        got_out, got_w = run_bias(q, v, infinite)
        assert_close(got_out, want_out, what)
        if scores:
            assert_close(got_w, want_w, what + " (weights)")
        # -1e9 instead of -inf: the same on every row with a visible key.
        full = _full(mask, batch, heads if multi_head else 1, length_q, length_k)
        visible_rows = (full & band).any(-1)  # (batch, heads, Tq); band: window
        rows = visible_rows.all(1)  # output rows: every head has a key
        got_out, got_w = run_bias(q, v, np.where(mask, 0.0, -1e9).astype("float32"))
        what = f"{kind}: attention_bias=where(mask, 0, -1e9)"
        assert_close(got_out[rows], want_out[rows], what)
        if scores:
            got_w, want_w = _weights_4d(got_w), _weights_4d(want_w)
            rows4 = np.broadcast_to(visible_rows, got_w.shape[:3])
            assert_close(got_w[rows4], want_w[rows4], what + " (weights)")


def _rotate(x, offset=0):
    """NumPy twin of `keras_attention.core.rotate_half` on `(B, H, T, d)`."""
    dim = x.shape[-1]
    half = dim // 2
    inverse = 1.0 / 10000.0 ** (np.arange(half) * 2.0 / dim)
    angles = (np.arange(x.shape[2]) + offset)[:, None] * inverse  # (T, d/2)
    cos, sin = np.cos(angles), np.sin(angles)
    x1, x2 = x[..., :half], x[..., half:]
    return np.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], -1)


def _mha_scores(layer, kwargs, q_in, v_in, use_causal):
    """NumPy scores `(B, H, Tq, Tk)` of `MultiHeadAttention` (no bias)."""
    get = lambda name: np.asarray(to_np(getattr(layer, name)), "float64")  # noqa: E731
    q = np.einsum("btd,dhk->bhtk", q_in, get("query_kernel"))
    k = np.einsum("btd,dhk->bhtk", v_in, get("key_kernel"))
    if kwargs.get("use_bias", True):
        q = q + get("query_bias")[None, :, None]
        k = k + get("key_bias")[None, :, None]
    heads = kwargs["num_heads"]
    k = np.repeat(k, heads // (kwargs.get("num_key_value_heads") or heads), axis=1)
    if kwargs.get("position_embedding") == "rope":
        q, k = _rotate(q), _rotate(k)
    score = kwargs.get("score", "scaled_dot")
    if score == "scaled_dot":
        scores = q @ k.swapaxes(-1, -2) / math.sqrt(kwargs["key_dim"])
    elif score == "general":
        scores = (q @ get("score_kernel")) @ k.swapaxes(-1, -2)
    else:  # additive: v_h . tanh(q + k)
        hidden = np.tanh(q[:, :, :, None] + k[:, :, None])
        scores = np.einsum("bhqkd,hd->bhqk", hidden, get("score_v"))
    if kwargs.get("position_embedding") == "alibi":
        distance = np.arange(q.shape[2])[:, None] - np.arange(k.shape[2])[None]
        if not use_causal:
            distance = np.abs(distance)
        scores = (
            scores - np.asarray(alibi_slopes(heads))[None, :, None, None] * distance
        )
    return scores


@examples()
@given(data=st.data())
def test_multi_head_weights_are_the_softmax_of_scores_plus_bias(data):
    batch = data.draw(batches, label="batch")
    length_q = data.draw(lengths, label="Tq")
    length_k = data.draw(lengths, label="Tk")
    dim = data.draw(features, label="features")
    kwargs = data.draw(mha_kwargs(windows=(None,)), label="kwargs")
    heads = kwargs["num_heads"]
    form = data.draw(
        st.sampled_from(
            (
                (length_q, length_k),
                (batch, 1, length_q, length_k),
                (1, heads, length_q, length_k),
                (batch, heads, length_q, length_k),
            )
        ),
        label="bias shape",
    )
    value_mask = data.draw(bool_masks((batch, length_k)), label="value_mask")
    use_causal = data.draw(st.booleans(), label="use_causal_mask")
    seed = data.draw(seeds, label="seed")
    with example_scope(seed) as rng:
        layer = ka.MultiHeadAttention(**kwargs, **init())
        q = normal(rng, (batch, length_q, dim))
        v = normal(rng, (batch, length_k, dim))
        bias = normal(rng, form, scale=2.0)

        def call(fn, q, v, bias, scores):
            result = fn(
                q,
                v,
                value_mask=value_mask,
                use_causal_mask=use_causal,
                attention_bias=bias,
                return_attention_scores=scores,
            )
            return result if scores else (result, None)

        build(layer, lambda fn, q, v: fn(q, v), q, v)
        explicit = forward(layer, lambda fn, q, v, b: call(fn, q, v, b, True))
        fused = forward(layer, lambda fn, q, v, b: call(fn, q, v, b, False))
        out, weights = explicit(q, v, bias)
        visible = np.broadcast_to(value_mask[:, None, None, :], weights.shape)
        if use_causal:
            visible = visible & (
                np.arange(length_k)[None] <= np.arange(length_q)[:, None]
            )
        scores = _mha_scores(layer, kwargs, q, v, use_causal) + _full(
            bias, batch, heads, length_q, length_k
        )
        what = f"MultiHeadAttention({kwargs}) with a random attention_bias"
        assert_close(weights, np_masked_softmax(scores, visible), what, 1e-5, 1e-5)
        fused_out, _ = fused(q, v, bias)
        assert_close(fused_out, out, what + ": fused vs explicit", 1e-5, 1e-5)


@examples()
@given(data=st.data())
def test_single_head_bias_reweights_the_softmax(data):
    kind = data.draw(
        st.sampled_from(("AdditiveAttention", "MultiplicativeAttention")), label="layer"
    )
    make, sizes, shape, _ = _setup(data, kind)
    batch, length_q, length_k, dim, _, _ = sizes
    value_mask = data.draw(bool_masks((batch, length_k)), label="value_mask")
    seed = data.draw(seeds, label="seed")
    with example_scope(seed) as rng:
        layer = make()
        q = normal(rng, (batch, length_q, dim))
        v = normal(rng, (batch, length_k, dim))
        bias = normal(rng, shape, scale=2.0)

        def call(fn, q, v, bias, scores=True):
            result = fn(
                q,
                v,
                value_mask=value_mask,
                attention_bias=bias,
                return_attention_scores=scores,
            )
            return result if scores else (result, None)

        def plain(fn, q, v):
            return fn(q, v, value_mask=value_mask, return_attention_scores=True)

        build(layer, plain, q, v)
        _, unbiased = forward(layer, plain)(q, v)
        out, weights = forward(layer, lambda fn, q, v, b: call(fn, q, v, b))(q, v, bias)
        fused_out, _ = forward(layer, lambda fn, q, v, b: call(fn, q, v, b, False))(
            q, v, bias
        )
        visible = np.broadcast_to(value_mask[:, None, :], unbiased.shape)
        # Logits are O(1) here: no visible weight underflows.
        assert np.all(unbiased[visible] > 0)
        reweighted = np.where(
            visible, unbiased * np.exp(np.broadcast_to(bias, unbiased.shape)), 0.0
        )
        total = reweighted.sum(-1, keepdims=True)
        expected = reweighted / np.where(total > 0, total, 1.0)
        what = f"{layer.__class__.__name__} with a random attention_bias"
        assert_close(weights, expected, what, 1e-5, 1e-5)
        assert_close(fused_out, out, what + ": without weights", 1e-5, 1e-5)


# ------------------------------------------------------------------ masks
MASK_ARGS = {
    "MultiHeadAttention": ("attention_mask", "query_mask", "value_mask"),
    "SelfAttention": ("attention_mask", "mask"),
    "AdditiveAttention": ("attention_mask", "query_mask", "value_mask"),
    "MultiplicativeAttention": ("attention_mask", "query_mask", "value_mask"),
    "LocalAttention": ("attention_mask", "query_mask", "value_mask"),
}


def _mask_case(data):
    kind = data.draw(st.sampled_from(tuple(MASK_ARGS)), label="layer")
    argument = data.draw(st.sampled_from(MASK_ARGS[kind]), label="argument")
    batch = data.draw(batches, label="batch")
    length_q = data.draw(lengths, label="Tq")
    length_k = length_q if kind == "SelfAttention" else data.draw(lengths, label="Tk")
    shape = {
        "attention_mask": (batch, length_q, length_k),
        "query_mask": (batch, length_q),
        "mask": (batch, length_q),
        "value_mask": (batch, length_k),
    }[argument]
    mask = data.draw(bool_masks(shape), label="mask (as 0/1)")
    make = {
        "MultiHeadAttention": lambda: ka.MultiHeadAttention(2, 2, **init()),
        "SelfAttention": lambda: ka.SelfAttention(num_heads=2, **init()),
        "AdditiveAttention": lambda: ka.AdditiveAttention(units=3, **init()),
        "MultiplicativeAttention": lambda: ka.MultiplicativeAttention(**init()),
        "LocalAttention": lambda: ka.LocalAttention(window_width=2, **init()),
    }[kind]

    def call(fn, q, v, mask):
        if kind == "SelfAttention":
            return fn(q, **{argument: mask})
        return fn(q, v, **{argument: mask})

    return kind, argument, mask, make, call, (batch, length_q, length_k)


@examples()
@given(data=st.data())
def test_a_float_mask_is_refused_with_a_pointer_to_attention_bias(data):
    kind, argument, mask, make, call, sizes = _mask_case(data)
    dtype = data.draw(
        st.sampled_from(("float16", "bfloat16", "float32", "float64")), label="dtype"
    )
    seed = data.draw(seeds, label="seed")
    batch, length_q, length_k = sizes
    with example_scope(seed) as rng:
        q = normal(rng, (batch, length_q, 4))
        v = q if kind == "SelfAttention" else normal(rng, (batch, length_k, 4))
        layer = build(make(), lambda fn, q, v: call(fn, q, v, None), q, v)
        float_mask = keras.ops.cast(mask, dtype)
        with pytest.raises(TypeError) as error:
            forward(layer, lambda fn, q, v: call(fn, q, v, float_mask))(q, v)
        message = str(error.value)
        assert kind in message, f"the message does not name {kind}: {message}"
        assert "attention_bias" in message, message
        assert argument in message, message


@examples()
@given(data=st.data())
def test_an_integer_mask_is_a_boolean_mask(data):
    kind, argument, mask, make, call, sizes = _mask_case(data)
    dtype = data.draw(
        st.sampled_from(("int8", "uint8", "int32", "int64")), label="dtype"
    )
    scale = data.draw(st.sampled_from((1, 3)), label="non-zero value")
    seed = data.draw(seeds, label="seed")
    batch, length_q, length_k = sizes
    with example_scope(seed) as rng:
        q = normal(rng, (batch, length_q, 4))
        v = q if kind == "SelfAttention" else normal(rng, (batch, length_k, 4))
        layer = build(make(), lambda fn, q, v: call(fn, q, v, None), q, v)
        want = forward(layer, lambda fn, q, v: call(fn, q, v, mask))(q, v)
        integer = (mask * scale).astype(dtype)
        got = forward(layer, lambda fn, q, v: call(fn, q, v, integer))(q, v)
        np.testing.assert_array_equal(
            got, want, err_msg=f"{kind}: {argument} as {dtype} (0/{scale})"
        )
