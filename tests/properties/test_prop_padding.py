"""Property 2: padding is inert.

Whatever a masked position holds (NaN, +inf, -inf, 1e30), it never reaches an
unmasked output or a gradient: the outputs, the returned weights, and the
gradients of a loss on the unmasked outputs with respect to every input and
every weight are finite and equal to those with zeros in the masked
positions. Keys are masked through `value_mask`, `key_mask`, a Keras mask
(`Embedding(mask_zero=True)`, `keras.layers.Masking`) or an
`attention_mask` whose columns for those keys are all False; queries through
`query_mask`. Covered: the explicit path (weights returned), the fused path,
query chunking, `LocalAttention`, the blocked sliding window (layer and
core), the Transformer blocks and the recurrent decoders' memory.

`0 * NaN` is NaN: a layer must replace what masked positions hold (before
any product), not rely on zero weights.
"""

import keras
import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st
from keras import ops
from strategies import (
    FEATURES,
    HEAD_DIMS,
    alibi_slopes_or_none,
    assert_close,
    assert_finite,
    assert_grads_equal,
    batches,
    bool_masks,
    build,
    example_scope,
    examples,
    features,
    gradients,
    init,
    lengths,
    mha_kwargs,
    normal,
    poison_positions,
    poisons,
    seeds,
    single_head_specs,
    weighted_sum,
    zero_positions,
)

import keras_attention as ka
from keras_attention.core.windowed import (
    reference_sliding_window_attention,
    sliding_window_attention,
    use_blocked_window,
)


def _check_inert(
    layer, call, clean, poisoned, what, rows=None, seed=None, weights=None
):
    """Outputs and gradients of `call` agree on clean and poisoned inputs.

    Args:
        layer: the layer (built here from `clean`).
        call: `call(fn, *arrays)` -> output or `(output, attention weights)`.
        clean, poisoned: tuples of float arrays (differentiated).
        rows: optional `(batch, T)` boolean, the output rows that must agree
            and that the loss reads (default: all).
        seed: reseed before every call (dropout).
        weights: optional `(clean, poisoned)` trainable weight lists (NumPy)
            for poison placed in a weight (an embedding's padding row).
    """
    clean_weights, poisoned_weights = weights or (None, None)
    build(layer, call, *clean)
    grad = gradients(layer, call, weighted_sum(rows), seed=seed)
    value_c, want, inputs_c, weights_c = grad(*clean, weights=clean_weights)
    value_p, got, inputs_p, weights_p = grad(*poisoned, weights=poisoned_weights)
    want, got = (
        [w] if not isinstance(w, (tuple, list)) else list(w) for w in (want, got)
    )
    select = (lambda x: x) if rows is None else (lambda x: x[rows])
    for name, g, w in zip(("output", "second output"), got, want, strict=False):
        if w is None:
            continue
        if name == "second output" and rows is not None and g.ndim == 4:
            g, w = np.moveaxis(g, 1, 2), np.moveaxis(w, 1, 2)  # heads after Tq
        assert_finite(select(g), f"{what}: {name}")
        assert_close(select(g), select(w), f"{what}: {name} moved")
    assert_finite(value_p, f"{what}: loss")
    assert_close(value_p, value_c, f"{what}: loss", rtol=1e-5, atol=1e-5)
    assert_grads_equal(inputs_p, inputs_c, f"{what}: input gradients")
    names = [w.path for w in layer.trainable_variables]
    assert_grads_equal(weights_p, weights_c, f"{what}: weight gradients {names}")
    return want, got


def _padding(data, batch, length, label):
    padded = data.draw(bool_masks((batch, length)), label=label)
    assume(padded.any())
    return padded


# ----------------------------------------------------------- single head
KEY_ROUTES = ("value_mask", "key_mask", "attention_mask")


