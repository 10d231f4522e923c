"""Properties 3 and 4: attention weights, and permutation symmetry.

3. The weights returned with `return_attention_scores=True` are >= 0, are
   exactly 0 on every key a query may not see (padding, `attention_mask`,
   causal mask, window), sum to 1 over the visible keys of every row that has
   one, and are all zeros (with a zero attention output) for rows that have
   none. Local-p's weights are softmax x Gaussian (Luong eq. 10, not
   renormalised): divided by the Gaussian they sum to 1.
4. Without positions (no causal mask, RoPE, ALiBi or window), self-attention
   is permutation equivariant: permuting the sequence (and the masks with
   it) permutes the outputs and the weights; cross-attention is invariant to
   a permutation of the keys and values (and their mask).
"""

import keras
import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from strategies import (
    HEAD_DIMS,
    assert_close,
    band,
    batches,
    bool_masks,
    build,
    causal,
    example_scope,
    examples,
    features,
    forward,
    init,
    lengths,
    mha_band,
    mha_kwargs,
    normal,
    seeds,
    single_head_specs,
)

import keras_attention as ka


def _check_distribution(weights, visible, what, gaussian=None):
    """`weights`/`visible`: `(..., Tq, Tk)`; `gaussian`: local-p's factor."""
    visible = np.broadcast_to(visible, weights.shape)
    assert np.all(weights >= 0), f"{what}: negative weights"
    np.testing.assert_array_equal(
        weights[~visible], 0.0, err_msg=f"{what}: weight on an invisible key"
    )
    if gaussian is not None:
        weights = weights / np.broadcast_to(gaussian, weights.shape)
        weights = np.where(visible, weights, 0.0)
    any_visible = visible.any(-1)
    totals = weights.sum(-1)
    assert_close(
        totals[any_visible], np.ones(any_visible.sum()), f"{what}: row sums", 1e-5, 1e-5
    )
    np.testing.assert_array_equal(
        weights[~any_visible], 0.0, err_msg=f"{what}: fully masked rows"
    )
    return any_visible


@examples()
@given(data=st.data())
def test_single_head_weights_are_distributions_over_visible_keys(data):
    batch = data.draw(batches, label="batch")
    length_q = data.draw(lengths, label="Tq")
    length_k = data.draw(lengths, label="Tk")
    spec = data.draw(single_head_specs(length_k), label="layer")
    dim_q = data.draw(features, label="query features")
    dim_k = dim_q if spec.needs_equal_dims else data.draw(features, label="key dim")
    dim_v = data.draw(features, label="value features")
    query_mask = data.draw(bool_masks((batch, length_q)), label="query_mask")
    value_mask = data.draw(bool_masks((batch, length_k)), label="value_mask")
    attention = data.draw(
        st.none() | bool_masks((batch, length_q, length_k)), label="attention_mask"
    )
    use_causal = data.draw(st.booleans(), label="use_causal_mask")
    seed = data.draw(seeds, label="seed")
    local = spec.cls is ka.LocalAttention
    predictive = local and spec.kwargs["mode"] == "predictive"
    with example_scope(seed) as rng:
        layer = spec.make()
        q = normal(rng, (batch, length_q, dim_q))
        k = normal(rng, (batch, length_k, dim_k))
        v = normal(rng, (batch, length_k, dim_v))
        extra = {"return_positions": True} if local else {}

        def call(fn, q, k, v):
            return fn(
                q,
                v,
                k,
                query_mask=query_mask,
                value_mask=value_mask,
                attention_mask=attention,
                use_causal_mask=use_causal,
                return_attention_scores=True,
                **extra,
            )

        build(layer, call, q, k, v)
        results = forward(layer, call)(q, k, v)
        output, weights = results[:2]
        visible = query_mask[:, :, None] & value_mask[:, None, :]
        if attention is not None:
            visible = visible & attention
        if use_causal:
            visible = visible & causal(length_q, length_k)
        gaussian = None
        if local:
            positions = results[2][..., None]  # (batch, Tq, 1)
            distance = np.arange(length_k)[None, None, :] - positions
            width = spec.kwargs["window_width"]
            visible = visible & (np.abs(distance) <= width)
            if predictive:
                gaussian = np.exp(-(distance**2) / (2 * (width / 2) ** 2))
        any_visible = _check_distribution(weights, visible, f"{spec}", gaussian)
        np.testing.assert_array_equal(output[~any_visible], 0.0)


