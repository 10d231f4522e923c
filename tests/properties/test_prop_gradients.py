"""Property 5: gradients agree with finite differences, for every score.

The core score functions (`keras_attention.core.scores`) and the layers
(every score of `AdditiveAttention`, `MultiplicativeAttention`,
`LocalAttention` and `MultiHeadAttention`, query chunking, RoPE, ALiBi,
grouped heads, masks) are differentiated by the backend, and each gradient
is checked along a random unit direction `u` of each input and each weight
separately: `g . u` against a central difference of `f = sum(c * output)`.

Why float32: the core casts its inputs to float32 before scoring (so that
mixed precision accumulates in float32), so float64 inputs are passed but
the function itself is float32 and a float64 step would be lost in
rounding. The difference is taken with a large step, `h = 0.05` (inputs and
weights are O(1) and every function here is smooth at that scale), and
Richardson-extrapolated from `h` and `h/2`, which cancels the `h^2` error
term (what remains is `O(h^4)`, ~1e-6 relative). Rounding in float32 then
contributes `~ eps32 * sum|c * output| / h`. The tolerance is
`1e-3 |g . u| + 2e-4 ||g|| + 16 eps32 sum|c| (|output| + 1) / h`: measured
over 640 directions per backend, the largest error was 3-4% of it, and a
gradient wrong by 1% along `u` fails in ~3 cases out of 4.
"""

import keras
import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st
from strategies import (
    batches,
    bool_masks,
    build,
    coefficients,
    example_scope,
    examples,
    features,
    forward,
    gradients,
    init,
    lengths,
    mha_kwargs,
    seeds,
    single_head_specs,
    to_np,
    value_and_grads,
    weighted_sum,
)

import keras_attention as ka
from keras_attention.core import scores as score_functions

STEP = 0.05
EPS32 = float(np.finfo(np.float32).eps)


def _loss64(output):
    """The loss of the layers' `weighted_sum()`, in float64, from float32 outputs."""
    output = np.asarray(output, "float64")
    return float(np.sum(output * coefficients(output.shape)))


def _check_directional(f, arrays, grads, rng, what, scale):
    """Check each gradient along a random unit direction of its array.

    `f(arrays) -> float` evaluates the function (and may reject the example
    with `assume`); `scale` is `sum|c| * (|output| + 1)`, the size of what
    float32 rounds.
    """
    for index, (array, grad) in enumerate(zip(arrays, grads, strict=True)):
        if array.size == 0:
            continue
        direction = rng.normal(size=array.shape)
        direction /= np.linalg.norm(direction)

        def at(step, index=index, array=array, direction=direction):
            moved = list(arrays)
            moved[index] = (array + step * direction).astype(array.dtype)
            return f(moved)

        coarse = (at(STEP) - at(-STEP)) / (2 * STEP)
        fine = (at(STEP / 2) - at(-STEP / 2)) / STEP
        estimate = (4 * fine - coarse) / 3
        exact = float(np.sum(np.asarray(grad, "float64") * direction))
        rounding = 16 * EPS32 * scale / STEP
        tolerance = 1e-3 * abs(exact) + 2e-4 * np.linalg.norm(grad) + rounding
        assert abs(estimate - exact) <= tolerance, (
            f"{what}: argument {index}: autodiff {exact:.6g}, finite "
            f"differences {estimate:.6g} (tolerance {tolerance:.3g})"
        )


# ------------------------------------------------------------------- core
CORE = ("dot", "scaled_dot", "general", "additive", "additive_projected", "location")


def _core_arrays(name, rng, batch, length_q, length_k, dim):
    f64 = np.float64
    q = rng.normal(size=(batch, length_q, dim)).astype(f64)
    k = rng.normal(size=(batch, length_k, dim)).astype(f64)
    if name in ("dot", "scaled_dot"):
        return [q, k]
    if name == "general":
        return [q, k, rng.normal(size=(dim, dim + 1)).astype(f64)[:, :dim]]
    if name == "additive":  # already projected query and key
        return [q, k, rng.normal(size=(dim,)).astype(f64), rng.normal(size=(dim,))]
    if name == "additive_projected":
        units = 3
        return [
            q,
            k,
            rng.normal(size=(units,)),
            rng.normal(size=(dim, units)) * 0.5,
            rng.normal(size=(dim, units)) * 0.5,
            rng.normal(size=(units,)),
        ]
    return [q, rng.normal(size=(dim, length_k + 2)) * 0.5]  # location