@examples()
@given(data=st.data())
def test_single_head_key_padding_is_inert(data):
    batch = data.draw(batches, label="batch")
    length_q = data.draw(lengths, label="Tq")
    length_k = data.draw(lengths, label="Tk")
    spec = data.draw(single_head_specs(length_k), label="layer")
    dim_q = data.draw(features, label="query features")
    separate_key = data.draw(st.booleans(), label="separate key")
    route = data.draw(st.sampled_from(KEY_ROUTES), label="mask route")
    if route == "key_mask":
        separate_key = True
    dim_v = data.draw(features, label="value features")
    if spec.needs_equal_dims:
        dim_k = dim_q
        if not separate_key:
            dim_v = dim_q
    else:
        dim_k = data.draw(features, label="key features") if separate_key else dim_v
    padded = _padding(data, batch, length_k, "padded keys")
    poison = data.draw(poisons, label="poison")
    all_features = data.draw(st.booleans(), label="poison every feature")
    scores = data.draw(st.booleans(), label="return_attention_scores")
    seed = data.draw(seeds, label="seed")
    masks = {}
    if route == "value_mask":
        masks["value_mask"] = ~padded
    elif route == "key_mask":
        masks["key_mask"] = ~padded
    else:
        pattern = data.draw(bool_masks((batch, length_q, length_k)), label="attention")
        masks["attention_mask"] = pattern & ~padded[:, None, :]
    with example_scope(seed) as rng:
        layer = spec.make()
        q = normal(rng, (batch, length_q, dim_q))
        v = zero_positions(normal(rng, (batch, length_k, dim_v)), padded)
        v_bad = poison_positions(v, padded, poison, rng, all_features)
        if separate_key:
            k = zero_positions(normal(rng, (batch, length_k, dim_k)), padded)
            k_bad = poison_positions(k, padded, poison, rng, all_features)

            def call(fn, q, k, v):
                return fn(q, v, k, return_attention_scores=scores, **masks)

            clean, poisoned = (q, k, v), (q, k_bad, v_bad)
        else:

            def call(fn, q, v):
                return fn(q, v, return_attention_scores=scores, **masks)

            clean, poisoned = (q, v), (q, v_bad)
        _check_inert(layer, call, clean, poisoned, f"{spec} via {route}")


@examples()
@given(data=st.data())
def test_single_head_query_padding_is_inert(data):
    batch = data.draw(batches, label="batch")
    length_q = data.draw(lengths, label="Tq")
    length_k = data.draw(lengths, label="Tk")
    spec = data.draw(single_head_specs(length_k), label="layer")
    dim = data.draw(features, label="features")
    padded = _padding(data, batch, length_q, "padded queries")
    value_mask = data.draw(bool_masks((batch, length_k)), label="value_mask")
    poison = data.draw(poisons, label="poison")
    scores = data.draw(st.booleans(), label="return_attention_scores")
    seed = data.draw(seeds, label="seed")
    with example_scope(seed) as rng:
        layer = spec.make()
        q = zero_positions(normal(rng, (batch, length_q, dim)), padded)
        q_bad = poison_positions(q, padded, poison, rng)
        v = normal(rng, (batch, length_k, dim))

        def call(fn, q, v):
            return fn(
                q,
                v,
                query_mask=~padded,
                value_mask=value_mask,
                return_attention_scores=scores,
            )

        _check_inert(layer, call, (q, v), (q_bad, v), f"{spec} query padding")