@examples()
@given(data=st.data())
def test_multi_head_weights_are_distributions_over_visible_keys(data):
    batch = data.draw(batches, label="batch")
    length_q = data.draw(lengths, label="Tq")
    length_k = data.draw(lengths, label="Tk")
    dim = data.draw(features, label="features")
    kwargs = data.draw(mha_kwargs(), label="MultiHeadAttention kwargs")
    query_mask = data.draw(bool_masks((batch, length_q)), label="query_mask")
    value_mask = data.draw(bool_masks((batch, length_k)), label="value_mask")
    heads = data.draw(
        st.sampled_from((None, 1, kwargs["num_heads"])), label="mask heads"
    )
    attention = None
    if heads is not None:
        attention = data.draw(
            bool_masks((batch, heads, length_q, length_k)), label="attention_mask"
        )
    use_causal = data.draw(st.booleans(), label="use_causal_mask")
    dropout = data.draw(st.booleans(), label="dropout in training")
    seed = data.draw(seeds, label="seed")
    if dropout:
        kwargs = {**kwargs, "dropout": 0.5}
    with example_scope(seed) as rng:
        layer = ka.MultiHeadAttention(**kwargs, **init())
        q = normal(rng, (batch, length_q, dim))
        v = normal(rng, (batch, length_k, dim))

        def call(fn, q, v):
            return fn(
                q,
                v,
                query_mask=query_mask,
                value_mask=value_mask,
                attention_mask=attention,
                use_causal_mask=use_causal,
                return_attention_scores=True,
                training=dropout,
            )

        build(layer, call, q, v)
        _, weights = forward(layer, call, seed=seed)(q, v)
        visible = (query_mask[:, :, None] & value_mask[:, None, :])[:, None]
        visible = visible & mha_band(kwargs, length_q, length_k, use_causal)
        if attention is not None:
            visible = visible & attention
        what = f"MultiHeadAttention({kwargs})"
        visible = np.broadcast_to(visible, weights.shape)
        if not dropout:
            _check_distribution(weights, visible, what)
            return
        # Dropout zeroes weights and scales the kept ones by 1 / (1 - rate):
        # still >= 0, still exactly 0 on invisible keys and on empty rows.
        assert np.all(weights >= 0)
        np.testing.assert_array_equal(weights[~visible], 0.0, err_msg=what)
        kept = weights[visible & (weights > 0)] * (1 - 0.5)
        assert np.all(kept <= 1 + 1e-6), what


@examples()
@given(data=st.data())
def test_self_attention_weights_are_distributions_over_visible_keys(data):
    batch = data.draw(batches, label="batch")
    length = data.draw(lengths, label="T")
    dim = data.draw(features, label="features")
    score = data.draw(
        st.sampled_from(("scaled_dot", "additive", "dot", "general")), label="score"
    )
    window = data.draw(st.sampled_from((None, 1, 3)), label="window")
    use_causal = data.draw(st.booleans(), label="causal")
    mask = data.draw(bool_masks((batch, length)), label="mask")
    attention = data.draw(st.none() | bool_masks((batch, length, length)), label="attn")
    seed = data.draw(seeds, label="seed")
    kwargs = {"score": score, "window": window, "causal": use_causal}
    if score == "scaled_dot":
        kwargs["num_heads"] = data.draw(st.sampled_from((1, 2)), label="num_heads")
        kwargs["key_dim"] = data.draw(st.sampled_from(HEAD_DIMS), label="key_dim")
    with example_scope(seed) as rng:
        layer = ka.SelfAttention(**kwargs, **init())
        x = normal(rng, (batch, length, dim))

        def call(fn, x):
            return fn(
                x, mask=mask, attention_mask=attention, return_attention_scores=True
            )

        build(layer, call, x)
        _, weights = forward(layer, call)(x)
        visible = (mask[:, :, None] & mask[:, None, :])[:, None]
        visible = visible & mha_band({"window": window}, length, length, use_causal)
        if attention is not None:
            visible = visible & attention[:, None]
        _check_distribution(weights, visible, f"SelfAttention({kwargs})")


