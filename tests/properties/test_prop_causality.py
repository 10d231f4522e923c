"""Property 1: causal attention never looks ahead, on every dispatch path.

For a causal self-attention over `x`, output `i` may depend on `x_j` only for
the keys `j` that query `i` may see (`j <= i`, and within the window when
there is one). So replacing `x` at any set of positions `P` leaves every
output row `i` with no visible key in `P` (and `i` not in `P`) unchanged.
Two perturbations per example: every position after a drawn row `i0` (rows
`<= i0` must not move), and every position that row `i0` may not see (row
`i0` must not move; with a window this includes the far past).

The paths: the fused kernel (default call), explicit weights
(`return_attention_scores=True`, whose weights on invisible keys must also be
exactly 0), dropout in training (two calls are compared only after checking
that the same weights, seed and input give identical outputs), windows (small
`T`: a band mask; `T=128`: the blocked `O(T * w)` path), grouped key/value
heads, RoPE, ALiBi, and cached step-by-step decoding against the full pass.
"""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from strategies import (
    FEATURES,
    HEAD_DIMS,
    assert_close,
    band,
    batches,
    build,
    causal,
    example_scope,
    examples,
    features,
    forward,
    init,
    long_lengths,
    mha_band,
    mha_kwargs,
    normal,
    seeds,
    single_head_specs,
)

import keras_attention as ka
from keras_attention.core.windowed import use_blocked_window

PATHS = ("fused", "weights", "dropout")


def _runner(layer, call, x, path, seed):
    """`run(x) -> (output, weights | None)` for one dispatch path, as NumPy.

    Every path runs statelessly (`strategies.forward`); in the dropout path
    two calls with the same input therefore draw the same dropout mask
    (checked by the caller with `_check_deterministic`).
    """
    build(layer, call, x)
    return forward(layer, call, seed=seed if path == "dropout" else None)


def _check_causal(run, x, allowed, i0, rng, what):
    """Perturb what row `i0` may not see (and, separately, the future of `i0`).

    `allowed`: `(T, T)` boolean, `allowed[i, j]` = query `i` may see key `j`.
    `run(x)` returns `(output, weights)`; weights `(batch, [heads,] T, T)`
    or `None`.
    """
    length = x.shape[1]
    output, weights = run(x)
    if weights is not None:
        hidden = np.broadcast_to(~allowed, weights.shape)
        np.testing.assert_array_equal(
            weights[hidden], 0.0, err_msg=f"{what}: weight on an invisible key"
        )
    future = np.arange(length) > i0
    invisible = ~allowed[i0]
    invisible[i0] = False
    for name, perturbed in (("future", future), ("invisible to i0", invisible)):
        if not perturbed.any():
            continue
        y = np.array(x, copy=True)
        y[:, perturbed] = normal(rng, y[:, perturbed].shape, scale=10.0)
        rows = ~perturbed & ~(allowed[:, perturbed].any(axis=1))
        assert rows[i0]
        new_output, new_weights = run(y)
        assert_close(
            new_output[:, rows],
            output[:, rows],
            f"{what}: perturbing the {name} positions moved rows "
            f"{np.flatnonzero(rows)}",
        )
        if weights is not None:
            assert_close(
                new_weights[..., rows, :],
                weights[..., rows, :],
                f"{what}: perturbing the {name} positions changed their weights",
            )


def _check_deterministic(run, x, what):
    np.testing.assert_array_equal(
        run(x)[0], run(x)[0], err_msg=f"{what}: dropout is not reproducible"
    )