# ------------------------------------------------------------ multi head
@examples()
@given(data=st.data())
def test_multi_head_padding_is_inert(data):
    batch = data.draw(batches, label="batch")
    length = data.draw(lengths, label="T")
    dim = data.draw(features, label="features")
    kwargs = data.draw(mha_kwargs(), label="MultiHeadAttention kwargs")
    self_attention = data.draw(st.booleans(), label="self-attention (x, x)")
    route = data.draw(st.sampled_from(KEY_ROUTES), label="mask route")
    path = data.draw(st.sampled_from(("fused", "weights", "dropout")), label="path")
    causal = data.draw(st.booleans(), label="use_causal_mask")
    padded = _padding(data, batch, length, "padded positions")
    poison = data.draw(poisons, label="poison")
    all_features = data.draw(st.booleans(), label="poison every feature")
    seed = data.draw(seeds, label="seed")
    masks = {}
    if route == "value_mask":
        masks["value_mask"] = ~padded
    elif route == "key_mask":
        masks["key_mask"] = ~padded
    else:
        heads = data.draw(st.sampled_from((1, kwargs["num_heads"])), label="mask heads")
        pattern = data.draw(
            bool_masks((batch, heads, length, length)), label="attention"
        )
        masks["attention_mask"] = pattern & ~padded[:, None, None, :]
    if self_attention:  # padded positions are padded queries too
        masks["query_mask"] = ~padded
    if path == "dropout":
        kwargs = {**kwargs, "dropout": 0.5}
    scores, training = path == "weights", path == "dropout"
    with example_scope(seed) as rng:
        layer = ka.MultiHeadAttention(**kwargs, **init())
        x = zero_positions(normal(rng, (batch, length, dim)), padded)
        x_bad = poison_positions(x, padded, poison, rng, all_features)
        if self_attention:
            if route == "key_mask":

                def call(fn, x):
                    return fn(
                        x,
                        x,
                        x,
                        use_causal_mask=causal,
                        return_attention_scores=scores,
                        training=training,
                        **masks,
                    )

            else:

                def call(fn, x):
                    return fn(
                        x,
                        x,
                        use_causal_mask=causal,
                        return_attention_scores=scores,
                        training=training,
                        **masks,
                    )

            clean, poisoned = (x,), (x_bad,)
        else:
            q = normal(rng, (batch, length, FEATURES[-1]))
            k = zero_positions(normal(rng, (batch, length, dim)), padded)
            k_bad = poison_positions(k, padded, poison, rng, all_features)

            def call(fn, q, k, v):
                return fn(
                    q,
                    v,
                    k,
                    use_causal_mask=causal,
                    return_attention_scores=scores,
                    training=training,
                    **masks,
                )

            clean, poisoned = (q, k, x), (q, k_bad, x_bad)
        _check_inert(
            layer,
            call,
            clean,
            poisoned,
            f"MultiHeadAttention({kwargs}) {path} via {route}",
            seed=seed if training else None,
        )


SELF_SCORES = ("scaled_dot", "additive", "dot", "general")


@examples()
@given(data=st.data())
def test_self_attention_padding_is_inert(data):
    batch = data.draw(batches, label="batch")
    length = data.draw(lengths, label="T")
    dim = data.draw(features, label="features")
    score = data.draw(st.sampled_from(SELF_SCORES), label="score")
    kwargs = {
        "score": score,
        "window": data.draw(st.sampled_from((None, 2)), label="window"),
        "causal": data.draw(st.booleans(), label="causal"),
    }
    if score == "scaled_dot":
        kwargs["num_heads"] = data.draw(st.sampled_from((1, 2)), label="num_heads")
        kwargs["key_dim"] = data.draw(st.sampled_from(HEAD_DIMS), label="key_dim")
    route = data.draw(st.sampled_from(("mask", "attention_mask")), label="route")
    padded = _padding(data, batch, length, "padded positions")
    poison = data.draw(poisons, label="poison")
    scores = data.draw(st.booleans(), label="return_attention_scores")
    seed = data.draw(seeds, label="seed")
    if route == "mask":
        masks = {"mask": ~padded}
    else:  # padded steps: no query sees them, they see nothing
        pattern = data.draw(bool_masks((batch, length, length)), label="attention")
        masks = {"attention_mask": pattern & ~padded[:, None, :] & ~padded[:, :, None]}
    with example_scope(seed) as rng:
        layer = ka.SelfAttention(**kwargs, **init())
        x = zero_positions(normal(rng, (batch, length, dim)), padded)
        x_bad = poison_positions(x, padded, poison, rng)

        def call(fn, x):
            return fn(x, return_attention_scores=scores, **masks)

        _check_inert(
            layer, call, (x,), (x_bad,), f"SelfAttention({kwargs}) via {route}"
        )


