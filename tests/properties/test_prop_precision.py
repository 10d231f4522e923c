"""Property 6: float16 / bfloat16 and mixed policies with logits up to 1e4.

A layer under `float16`, `bfloat16`, `mixed_float16` or `mixed_bfloat16`
(given as the layer's `dtype` or as the global policy), holding the same
weights as a float32 twin, gives finite outputs (and weights) within an
error bound of the float32 ones. Queries and keys are scaled so that the
largest float32 logit is 1, 10, ..., 1e4.

The bound follows rounding to the dtype, `u = eps / 2` (`eps = 2**-10`
for float16, `2**-7` for bfloat16), through each step, with the absolute
values of the float32 computation (NumPy, float64):

- a projection `x @ W` of `d` terms in the dtype is off by at most
  `gamma = (d + 3) u` times `|x| @ |W|` (rounding `x`, `W`, the sum, the
  result); an unprojected input by `u`;
- a logit `s_ij = scale * q_i . k_j` (float32 inside, or the dtype in a
  fused kernel) by `delta_ij = scale * (2 gamma + (d_k + 2) u) sum|q_i||k_j|`;
- softmax: if every logit of row `i` moves by at most `D_i = max_j
  delta_ij`, every weight moves by a factor within `exp(+-2 D_i)`, so the
  output moves by at most `expm1(2 D_i) * sum_{j != top} w_ij |v_j - v_top|`
  (exact, whatever `D_i`: `sum_j (w'_ij - w_ij) = 0`); then
  `(T_k + 3) u` for the weights in the dtype, the weighted sum and the
  result, and the values' own projection error;
- `MultiHeadAttention`'s output projection adds `(H d_v + 3) u |o| @ |W_O|`
  and carries the heads' errors through `|W_O|`.

The tolerance is twice that bound (the products of two rounding errors are
dropped above). Where a row's top-2 float32 logits are closer than `2 D_i`
(and `D_i` is not negligible), which key wins depends on rounding: such a
near tie is not an error, and the example is skipped with `assume`.
"""

import math

import keras
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given
from hypothesis import strategies as st
from strategies import (
    BACKEND,
    assert_finite,
    build,
    example_scope,
    examples,
    features,
    forward,
    init,
    seeds,
    to_np,
)

import keras_attention as ka
from keras_attention.core import alibi_slopes

POLICIES = ("float16", "bfloat16", "mixed_float16", "mixed_bfloat16")
EPS = {"float16": 2.0**-10, "bfloat16": 2.0**-7}
MAGNITUDES = (1.0, 10.0, 100.0, 1e3, 1e4)
SMALL_LENGTHS = (1, 2, 5)