@examples()
@given(data=st.data())
def test_multi_head_attention_is_causal_on_every_path(data):
    batch = data.draw(batches, label="batch")
    length = data.draw(long_lengths, label="T")
    dim = data.draw(features, label="features")
    kwargs = data.draw(mha_kwargs(), label="MultiHeadAttention kwargs")
    path = data.draw(st.sampled_from(PATHS), label="path")
    i0 = data.draw(st.integers(0, length - 1), label="row i0")
    seed = data.draw(seeds, label="seed")
    with example_scope(seed) as rng:
        if path == "dropout":
            kwargs = {**kwargs, "dropout": 0.5}
        layer = ka.MultiHeadAttention(**kwargs, **init())
        x = normal(rng, (batch, length, dim))
        scores = path != "fused"
        training = path == "dropout"

        def call(fn, x):
            result = fn(
                x,
                x,
                use_causal_mask=True,
                return_attention_scores=scores,
                training=training,
            )
            return result if scores else (result, None)

        run = _runner(layer, call, x, path, seed)
        if training:
            _check_deterministic(run, x, "MultiHeadAttention")
        allowed = mha_band(kwargs, length, length, True)
        _check_causal(run, x, allowed, i0, rng, f"MultiHeadAttention({kwargs}) {path}")


@examples()
@given(data=st.data())
def test_self_attention_is_causal(data):
    batch = data.draw(batches, label="batch")
    length = data.draw(long_lengths, label="T")
    dim = data.draw(features, label="features")
    score = data.draw(
        st.sampled_from(
            ("scaled_dot", "additive", "concat", "dot", "general", "multiplicative")
        ),
        label="score",
    )
    window = data.draw(st.sampled_from((None, 1, 3)), label="window")
    kwargs = {"score": score, "window": window, "causal": True}
    if score == "scaled_dot":
        kwargs["num_heads"] = data.draw(st.sampled_from((1, 2)), label="num_heads")
        kwargs["key_dim"] = data.draw(st.sampled_from(HEAD_DIMS), label="key_dim")
        kwargs["position_embedding"] = data.draw(
            st.sampled_from((None, "rope", "alibi")), label="position"
        )
    path = data.draw(st.sampled_from(PATHS), label="path")
    i0 = data.draw(st.integers(0, length - 1), label="row i0")
    seed = data.draw(seeds, label="seed")
    with example_scope(seed) as rng:
        if path == "dropout":
            kwargs = {**kwargs, "dropout": 0.5}
        layer = ka.SelfAttention(**kwargs, **init())
        x = normal(rng, (batch, length, dim))
        scores = path != "fused"
        training = path == "dropout"

        def call(fn, x):
            result = fn(x, return_attention_scores=scores, training=training)
            return result if scores else (result, None)

        run = _runner(layer, call, x, path, seed)
        if training:
            _check_deterministic(run, x, "SelfAttention")
        allowed = mha_band({"window": window}, length, length, True)
        _check_causal(run, x, allowed, i0, rng, f"SelfAttention({kwargs}) {path}")


@examples()
@given(data=st.data())
def test_single_head_causal_mask_hides_later_keys(data):
    batch = data.draw(batches, label="batch")
    length_q = data.draw(long_lengths, label="Tq")
    length_k = data.draw(long_lengths, label="Tk")
    spec = data.draw(single_head_specs(length_k), label="layer")
    dim_q = data.draw(features, label="query features")
    dim_k = (
        dim_q if spec.needs_equal_dims else data.draw(features, label="key features")
    )
    dim_v = data.draw(features, label="value features")
    scores = data.draw(st.booleans(), label="return_attention_scores")
    i0 = data.draw(st.integers(0, min(length_q, length_k) - 1), label="row i0")
    seed = data.draw(seeds, label="seed")
    with example_scope(seed) as rng:
        layer = spec.make()
        q = normal(rng, (batch, length_q, dim_q))
        k = normal(rng, (batch, length_k, dim_k))
        v = normal(rng, (batch, length_k, dim_v))

        def call(fn, q, k, v):
            result = fn(q, v, k, use_causal_mask=True, return_attention_scores=scores)
            return result if scores else (result, None)

        build(layer, call, q, k, v)
        run = forward(layer, call)
        output, weights = run(q, k, v)
        visible = causal(length_q, length_k)
        if weights is not None:
            np.testing.assert_array_equal(weights[:, ~visible], 0.0)
        later = np.arange(length_k) > i0
        if not later.any():
            return
        k2, v2 = np.array(k), np.array(v)
        k2[:, later] = normal(rng, k2[:, later].shape, 10.0)
        v2[:, later] = normal(rng, v2[:, later].shape, 10.0)
        new_output, new_weights = run(q, k2, v2)
        assert_close(new_output[:, : i0 + 1], output[:, : i0 + 1], f"{spec}")
        if weights is not None:
            assert_close(new_weights[:, : i0 + 1], weights[:, : i0 + 1], f"{spec}")