@examples(0.5)
@given(data=st.data())
def test_decoder_weights_are_distributions_over_visible_keys(data):
    batch = data.draw(batches, label="batch")
    length = data.draw(lengths, label="T")
    source = data.draw(lengths, label="source length")
    target_mask = data.draw(bool_masks((batch, length)), label="target mask")
    source_mask = data.draw(bool_masks((batch, source)), label="source mask")
    kind = data.draw(
        st.sampled_from(("TransformerDecoderBlock", "AttentionDecoder")), label="layer"
    )
    window = data.draw(st.sampled_from((None, 2)), label="window")
    seed = data.draw(seeds, label="seed")
    with example_scope(seed) as rng:
        x = normal(rng, (batch, length, 4))
        memory = normal(rng, (batch, source, 3))
        if kind == "TransformerDecoderBlock":
            layer = ka.TransformerDecoderBlock(4, 2, key_dim=2, window=window, **init())

            def call(fn, x, memory):
                return fn(
                    x,
                    memory,
                    decoder_padding_mask=target_mask,
                    encoder_padding_mask=source_mask,
                    return_attention_scores=True,
                )

            build(layer, call, x, memory)
            _, scores = forward(layer, call)(x, memory)
            own = (target_mask[:, :, None] & target_mask[:, None, :])[:, None]
            own = own & band(length, length, window or length, True)
            _check_distribution(scores["self_attention"], own, "self-attention")
            cross = (target_mask[:, :, None] & source_mask[:, None, :])[:, None]
            _check_distribution(scores["cross_attention"], cross, "cross-attention")
            return
        attention = data.draw(
            st.sampled_from(("additive", "general", "concat")), label="attention"
        )
        mechanism = (
            ka.AdditiveAttention(units=3, **init())
            if attention == "additive"
            else ka.MultiplicativeAttention(score=attention, **init())
        )
        style = data.draw(st.sampled_from(("luong", "bahdanau")), label="style")
        layer = ka.AttentionDecoder(
            keras.layers.GRUCell(
                4,
                **init(
                    "kernel_initializer", "recurrent_initializer", "bias_initializer"
                ),
            ),
            mechanism,
            style=style,
        )

        def call(fn, x, memory):
            return fn(
                x,
                memory,
                inputs_mask=target_mask,
                memory_mask=source_mask,
                return_attention_scores=True,
            )

        build(layer, call, x, memory)
        _, alignments = forward(layer, call)(x, memory)
        visible = target_mask[:, :, None] & source_mask[:, None, :]
        _check_distribution(alignments, visible, f"AttentionDecoder({attention})")


# ------------------------------------------------------------ permutation
def _permutation(data, length):
    return np.array(data.draw(st.permutations(range(length)), label="permutation"))