def _core_score(name, arrays, length_k):
    if name == "dot":
        return score_functions.dot_score(*arrays)
    if name == "scaled_dot":
        return score_functions.scaled_dot_score(*arrays)
    if name == "general":
        return score_functions.general_score(*arrays)
    if name == "additive":
        q, k, v, b = arrays
        return score_functions.additive_score(q, k, v, bias=b)
    if name == "additive_projected":
        q, k, v, wq, wk, b = arrays
        return score_functions.additive_score(q, k, v, wq, wk, b)
    q, kernel = arrays
    return score_functions.location_score(q, kernel, length_k)


@examples()
@given(data=st.data())
def test_core_score_gradients_match_finite_differences(data):
    name = data.draw(st.sampled_from(CORE), label="score")
    batch = data.draw(batches, label="batch")
    length_q = data.draw(lengths, label="Tq")
    length_k = data.draw(lengths, label="Tk")
    dim = data.draw(features, label="features")
    seed = data.draw(seeds, label="seed")
    with example_scope(seed) as rng:
        arrays = [
            np.asarray(a, "float64")
            for a in _core_arrays(name, rng, batch, length_q, length_k, dim)
        ]

        def loss(*tensors):
            scores = _core_score(name, list(tensors), length_k)
            assert keras.backend.standardize_dtype(scores.dtype) == "float32"
            return weighted_sum()(scores)

        _, grads = value_and_grads(loss, *arrays)
        for g in grads:
            assert np.all(np.isfinite(g)), name

        def f(moved):
            return _loss64(to_np(_core_score(name, moved, length_k)))

        base = to_np(_core_score(name, arrays, length_k))
        scale = float(np.sum(np.abs(coefficients(base.shape)) * (np.abs(base) + 1.0)))
        _check_directional(f, arrays, grads, rng, f"{name}_score", scale)


# ----------------------------------------------------------------- layers
@examples()
@given(data=st.data())
def test_layer_gradients_match_finite_differences(data):
    batch = data.draw(batches, label="batch")
    length_q = data.draw(lengths, label="Tq")
    length_k = data.draw(lengths, label="Tk")
    family = data.draw(st.sampled_from(("single-head", "multi-head")), label="family")
    dim_q = data.draw(features, label="query features")
    value_mask = data.draw(
        st.none() | bool_masks((batch, length_k)), label="value_mask"
    )
    use_causal = data.draw(st.booleans(), label="use_causal_mask")
    scores = data.draw(st.booleans(), label="return_attention_scores")
    seed = data.draw(seeds, label="seed")
    local = False
    if family == "single-head":
        spec = data.draw(single_head_specs(length_k), label="layer")
        dim_k = dim_q if spec.needs_equal_dims else data.draw(features, label="key dim")
        make, what = spec.make, repr(spec)
        local = spec.cls is ka.LocalAttention
    else:
        kwargs = data.draw(mha_kwargs(), label="MultiHeadAttention kwargs")
        dim_k = data.draw(features, label="key features")

        def make():
            return ka.MultiHeadAttention(**kwargs, **init())

        what = f"MultiHeadAttention({kwargs})"
    dim_v = data.draw(features, label="value features")
    with example_scope(seed) as rng:
        layer = make()
        arrays = [
            rng.normal(size=(batch, length_q, dim_q)).astype("float32"),
            rng.normal(size=(batch, length_k, dim_k)).astype("float32"),
            rng.normal(size=(batch, length_k, dim_v)).astype("float32"),
        ]
        extra = {"return_positions": True} if local else {}

        def call(fn, q, k, v):
            result = fn(
                q,
                v,
                k,
                value_mask=value_mask,
                use_causal_mask=use_causal,
                return_attention_scores=scores,
                **extra,
            )
            return result

        build(layer, call, *arrays)
        grad = gradients(layer, call, weighted_sum())
        _, outputs, input_grads, weight_grads = grad(*arrays)
        trainable = [to_np(v) for v in layer.trainable_variables]
        outputs = list(outputs) if isinstance(outputs, (tuple, list)) else [outputs]
        assert np.all(np.isfinite(outputs[0]))
        run = forward(layer, call)
        count = len(arrays)
        predictive = local and spec.kwargs["mode"] == "predictive"

        def window(positions):
            width = spec.kwargs["window_width"]
            distance = np.arange(length_k)[None, None] - positions[..., None]
            return np.abs(distance) <= width

        def f(moved):
            result = run(*moved[:count], weights=moved[count:])
            result = list(result) if isinstance(result, (tuple, list)) else [result]
            if predictive:
                # Local-p's window |s - p_t| <= D is a step function of p_t:
                # the differences must not move a key across its edge.
                assume(np.array_equal(window(result[-1]), window(outputs[-1])))
            return _loss64(result[0])

        base = outputs[0]
        scale = float(np.sum(np.abs(coefficients(base.shape)) * (np.abs(base) + 1.0)))
        _check_directional(
            f, arrays + trainable, input_grads + weight_grads, rng, what, scale
        )