BLOCKED_LENGTH = 128  # >= 4 * max(window, 32): the blocked causal path


@examples(0.5)
@given(data=st.data())
def test_blocked_sliding_window_is_causal_and_local(data):
    window = data.draw(st.sampled_from((1, 3, 8, 32)), label="window")
    kwargs = data.draw(
        mha_kwargs(scores=("scaled_dot",), windows=(window,), heads=(1, 2)),
        label="MultiHeadAttention kwargs",
    )
    dropout = data.draw(st.booleans(), label="dropout")
    padded = data.draw(st.booleans(), label="padding masks")
    i0 = data.draw(st.integers(0, BLOCKED_LENGTH - 1), label="row i0")
    seed = data.draw(seeds, label="seed")
    length, batch = BLOCKED_LENGTH, 2
    assert use_blocked_window(length, length, window, causal=True, same_length=True)
    with example_scope(seed) as rng:
        if dropout:
            kwargs = {**kwargs, "dropout": 0.5}
        layer = ka.MultiHeadAttention(**kwargs, **init())
        x = normal(rng, (batch, length, FEATURES[0]))
        mask = None
        if padded:
            mask = rng.random((batch, length)) < 0.8
            mask[:, i0] = True  # the row checked is a real token

        def call(fn, x):
            return (
                fn(
                    x,
                    x,
                    query_mask=mask,
                    value_mask=mask,
                    use_causal_mask=True,
                    training=dropout,
                ),
                None,
            )

        run = _runner(layer, call, x, "dropout" if dropout else "fused", seed)
        if dropout:
            _check_deterministic(run, x, "blocked window")
        allowed = band(length, length, window, True)
        _check_causal(run, x, allowed, i0, rng, f"blocked MultiHeadAttention({kwargs})")


def _full_and_steps(layer, x):
    def full_call(fn, x):
        return fn(x, x, use_causal_mask=True)

    build(layer, full_call, x)
    return forward(layer, full_call)(x)


def _segments(data, length):
    cuts = data.draw(
        st.sets(st.integers(1, length - 1)) if length > 1 else st.just(set()),
        label="segment starts",
    )
    bounds = [0, *sorted(cuts), length]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


@examples()
@given(data=st.data())
def test_cached_decoding_equals_the_full_causal_pass(data):
    batch = data.draw(batches, label="batch")
    length = data.draw(long_lengths, label="T")
    dim = data.draw(features, label="features")
    kwargs = data.draw(
        mha_kwargs(value_dims=(None,)), label="MultiHeadAttention kwargs"
    )
    segments = _segments(data, length)
    extra = data.draw(st.sampled_from((0, 2)), label="unused cache slots")
    seed = data.draw(seeds, label="seed")
    with example_scope(seed) as rng:
        layer = ka.MultiHeadAttention(**kwargs, **init())
        x = normal(rng, (batch, length, dim))
        full = _full_and_steps(layer, x)
        kv_heads = kwargs.get("num_key_value_heads") or kwargs["num_heads"]
        cache = np.zeros(
            (batch, 2, length + extra, kv_heads, kwargs["key_dim"]), "float32"
        )

        def step_call(fn, part, cache, index):
            return fn(part, part, cache=cache, cache_update_index=index)

        step = forward(layer, step_call)
        steps = []
        for start, stop in segments:
            out, cache = step(x[:, start:stop], cache, np.int32(start))
            steps.append(out)
        assert_close(
            np.concatenate(steps, axis=1),
            full,
            f"MultiHeadAttention({kwargs}) cached in segments {segments}",
            rtol=1e-5,
            atol=1e-5,
        )