@examples()
@given(data=st.data())
def test_self_attention_without_positions_is_permutation_equivariant(data):
    batch = data.draw(batches, label="batch")
    length = data.draw(lengths, label="T")
    dim = data.draw(features, label="features")
    kind = data.draw(
        st.sampled_from(
            (
                "MultiHeadAttention",
                "SelfAttention",
                "AdditiveAttention",
                "MultiplicativeAttention",
                "TransformerEncoderBlock",
            )
        ),
        label="layer",
    )
    mask = data.draw(bool_masks((batch, length)), label="padding mask")
    attention = data.draw(st.none() | bool_masks((batch, length, length)), label="attn")
    perm = _permutation(data, length)
    seed = data.draw(seeds, label="seed")
    scores = kind != "TransformerEncoderBlock"
    with example_scope(seed) as rng:
        if kind == "MultiHeadAttention":
            kwargs = data.draw(
                mha_kwargs(positions=(None,), windows=(None,)), label="kwargs"
            )
            layer = ka.MultiHeadAttention(**kwargs, **init())
        elif kind == "SelfAttention":
            score = data.draw(
                st.sampled_from(("scaled_dot", "additive", "dot", "general")),
                label="score",
            )
            layer = ka.SelfAttention(score=score, **init())
        elif kind == "AdditiveAttention":
            layer = ka.AdditiveAttention(units=3, normalize=True, **init())
        elif kind == "MultiplicativeAttention":
            score = data.draw(
                st.sampled_from(("dot", "scaled_dot", "general", "concat")),
                label="score",
            )
            layer = ka.MultiplicativeAttention(score=score, use_scale=True, **init())
        else:
            layer = ka.TransformerEncoderBlock(4, 2, key_dim=2, **init())
        x = normal(rng, (batch, length, dim))

        def call(fn, x, mask, attention):
            if kind == "SelfAttention":
                return fn(
                    x, mask=mask, attention_mask=attention, return_attention_scores=True
                )
            if kind == "TransformerEncoderBlock":
                return fn(x, padding_mask=mask, attention_mask=attention)
            return fn(
                x,
                x,
                query_mask=mask,
                value_mask=mask,
                attention_mask=attention,
                return_attention_scores=True,
            )

        full = (
            attention
            if attention is not None
            else np.ones((batch, length, length), bool)
        )
        build(layer, call, x, mask, full)
        run = forward(layer, call)
        got = run(x[:, perm], mask[:, perm], full[:, perm][:, :, perm])
        want = run(x, mask, full)
        if not scores:
            got, want = (got, None), (want, None)
        assert_close(got[0], want[0][:, perm], f"{kind}: outputs", 1e-5, 1e-5)
        if scores:
            expected = want[1][..., perm, :][..., perm]
            assert_close(got[1], expected, f"{kind}: weights", 1e-5, 1e-5)


@examples()
@given(data=st.data())
def test_cross_attention_is_invariant_to_a_permutation_of_the_keys(data):
    batch = data.draw(batches, label="batch")
    length_q = data.draw(lengths, label="Tq")
    length_k = data.draw(lengths, label="Tk")
    kind = data.draw(
        st.sampled_from(("single-head", "MultiHeadAttention")), label="family"
    )
    dim_q = data.draw(features, label="query features")
    dim_v = data.draw(features, label="value features")
    value_mask = data.draw(bool_masks((batch, length_k)), label="value_mask")
    perm = _permutation(data, length_k)
    seed = data.draw(seeds, label="seed")
    if kind == "single-head":
        spec = data.draw(
            single_head_specs(
                length_k, scores=("additive", "dot", "general", "concat"), local=False
            ),
            label="layer",
        )
        make = spec.make
        dim_k = dim_q if spec.needs_equal_dims else data.draw(features, label="key dim")
    else:
        kwargs = data.draw(
            mha_kwargs(positions=(None,), windows=(None,)), label="kwargs"
        )

        def make():
            return ka.MultiHeadAttention(**kwargs, **init())

        dim_k = data.draw(features, label="key features")
    with example_scope(seed) as rng:
        layer = make()
        q = normal(rng, (batch, length_q, dim_q))
        k = normal(rng, (batch, length_k, dim_k))
        v = normal(rng, (batch, length_k, dim_v))

        def call(fn, q, k, v, mask):
            return fn(q, v, k, value_mask=mask, return_attention_scores=True)

        build(layer, call, q, k, v, value_mask)
        run = forward(layer, call)
        got = run(q, k[:, perm], v[:, perm], value_mask[:, perm])
        want = run(q, k, v, value_mask)
        assert_close(got[0], want[0], f"{kind}: outputs", 1e-5, 1e-5)
        assert_close(got[1], want[1][..., perm], f"{kind}: weights", 1e-5, 1e-5)