# ------------------------------------------------------------ Keras masks
class _Poison(keras.layers.Layer):
    """`[x, fill] -> where(mask, x, fill)`, keeping `x`'s Keras mask."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        x, fill = inputs
        return ops.where(mask[0][..., None], x, fill)

    def compute_mask(self, inputs, mask=None):
        return mask[0]


def _keras_mask_layer(data, dim):
    kind = data.draw(
        st.sampled_from(
            (
                "MultiHeadAttention",
                "SelfAttention",
                "AdditiveAttention",
                "MultiplicativeAttention",
                "TransformerEncoderBlock",
                "TransformerDecoderBlock",
            )
        ),
        label="layer",
    )
    if kind == "MultiHeadAttention":
        kwargs = data.draw(mha_kwargs(), label="kwargs")
        return kind, ka.MultiHeadAttention(**kwargs, **init()), True
    if kind == "SelfAttention":
        score = data.draw(st.sampled_from(SELF_SCORES), label="score")
        return kind, ka.SelfAttention(score=score, **init()), False
    if kind == "AdditiveAttention":
        return kind, ka.AdditiveAttention(units=3, **init()), True
    if kind == "MultiplicativeAttention":
        score = data.draw(
            st.sampled_from(("dot", "scaled_dot", "general", "concat")), label="score"
        )
        return kind, ka.MultiplicativeAttention(score=score, **init()), True
    block = {"intermediate_dim": 4, "num_heads": 2, "key_dim": 2}
    if kind == "TransformerEncoderBlock":
        return kind, ka.TransformerEncoderBlock(**block, **init()), False
    return kind, ka.TransformerDecoderBlock(**block, **init()), False


@examples(0.5)
@given(data=st.data())
def test_keras_mask_padding_is_inert(data):
    batch = data.draw(batches, label="batch")
    length = data.draw(lengths, label="T")
    dim = data.draw(features, label="features")
    source = data.draw(st.sampled_from(("Embedding", "Masking")), label="Keras mask")
    padded = _padding(data, batch, length, "padded steps")
    poison = data.draw(poisons, label="poison")
    seed = data.draw(seeds, label="seed")
    with example_scope(seed) as rng:
        kind, layer, two_inputs = _keras_mask_layer(data, dim)
        if source == "Embedding":
            tokens_in = keras.Input((length,), dtype="int32")
            hidden = keras.layers.Embedding(
                7, dim, mask_zero=True, **init("embeddings_initializer")
            )(tokens_in)
            inputs = [tokens_in]
        else:
            x_in, fill_in = keras.Input((length, dim)), keras.Input((length, dim))
            hidden = _Poison()([keras.layers.Masking(0.0)(x_in), fill_in])
            inputs = [x_in, fill_in]
        outputs = layer(hidden, hidden) if two_inputs else layer(hidden)
        model = keras.Model(inputs, outputs)
        real = ~padded
        if source == "Embedding":
            tokens = np.where(real, rng.integers(1, 7, size=padded.shape), 0)
            weights = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
            table = [
                i
                for i, w in enumerate(model.trainable_weights)
                if "embedding" in w.path
            ]
            assert len(table) == 1
            bad = [np.array(w, copy=True) for w in weights]
            weights[table[0]][0] = 0.0
            bad[table[0]][0] = poison

            def call(fn):
                return fn(tokens.astype("int32"))

            _check_inert(
                model,
                call,
                (),
                (),
                f"{kind} after Embedding(mask_zero=True)",
                rows=real,
                weights=(weights, bad),
            )
        else:
            x = zero_positions(normal(rng, (batch, length, dim)), padded)
            x[real] += 0.5  # no real step is all zeros (Masking would mask it)
            fill = np.zeros_like(x)
            fill_bad = poison_positions(fill, padded, poison, rng)

            def call(fn, x, fill):
                return fn([x, fill])

            _check_inert(
                model,
                call,
                (x, fill),
                (x, fill_bad),
                f"{kind} after Masking",
                rows=real,
            )


# --------------------------------------------------------- sliding window
@examples(0.5)
@given(data=st.data())
def test_blocked_window_padding_is_inert(data):
    causal = data.draw(st.booleans(), label="causal")
    length = 128 if causal else 192
    window = data.draw(st.sampled_from((1, 3, 32)), label="window")
    kwargs = data.draw(
        mha_kwargs(scores=("scaled_dot",), windows=(window,), heads=(1, 2)),
        label="MultiHeadAttention kwargs",
    )
    dropout = data.draw(st.booleans(), label="dropout")
    poison = data.draw(poisons, label="poison")
    fraction = data.draw(st.sampled_from((0.1, 0.5, 1.0)), label="padded fraction")
    seed = data.draw(seeds, label="seed")
    assert use_blocked_window(length, length, window, causal=causal, same_length=True)
    if dropout:
        kwargs = {**kwargs, "dropout": 0.5}
    with example_scope(seed) as rng:
        padded = rng.random((2, length)) < fraction
        layer = ka.MultiHeadAttention(**kwargs, **init())
        x = zero_positions(normal(rng, (2, length, FEATURES[0])), padded)
        x_bad = poison_positions(x, padded, poison, rng)

        def call(fn, x):
            return fn(
                x,
                x,
                query_mask=~padded,
                value_mask=~padded,
                use_causal_mask=causal,
                training=dropout,
            )

        _check_inert(
            layer,
            call,
            (x,),
            (x_bad,),
            f"blocked MultiHeadAttention({kwargs}), causal={causal}",
            seed=seed if dropout else None,
        )


class _Core(keras.layers.Layer):
    """A weightless layer around a core function (for the shared checks)."""

    def __init__(self, fn, **kwargs):
        super().__init__(**kwargs)
        self.fn = fn

    def call(self, *args):
        return self.fn(*args)

    def compute_output_spec(self, query, key, value):
        spec = keras.KerasTensor(query.shape[:-1] + value.shape[-1:], "float32")
        return spec, spec


@examples()
@given(data=st.data())
def test_core_sliding_window_padding_is_inert_and_matches_the_reference(data):
    batch = data.draw(batches, label="batch")
    heads = data.draw(st.sampled_from((1, 2)), label="heads")
    length = data.draw(lengths, label="T")
    window = data.draw(st.sampled_from((1, 2, 4)), label="window")
    causal = data.draw(st.booleans(), label="causal")
    block_size = data.draw(st.sampled_from((None, 1, 2, 4)), label="block_size")
    slopes = data.draw(alibi_slopes_or_none(heads), label="alibi_slopes")
    padded_q = data.draw(bool_masks((batch, length)), label="padded queries")
    padded_k = data.draw(bool_masks((batch, length)), label="padded keys")
    assume(padded_q.any() or padded_k.any())
    poison = data.draw(poisons, label="poison")
    seed = data.draw(seeds, label="seed")
    options = {"window": window, "causal": causal, "alibi_slopes": slopes}
    masks = {"query_mask": ~padded_q, "key_mask": ~padded_k}

    def both(q, k, v):
        blocked = sliding_window_attention(
            q, k, v, block_size=block_size, **options, **masks
        )
        return blocked, reference_sliding_window_attention(q, k, v, **options, **masks)

    with example_scope(seed) as rng:
        # Drawn as (B, T, H, d) so that padding is per (batch, step); the
        # core takes (B, H, T, d).
        q = zero_positions(normal(rng, (batch, length, heads, 4)), padded_q)
        k = zero_positions(normal(rng, (batch, length, heads, 4)), padded_k)
        v = zero_positions(normal(rng, (batch, length, heads, 3)), padded_k)
        poisoned = tuple(
            poison_positions(x, p, poison, rng).swapaxes(1, 2).copy()
            for x, p in ((q, padded_q), (k, padded_k), (v, padded_k))
        )
        q, k, v = (x.swapaxes(1, 2).copy() for x in (q, k, v))

        def call(fn, q, k, v):
            return fn(q, k, v)

        # The reference (full attention with a band mask) rides along as the
        # second output: it must be inert too.
        (blocked, reference), _ = _check_inert(
            _Core(both),
            call,
            (q, k, v),
            poisoned,
            f"sliding_window_attention({options}, block_size={block_size})",
        )
        assert_close(blocked, reference, "blocked vs reference", rtol=1e-5, atol=1e-5)


# ------------------------------------------------------- Transformer blocks
def _block_kwargs(data):
    return {
        "intermediate_dim": 4,
        "num_heads": data.draw(st.sampled_from((1, 2)), label="num_heads"),
        "key_dim": data.draw(st.sampled_from(HEAD_DIMS), label="key_dim"),
        "norm_first": data.draw(st.booleans(), label="norm_first"),
        "window": data.draw(st.sampled_from((None, 2)), label="window"),
        "position_embedding": data.draw(
            st.sampled_from((None, "rope", "alibi")), label="position"
        ),
    }


@examples(0.5)
@given(data=st.data())
def test_decoder_block_encoder_padding_is_inert(data):
    """Poison in the padded steps of the encoder sequence (cross-attention keys)."""
    batch = data.draw(batches, label="batch")
    length = data.draw(lengths, label="T")
    dim = data.draw(features, label="hidden")
    kwargs = _block_kwargs(data)
    source_length = data.draw(lengths, label="source length")
    padded = _padding(data, batch, source_length, "padded source")
    decoder_mask = data.draw(bool_masks((batch, length)), label="decoder mask")
    poison = data.draw(poisons, label="poison")
    scores = data.draw(st.booleans(), label="return_attention_scores")
    seed = data.draw(seeds, label="seed")
    with example_scope(seed) as rng:
        layer = ka.TransformerDecoderBlock(**kwargs, **init())
        x = normal(rng, (batch, length, dim))
        e = zero_positions(normal(rng, (batch, source_length, FEATURES[0])), padded)
        e_bad = poison_positions(e, padded, poison, rng)

        def call(fn, x, e):
            out = fn(
                x,
                e,
                decoder_padding_mask=decoder_mask,
                encoder_padding_mask=~padded,
                return_attention_scores=scores,
            )
            return (out[0], out[1]["cross_attention"]) if scores else out

        _check_inert(layer, call, (x, e), (x, e_bad), f"decoder block({kwargs})")


@examples(0.5)
@given(data=st.data())
def test_transformer_block_padded_steps_are_inert(data):
    """Poison in the block's own padded steps (queries and keys at once)."""
    batch = data.draw(batches, label="batch")
    length = data.draw(lengths, label="T")
    dim = data.draw(features, label="hidden")
    kind = data.draw(st.sampled_from(("encoder", "gpt")), label="block")
    kwargs = _block_kwargs(data)
    padded = _padding(data, batch, length, "padded steps")
    poison = data.draw(poisons, label="poison")
    scores = data.draw(st.booleans(), label="return_attention_scores")
    seed = data.draw(seeds, label="seed")
    with example_scope(seed) as rng:
        x = zero_positions(normal(rng, (batch, length, dim)), padded)
        x_bad = poison_positions(x, padded, poison, rng)
        if kind == "encoder":
            layer = ka.TransformerEncoderBlock(**kwargs, **init())

            def call(fn, x):
                return fn(x, padding_mask=~padded)

        else:
            layer = ka.TransformerDecoderBlock(**kwargs, **init())

            def call(fn, x):
                out = fn(
                    x, decoder_padding_mask=~padded, return_attention_scores=scores
                )
                return (out[0], out[1]["self_attention"]) if scores else out

        # Only the real steps' outputs are compared and read by the loss (a
        # padded step's own output carries its input through the residual
        # branch), but every gradient, of the inputs and of every weight
        # (the layer norms' and the feed-forward's included), must be finite
        # and equal to the clean one.
        _check_inert(layer, call, (x,), (x_bad,), f"{kind} block({kwargs})", ~padded)