def _reference(kind, kwargs, layer, q, k, v):
    """Float64 logits and the absolute-value bounds of the error model.

    Returns a dict: `scores`, `abs_scores` (`scale * sum|q||k|`, per head),
    `gamma_qk` (relative error of the projected query/key), `values`
    (`(B, [H,] Tk, dv)` as attended), `abs_values`, `gamma_v`, `key_dim`,
    and `out_kernel` (`(H, dv, out)`, `MultiHeadAttention` only).
    """
    f = np.float64
    q, k, v = (np.asarray(a, f) for a in (q, k, v))
    get = lambda name: np.asarray(to_np(getattr(layer, name)), f)  # noqa: E731
    if kind == "MultiplicativeAttention":
        score = kwargs["score"]
        values, abs_values, gamma_v = v, np.abs(v), 0.0
        if score == "general":
            kernel = get("kernel")
            projected, abs_projected = q @ kernel, np.abs(q) @ np.abs(kernel)
            gamma_qk = (q.shape[-1] + 3) * 1.0
        else:
            projected, abs_projected, gamma_qk = q, np.abs(q), 1.0
        scale = 1.0 / math.sqrt(k.shape[-1]) if score == "scaled_dot" else 1.0
        scores = scale * projected @ k.swapaxes(-1, -2)
        abs_scores = scale * abs_projected @ np.abs(k).swapaxes(-1, -2)
        return {
            "scores": scores,
            "abs_scores": abs_scores,
            "gamma_qk": gamma_qk,
            "values": values,
            "abs_values": abs_values,
            "gamma_v": gamma_v,
            "key_dim": k.shape[-1],
            "out_kernel": None,
        }
    if kind == "AdditiveAttention":
        wq, wk, attention_v = get("query_kernel"), get("key_kernel"), get("attention_v")
        bias = get("bias")
        hidden = (q @ wq)[:, :, None] + (k @ wk)[:, None] + bias
        abs_hidden = (
            (np.abs(q) @ np.abs(wq))[:, :, None]
            + (np.abs(k) @ np.abs(wk))[:, None]
            + np.abs(bias)
        )
        scores = np.tanh(hidden) @ attention_v
        # |d tanh| <= 1: a hidden unit off by gamma |h| moves the logit by
        # |v_u| gamma |h_u|; `abs_scores` carries sum_u |v_u| |h_u| (+ |v|).
        abs_scores = abs_hidden @ np.abs(attention_v) + np.abs(attention_v).sum()
        return {
            "scores": scores,
            "abs_scores": abs_scores,
            "gamma_qk": (max(q.shape[-1], k.shape[-1]) + 3) * 1.0,
            "values": v,
            "abs_values": np.abs(v),
            "gamma_v": 0.0,
            "key_dim": 0,
            "out_kernel": None,
        }
    # MultiHeadAttention, use_bias=False.
    heads = kwargs["num_heads"]
    groups = heads // (kwargs.get("num_key_value_heads") or heads)
    wq, wk, wv = get("query_kernel"), get("key_kernel"), get("value_kernel")
    qh = np.einsum("btd,dhk->bhtk", q, wq)
    kh = np.repeat(np.einsum("btd,dhk->bhtk", k, wk), groups, axis=1)
    vh = np.repeat(np.einsum("btd,dhk->bhtk", v, wv), groups, axis=1)
    abs_qh = np.einsum("btd,dhk->bhtk", np.abs(q), np.abs(wq))
    abs_kh = np.repeat(np.einsum("btd,dhk->bhtk", np.abs(k), np.abs(wk)), groups, 1)
    abs_vh = np.repeat(np.einsum("btd,dhk->bhtk", np.abs(v), np.abs(wv)), groups, 1)
    key_dim = kwargs["key_dim"]
    if kwargs["score"] == "general":
        kernel = get("score_kernel")  # (H, kd, kd)
        qh, abs_qh = qh @ kernel, abs_qh @ np.abs(kernel)
        scale, gamma_qk = 1.0, (q.shape[-1] + key_dim + 4) * 1.0
    else:
        scale, gamma_qk = 1.0 / math.sqrt(key_dim), (q.shape[-1] + 3) * 1.0
    scores = scale * qh @ kh.swapaxes(-1, -2)
    abs_scores = scale * abs_qh @ abs_kh.swapaxes(-1, -2)
    if kwargs.get("position_embedding") == "alibi":  # exact, float32
        slopes = np.asarray(alibi_slopes(heads), f)[None, :, None, None]
        distance = np.abs(np.arange(q.shape[1])[:, None] - np.arange(k.shape[1]))
        scores = scores - slopes * distance
    return {
        "scores": scores,
        "abs_scores": abs_scores,
        "gamma_qk": gamma_qk,
        "values": vh,
        "abs_values": abs_vh,
        "gamma_v": (v.shape[-1] + 3) * 1.0,
        "key_dim": key_dim,
        "out_kernel": get("output_kernel"),
    }