def _block(data, with_encoder):
    heads = data.draw(st.sampled_from((1, 2)), label="num_heads")
    kv = data.draw(st.sampled_from([None] + ([1] if heads > 1 else [])), label="kv")
    return {
        "intermediate_dim": 4,
        "num_heads": heads,
        "key_dim": data.draw(st.sampled_from(HEAD_DIMS), label="key_dim"),
        "norm_first": data.draw(st.booleans(), label="norm_first"),
        "num_key_value_heads": kv,
        "window": data.draw(st.sampled_from((None, 2)), label="window"),
        "position_embedding": data.draw(
            st.sampled_from((None, "rope", "alibi")), label="position"
        ),
    }


@examples()
@given(data=st.data())
def test_transformer_blocks_are_causal(data):
    batch = data.draw(batches, label="batch")
    length = data.draw(long_lengths, label="T")
    dim = data.draw(features, label="hidden")
    kind = data.draw(
        st.sampled_from(("gpt", "decoder+encoder", "encoder")), label="block"
    )
    kwargs = _block(data, kind == "decoder+encoder")
    path = data.draw(st.sampled_from(PATHS), label="path")
    if kind == "encoder" and path == "weights":
        path = "fused"  # the encoder block does not return weights
    i0 = data.draw(st.integers(0, length - 1), label="row i0")
    seed = data.draw(seeds, label="seed")
    with example_scope(seed) as rng:
        if path == "dropout":
            kwargs = {**kwargs, "dropout": 0.5}
        x = normal(rng, (batch, length, dim))
        source = normal(rng, (batch, 3, FEATURES[0]))
        scores = path == "weights"
        training = path == "dropout"
        if kind == "encoder":
            layer = ka.TransformerEncoderBlock(**kwargs, **init())

            def call(fn, x):
                return fn(x, use_causal_mask=True, training=training), None

        else:
            layer = ka.TransformerDecoderBlock(**kwargs, **init())
            encoder = (source,) if kind == "decoder+encoder" else ()

            def call(fn, x):
                result = fn(
                    x, *encoder, return_attention_scores=scores, training=training
                )
                if not scores:
                    return result, None
                return result[0], result[1]["self_attention"]

        run = _runner(layer, call, x, path, seed)
        if training:
            _check_deterministic(run, x, kind)
        allowed = mha_band({"window": kwargs["window"]}, length, length, True)
        _check_causal(run, x, allowed, i0, rng, f"{kind} block({kwargs}) {path}")


@examples(0.5)
@given(data=st.data())
def test_cached_decoder_block_equals_the_full_pass(data):
    batch = data.draw(batches, label="batch")
    length = data.draw(long_lengths, label="T")
    dim = data.draw(features, label="hidden")
    with_encoder = data.draw(st.booleans(), label="with encoder")
    kwargs = _block(data, with_encoder)
    segments = _segments(data, length)
    seed = data.draw(seeds, label="seed")
    with example_scope(seed) as rng:
        layer = ka.TransformerDecoderBlock(**kwargs, **init())
        x = normal(rng, (batch, length, dim))
        encoder = (normal(rng, (batch, 3, FEATURES[0])),) if with_encoder else ()

        def full_call(fn, x, *encoder):
            return fn(x, *encoder)

        build(layer, full_call, x, *encoder)
        full = forward(layer, full_call)(x, *encoder)
        kv = kwargs["num_key_value_heads"] or kwargs["num_heads"]
        cache = np.zeros((batch, 2, length, kv, kwargs["key_dim"]), "float32")

        def step_call(fn, part, cache, index, *encoder):
            return fn(
                part,
                *encoder,
                self_attention_cache=cache,
                self_attention_cache_update_index=index,
            )

        step = forward(layer, step_call)
        steps = []
        for start, stop in segments:
            out, cache = step(x[:, start:stop], cache, np.int32(start), *encoder)
            steps.append(out)
        assert_close(
            np.concatenate(steps, axis=1),
            full,
            f"TransformerDecoderBlock({kwargs}) cached in segments {segments}",
            rtol=1e-5,
            atol=1e-5,
        )