# --------------------------------------------------------- recurrent memory
@examples(0.5)
@given(data=st.data())
def test_recurrent_decoder_memory_padding_is_inert(data):
    batch = data.draw(batches, label="batch")
    steps = data.draw(st.sampled_from((1, 3)), label="target steps")
    source = data.draw(lengths, label="source length")
    attention = data.draw(
        st.sampled_from(("additive", "dot", "general", "concat", "local")),
        label="attention",
    )
    style = data.draw(st.sampled_from(("luong", "bahdanau")), label="style")
    cell = data.draw(st.sampled_from(("LSTMCell", "GRUCell")), label="cell")
    attention_layer_size = data.draw(st.sampled_from((None, 3)), label="W_c size")
    route = data.draw(
        st.sampled_from(("AttentionDecoder", "AttentionWrapper")), label="api"
    )
    padded = _padding(data, batch, source, "padded memory")
    poison = data.draw(poisons, label="poison")
    seed = data.draw(seeds, label="seed")
    units = 4
    memory_dim = units if attention == "dot" else FEATURES[0]
    with example_scope(seed) as rng:
        mechanism = {
            "additive": lambda: ka.AdditiveAttention(units=3, **init()),
            "dot": lambda: ka.MultiplicativeAttention(score="dot", **init()),
            "general": lambda: ka.MultiplicativeAttention(score="general", **init()),
            "concat": lambda: ka.MultiplicativeAttention(score="concat", **init()),
            "local": lambda: ka.LocalAttention(
                window_width=1, mode="predictive", **init()
            ),
        }[attention]()
        options = {"style": style, "attention_layer_size": attention_layer_size}
        inputs = normal(rng, (batch, steps, 2))
        memory = zero_positions(normal(rng, (batch, source, memory_dim)), padded)
        memory_bad = poison_positions(memory, padded, poison, rng)
        what = f"{route}({cell}, {attention}, {options})"
        if route == "AttentionDecoder":
            layer = ka.AttentionDecoder(
                getattr(keras.layers, cell)(
                    units,
                    **init(
                        "kernel_initializer",
                        "recurrent_initializer",
                        "bias_initializer",
                    ),
                ),
                mechanism,
                **options,
            )

            def call(fn, inputs, memory):
                return fn(
                    inputs, memory, memory_mask=~padded, return_attention_scores=True
                )

        else:
            wrapper = ka.AttentionWrapper(
                getattr(keras.layers, cell)(
                    units,
                    **init(
                        "kernel_initializer",
                        "recurrent_initializer",
                        "bias_initializer",
                    ),
                ),
                mechanism,
                alignment_history=True,
                **options,
            )
            layer = keras.layers.RNN(wrapper, return_sequences=True)

            def call(fn, inputs, memory):
                wrapper.setup_memory(memory, memory_mask=~padded)
                try:
                    initial = wrapper.get_initial_state(batch_size=batch)
                    return wrapper.split_outputs(fn(inputs, initial_state=initial))
                finally:
                    wrapper.clear_memory()

            wrapper.setup_memory(memory, memory_mask=~padded)
            try:
                layer.build(inputs.shape)
            finally:
                wrapper.clear_memory()
        _check_inert(layer, call, (inputs, memory), (inputs, memory_bad), what)