def _masked_softmax(scores, visible):
    shifted = np.where(visible, scores, -np.inf)
    top = np.max(shifted, -1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    exp = np.where(visible, np.exp(shifted - top), 0.0)
    total = exp.sum(-1, keepdims=True)
    return exp / np.where(total > 0, total, 1.0)


def _bounds(ref, visible, u):
    """Per-row logit error `D`, weights' and outputs' error bounds, near ties."""
    tk = ref["scores"].shape[-1]
    delta = ref["abs_scores"] * (2 * ref["gamma_qk"] * u + (ref["key_dim"] + 2) * u)
    delta = np.where(visible, delta, 0.0).max(-1)  # (..., Tq)
    scores = np.where(visible, ref["scores"], -np.inf)
    ordered = np.sort(scores, axis=-1)
    gap = ordered[..., -1] - (ordered[..., -2] if tk > 1 else -np.inf)
    gap = np.where(np.isfinite(gap), gap, np.inf)  # one visible key: no tie
    near_tie = (gap <= 2 * delta) & (delta > 0.05)
    weights = _masked_softmax(ref["scores"], visible)
    growth = np.expm1(np.minimum(2 * delta, 700.0))[..., None]  # (..., Tq, 1)
    values, abs_values = ref["values"], ref["abs_values"]
    top = np.argmax(scores, axis=-1)  # (..., Tq)
    v_top = np.take_along_axis(values, top[..., None], axis=-2)  # (..., Tq, dv)
    spread = np.abs(
        values[..., None, :, :] - v_top[..., :, None, :]
    )  # (.., Tq, Tk, dv)
    not_top = np.arange(tk) != top[..., None]
    softmax_error = growth * np.einsum("...qk,...qkd->...qd", weights * not_top, spread)
    mixing = np.einsum("...qk,...kd->...qd", weights, abs_values)
    output_error = (
        softmax_error
        + ((tk + 3) * u + ref["gamma_v"] * u) * mixing
        + u * np.abs(np.einsum("...qk,...kd->...qd", weights, values))
    )
    weights_error = weights * growth + (tk + 2) * u * weights + u
    output = np.einsum("...qk,...kd->...qd", weights, values)
    kernel = ref["out_kernel"]
    if kernel is not None:  # (B, H, Tq, dv) -> (B, Tq, out)
        carried = np.einsum("bhqd,hdo->bqo", output_error, np.abs(kernel))
        size = kernel.shape[0] * kernel.shape[1]
        own = (
            (size + 3) * u * np.einsum("bhqd,hdo->bqo", np.abs(output), np.abs(kernel))
        )
        output_error = carried + own
        output = np.einsum("bhqd,hdo->bqo", output, kernel)
    return output, weights, 2 * output_error, 2 * weights_error, near_tie


def _layer(data, kind):
    if kind == "MultiplicativeAttention":
        score = data.draw(
            st.sampled_from(("dot", "scaled_dot", "general")), label="score"
        )
        return {"score": score}
    if kind == "AdditiveAttention":
        return {"units": data.draw(st.sampled_from((2, 5)), label="units")}
    heads = data.draw(st.sampled_from((1, 2)), label="num_heads")
    return {
        "num_heads": heads,
        "key_dim": data.draw(st.sampled_from((2, 4)), label="key_dim"),
        "num_key_value_heads": data.draw(
            st.sampled_from((None, 1) if heads > 1 else (None,)), label="kv"
        ),
        "score": data.draw(st.sampled_from(("scaled_dot", "general")), label="score"),
        "position_embedding": data.draw(st.sampled_from((None, "alibi")), label="pos"),
        "use_bias": False,
    }


@examples(suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_low_precision_stays_close_to_float32(data):
    policy = data.draw(st.sampled_from(POLICIES), label="policy")
    global_policy = data.draw(st.booleans(), label="as the global policy")
    kind = data.draw(
        st.sampled_from(
            ("MultiplicativeAttention", "MultiHeadAttention", "AdditiveAttention")
        ),
        label="layer",
    )
    kwargs = _layer(data, kind)
    batch = data.draw(st.sampled_from((1, 2)), label="batch")
    length_q = data.draw(st.sampled_from(SMALL_LENGTHS), label="Tq")
    length_k = data.draw(st.sampled_from(SMALL_LENGTHS), label="Tk")
    dim_q = data.draw(features, label="query features")
    dim_k = (
        dim_q
        if kwargs.get("score") in ("dot", "scaled_dot")
        and kind != ("MultiHeadAttention")
        else data.draw(features, label="key features")
    )
    dim_v = data.draw(features, label="value features")
    magnitude = data.draw(st.sampled_from(MAGNITUDES), label="largest logit")
    weights_path = data.draw(st.booleans(), label="return_attention_scores")
    masked = data.draw(st.booleans(), label="value_mask")
    seed = data.draw(seeds, label="seed")
    cls = getattr(ka, kind)
    u = EPS[policy.split("_")[-1]] / 2
    with example_scope(seed) as rng:
        q = rng.normal(size=(batch, length_q, dim_q))
        k = rng.normal(size=(batch, length_k, dim_k))
        v = rng.normal(size=(batch, length_k, dim_v)).astype("float32")
        mask = (
            rng.random((batch, length_k)) < 0.7
            if masked
            else np.ones((batch, length_k), bool)
        )
        reference = cls(**kwargs, **init(), dtype="float32")

        def call(fn, q, k, v):
            result = fn(q, v, k, value_mask=mask, return_attention_scores=weights_path)
            return result if weights_path else (result, None)

        build(reference, call, q.astype("float32"), k.astype("float32"), v)
        # Scale queries and keys for the largest logit (additive: inputs).
        unit = _reference(kind, kwargs, reference, q, k, v)
        top = np.max(np.abs(unit["scores"]))
        factor = (
            magnitude**0.5 / 10.0
            if kind == "AdditiveAttention"
            else math.sqrt(magnitude / max(top, 1e-6))
        )
        q, k = (q * factor).astype("float32"), (k * factor).astype("float32")
        ref = _reference(kind, kwargs, reference, q, k, v)
        visible = mask[:, None, :]
        if kind == "MultiHeadAttention":
            visible = visible[:, None]
        visible = np.broadcast_to(visible, ref["scores"].shape)
        want_out, want_w, out_tol, w_tol, near_tie = _bounds(ref, visible, u)
        assume(not near_tie.any())
        # The float32 layer is within the same bound at u = 2**-24 of the
        # float64 NumPy reference (which checks the reference too); the
        # dtype's tolerance against float32 is the sum of both bounds.
        _, _, out_tol32, w_tol32, _ = _bounds(ref, visible, 2.0**-24)
        out_tol, w_tol = out_tol + out_tol32, w_tol + w_tol32
        f32_out, f32_w = forward(reference, call)(q, k, v)
        assert np.all(np.abs(f32_out - want_out) <= out_tol32 + 1e-6), "reference"
        if weights_path:
            assert np.all(np.abs(f32_w - want_w) <= w_tol32 + 1e-6), "reference"

        previous = keras.config.dtype_policy()
        try:
            if global_policy:
                keras.config.set_dtype_policy(policy)
                layer = cls(**kwargs, **init())
            else:
                layer = cls(**kwargs, **init(), dtype=policy)
            build(layer, call, q, k, v)
        finally:
            keras.config.set_dtype_policy(previous)
        layer.set_weights(reference.get_weights())
        # XLA on CPU lacks float16/bfloat16 x -> float32 dots, which JAX's
        # fused attention asks for: the low-precision layer runs eagerly here,
        # and `test_low_precision_attention_compiles_with_xla` checks the
        # compiled case.
        out, w = forward(layer, call, mode="eager")(q, k, v)
        what = f"{kind}({kwargs}) under {policy}, logits up to {magnitude:g}"
        out = out.astype("float64")
        assert_finite(out, f"{what}: output")
        error = np.abs(out - f32_out)
        worst = np.unravel_index(np.argmax(error - out_tol), error.shape)
        assert np.all(error <= out_tol), (
            f"{what}: output off by {error[worst]:.3g} at {worst}, bound "
            f"{out_tol[worst]:.3g} (u={u:g})"
        )
        if weights_path:
            w = w.astype("float64")
            assert_finite(w, f"{what}: weights")
            error = np.abs(w - f32_w)
            worst = np.unravel_index(np.argmax(error - w_tol), error.shape)
            assert np.all(error <= w_tol), (
                f"{what}: weights off by {error[worst]:.3g} at {worst}, bound "
                f"{w_tol[worst]:.3g}"
            )


@examples(0.3)
@given(data=st.data())
def test_low_precision_attention_compiles_with_xla(data):
    """What `model.fit` does on JAX (and TensorFlow with `jit_compile=True`).

    The one property that compiles on purpose: XLA on CPU lacks some
    low-precision dots (measured with JAX 0.10: `jax.nn.dot_product_attention`
    on float16 fails under `jax.jit` with "The precision 'F16_F16_F32' is not
    supported by dot_general on CPU", and so does `model.fit` of
    `keras.layers.MultiHeadAttention` under `mixed_float16`; bfloat16 with
    one query fails with "ALG_DOT_BF16_BF16_F32").
    """
    if BACKEND == "torch":
        pytest.skip("torch: jit_compile means torch.compile, not XLA")
    policy = data.draw(st.sampled_from(POLICIES), label="policy")
    kind = data.draw(
        st.sampled_from(
            ("MultiplicativeAttention", "MultiHeadAttention", "SelfAttention")
        ),
        label="layer",
    )
    weights_path = data.draw(st.booleans(), label="return_attention_scores")
    seed = data.draw(seeds, label="seed")
    with example_scope(seed) as rng:
        length = data.draw(st.sampled_from((1, 5)), label="T")
        x = rng.normal(size=(2, length, 4)).astype("float32")
        make = {
            "MultiplicativeAttention": lambda **kw: ka.MultiplicativeAttention(
                **kw, **init()
            ),
            "MultiHeadAttention": lambda **kw: ka.MultiHeadAttention(
                2, 2, **kw, **init()
            ),
            "SelfAttention": lambda **kw: ka.SelfAttention(num_heads=2, **kw, **init()),
        }[kind]

        def call(fn, x):
            if kind == "SelfAttention":
                result = fn(x, return_attention_scores=weights_path)
            else:
                result = fn(x, x, return_attention_scores=weights_path)
            return result if weights_path else (result, None)

        reference = build(make(dtype="float32"), call, x)
        layer = build(make(dtype=policy), call, x)
        layer.set_weights(reference.get_weights())
        want = forward(reference, call, mode="eager")(x)[0]
        got = forward(layer, call, mode="xla")(x)[0].astype("float64")
        assert_finite(got, f"{kind} under {policy}, compiled")
        # O(1) logits and values: by the bound of the module docstring a few
        # tens of u at these sizes; 0.1 is 25 u for bfloat16 (u = 2**-8)
        # and 200 u for float16.
        np.testing.assert_allclose(got, want, atol=0.1, rtol=0.1)
