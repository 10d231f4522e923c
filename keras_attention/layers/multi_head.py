"""Multi-head attention with grouped-query heads, windows, RoPE/ALiBi and a KV cache."""

import math
import numbers

import keras
from keras import ops

from keras_attention.core.attend import attend, fused_attention
from keras_attention.core.fused_window import fused_sliding_window_attention
from keras_attention.core.masking import (
    band_mask,
    combine_masks,
    compute_attention_mask,
    inert_inputs,
    pairwise_4d,
    split_attention_bias,
)
from keras_attention.core.positions import alibi_bias, alibi_slopes, rotate_half
from keras_attention.core.scores import additive_score, general_score, scaled_dot_score
from keras_attention.core.validation import (
    ValidatedLayerMixin,
    check_attention_bias,
    check_attention_mask,
    check_choice,
    check_divides,
    check_feature_size,
    check_features_known,
    check_mask,
    check_positive_float,
    check_positive_int,
    check_query_value_key,
    check_rate,
    describe_shape,
)
from keras_attention.core.windowed import sliding_window_attention, use_blocked_window
from keras_attention.layers.weight_settings import WeightSettingsMixin

SCORES = ("scaled_dot", "additive", "general")
POSITIONS = (None, "rope", "alibi")


@keras.saving.register_keras_serializable(package="keras_attention")
class MultiHeadAttention(ValidatedLayerMixin, WeightSettingsMixin, keras.layers.Layer):
    r"""Multi-head attention (Vaswani et al., 2017) with grouped-query heads.

    Queries, keys and values are projected per head, each head attends, and
    the heads are concatenated and projected back:

    $$\mathrm{head}_h = \mathrm{softmax}\Big(\frac{(X_q W^Q_h)(X_k W^K_{g(h)})^\top}
    {\sqrt{d_k}} + B\Big) X_v W^V_{g(h)}, \qquad
    \mathrm{out} = [\mathrm{head}_1; \dots; \mathrm{head}_H] W^O,$$

    where `num_key_value_heads` key/value heads are shared by groups of
    query heads ($g(h)$; grouped-query attention, Ainslie et al. 2023; 1 is
    multi-query attention) and $B$ is the ALiBi bias when
    `position_embedding="alibi"` (with `"rope"`, queries and keys are rotated
    instead). `score="additive"` or `"general"` replaces the scaled dot
    product by $v_h^\top\tanh(q + k)$ or $q^\top W_h k$ per head.

    When nothing needs the explicit weights (`score="scaled_dot"`, no
    weights returned, no active dropout), the layer calls
    `keras.ops.dot_product_attention`, so each backend's fused kernel runs
    (flash attention on GPUs where Keras enables it).

    `window=w` restricts each query to a band of keys: the `w` most recent
    keys (itself included) with a causal mask, or keys within `w` steps on
    either side without. When queries and keys have the same length, the
    score is `"scaled_dot"`, no weights are returned, no `attention_mask` or
    `cache` is given and the blocked form scores at most half the pairs
    (`keras_attention.core.windowed.use_blocked_window`; roughly
    `T >= 4 * max(w, 32)` causal, `6 * max(w, 32)` symmetric), the layer
    runs `keras_attention.core.windowed.sliding_window_attention`, whose
    time and memory grow as `O(T * w)` rather than `O(T^2)` (RoPE, ALiBi,
    grouped heads, padding masks and dropout included). Otherwise it masks
    the full `(Tq, Tk)` scores with a band mask; both give the same result.
    On a GPU, without padding masks, ALiBi or active dropout, the blocked
    case first tries the backend's fused windowed kernel (JAX: cuDNN via
    `jax.nn.dot_product_attention`, causal windows in float16/bfloat16;
    torch: compiled `flex_attention`;
    `keras_attention.core.fused_window.fused_sliding_window_attention`)
    and keeps the blocked form as the equal fallback; on CPU and TensorFlow
    nothing changes.

    For incremental decoding pass `cache` (`(batch, 2, max_length,
    num_key_value_heads, key_dim)`, zeros to start) and
    `cache_update_index` (position of the first new step): the new keys and
    values are written at that position and the layer returns the updated
    cache. Query `i` then sees cached keys up to position
    `cache_update_index + i`. With `cache_update_index=None` the cache is
    read as is (cross-attention over precomputed encoder keys and values).

    Fully masked rows get zero attention (Keras gives them uniform weights).
    Padding is inert: whatever a masked key, value or query position holds
    (NaN, inf, garbage), it is replaced by zeros before scoring, so it never
    reaches an unmasked output or a gradient. Masks are boolean or integer
    0/1; a float mask raises a `TypeError` (an additive mask, 0 = attend and
    -inf = block, is an `attention_bias`).

    Args:
        num_heads: number of query heads.
        key_dim: size of each query/key head.
        value_dim: size of each value head (default `key_dim`).
        num_key_value_heads: number of key/value heads (default
            `num_heads`); must divide `num_heads`.
        dropout: dropout rate on the attention weights.
        use_bias: whether the projections have biases.
        output_dim: size of the output (default: the query's last axis).
        score: `"scaled_dot"`, `"additive"` or `"general"`.
        window: sliding-window size (`None`: unrestricted): the `window`
            most recent keys with `use_causal_mask=True`, else `window` keys
            on each side. Long self-attention runs it blockwise in
            `O(T * window)`, or through a fused GPU kernel (see above).
        position_embedding: `None`, `"rope"` or `"alibi"`.
        rope_max_wavelength: RoPE's longest wavelength.
        kernel_initializer: initializer of the projection kernels.
        bias_initializer: initializer of the projection biases.
        kernel_regularizer: regularizer of the kernels.
        bias_regularizer: regularizer of the biases.
        kernel_constraint: constraint of the kernels.
        bias_constraint: constraint of the biases.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        query: `(batch, Tq, dq)`.
        value: `(batch, Tv, dv)`.
        key: optional `(batch, Tv, dk)`; defaults to `value`.
        query_mask: optional boolean `(batch, Tq)`; filled from the query's
            Keras mask.
        value_mask: optional boolean `(batch, Tv)`; filled from the value's
            Keras mask.
        key_mask: optional boolean `(batch, Tv)`.
        attention_mask: optional boolean or 0/1 integer `(Tq, Tv)`,
            `(batch, Tq, Tv)` or `(batch, num_heads, Tq, Tv)`; `True` = may
            attend. Float masks are refused (see `attention_bias`).
        attention_bias: optional float, broadcastable to `(batch, num_heads,
            Tq, Tv)` (`(Tq, Tv)` and `(batch, Tq, Tv)` forms too), added to
            the scaled scores in float32 (on the fused path, through the
            kernel's bias): relative-position biases, or additive masks
            (`-inf` blocks a key like a `False` in `attention_mask`; a fully
            blocked row gets zeros). With `cache`, `Tv` is the cache length.
        use_causal_mask: query `i` attends to keys `<= i` (top-left aligned).
        return_attention_scores: also return the weights
            `(batch, num_heads, Tq, Tv)`.
        training: whether dropout is active.
        cache: optional KV cache `(batch, 2, max_length, kv_heads, key_dim)`.
        cache_update_index: where to write the new keys/values in `cache`.

    Returns:
        `output` `(batch, Tq, output_dim)`; then the weights if
        `return_attention_scores`; then the updated cache if `cache` is given.

    Example:

    ```python
    import numpy as np
    import keras_attention

    x = np.random.rand(2, 10, 32).astype("float32")
    mha = keras_attention.MultiHeadAttention(
        num_heads=4, key_dim=8, num_key_value_heads=2, position_embedding="rope"
    )
    y, weights = mha(x, x, use_causal_mask=True, return_attention_scores=True)
    assert y.shape == (2, 10, 32) and weights.shape == (2, 4, 10, 10)
    ```
    """

    def __init__(
        self,
        num_heads,
        key_dim,
        value_dim=None,
        num_key_value_heads=None,
        dropout=0.0,
        use_bias=True,
        output_dim=None,
        score="scaled_dot",
        window=None,
        position_embedding=None,
        rope_max_wavelength=10000,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = check_positive_int(self, "num_heads", num_heads)
        self.key_dim = check_positive_int(self, "key_dim", key_dim)
        self.value_dim = check_positive_int(
            self, "value_dim", value_dim, allow_none=True
        )
        self.num_key_value_heads = check_positive_int(
            self, "num_key_value_heads", num_key_value_heads, allow_none=True
        )
        check_divides(
            self,
            "num_key_value_heads",
            self.num_key_value_heads,
            num_heads,
            "`num_heads`",
        )
        self.dropout = check_rate(self, "dropout", dropout)
        self.use_bias = bool(use_bias)
        self.output_dim = check_positive_int(
            self, "output_dim", output_dim, allow_none=True
        )
        self.score = check_choice(self, "score", score, SCORES)
        self.window = check_positive_int(self, "window", window, allow_none=True)
        self.position_embedding = check_choice(
            self, "position_embedding", position_embedding, POSITIONS
        )
        if position_embedding == "rope" and key_dim % 2:
            raise ValueError(
                f"MultiHeadAttention: `key_dim` must be even with "
                f"position_embedding='rope'; "
                f"received key_dim={key_dim}."
            )
        self.rope_max_wavelength = check_positive_float(
            self, "rope_max_wavelength", rope_max_wavelength
        )
        self._init_weight_settings(
            kernel_initializer,
            bias_initializer,
            kernel_regularizer,
            bias_regularizer,
            kernel_constraint,
            bias_constraint,
        )
        self.supports_masking = True
        self._dropout_layer = keras.layers.Dropout(self.dropout, dtype="float32")

    @property
    def _kv_heads(self):
        return self.num_key_value_heads or self.num_heads

    @property
    def _value_dim(self):
        return self.value_dim or self.key_dim

    # ------------------------------------------------------------------ build
    def _projection(self, name, input_dim, heads, dim):
        kernel = self.add_kernel(f"{name}_kernel", (input_dim, heads, dim))
        bias = self.add_bias(f"{name}_bias", (heads, dim)) if self.use_bias else None
        return kernel, bias

    def build(self, query_shape, value_shape, key_shape=None):
        query_shape, value_shape, key_shape = self._check_shapes(
            query_shape, value_shape, key_shape
        )
        heads, kv_heads = self.num_heads, self._kv_heads
        self.query_kernel, self.query_bias = self._projection(
            "query", query_shape[-1], heads, self.key_dim
        )
        self.key_kernel, self.key_bias = self._projection(
            "key", key_shape[-1], kv_heads, self.key_dim
        )
        self.value_kernel, self.value_bias = self._projection(
            "value", value_shape[-1], kv_heads, self._value_dim
        )
        output_dim = self.output_dim or query_shape[-1]
        self.output_kernel = self.add_kernel(
            "output_kernel", (heads, self._value_dim, output_dim)
        )
        self.output_bias = (
            self.add_bias("output_bias", (output_dim,)) if self.use_bias else None
        )
        if self.score == "additive":
            self.score_v = self.add_kernel("score_v", (heads, self.key_dim))
        elif self.score == "general":
            self.score_kernel = self.add_kernel(
                "score_kernel", (heads, self.key_dim, self.key_dim)
            )
        self.built = True

    # ------------------------------------------------------------- validation
    def _check_shapes(self, query_shape, value_shape, key_shape=None):
        shapes = check_query_value_key(self, query_shape, value_shape, key_shape)
        query_shape, value_shape, key_shape = shapes
        check_features_known(
            self, {"query": query_shape, "value": value_shape, "key": key_shape}
        )
        if self.built:
            for arg, shape, kernel in (
                ("query", query_shape, self.query_kernel),
                ("value", value_shape, self.value_kernel),
                ("key", key_shape, self.key_kernel),
            ):
                check_feature_size(self, arg, shape, kernel.shape[0])
        return shapes

    def _check_masks(
        self, query, value, key, masks, attention_mask, attention_bias, cache
    ):
        batch, query_length, key_length = query.shape[0], query.shape[1], value.shape[1]
        for arg, mask, expected in (
            ("query_mask", masks[0], (batch, query_length)),
            ("value_mask", masks[1], (batch, key_length)),
            ("key_mask", masks[2], (batch, key.shape[1])),
        ):
            check_mask(self, arg, mask, expected)
        if cache is not None:  # the keys are the cache's
            key_length = cache.shape[2]
        for check, x in (
            (check_attention_mask, attention_mask),
            (check_attention_bias, attention_bias),
        ):
            check(self, x, batch, query_length, key_length, heads=self.num_heads)

    def _check_cache(self, cache, cache_update_index, query_batch, query_length):
        name = self.__class__.__name__
        if cache is None:
            if cache_update_index is not None:
                raise ValueError(
                    f"{name}: `cache_update_index` was given without a `cache`; "
                    f"received cache=None, cache_update_index={cache_update_index!r}."
                )
            return
        expected = (query_batch, 2, None, self._kv_heads, self.key_dim)
        shape = tuple(cache.shape)
        if len(shape) != 5 or any(
            e is not None and s is not None and s != e
            for s, e in zip(shape, expected, strict=True)
        ):
            raise ValueError(
                f"{name}: `cache` must have shape ({query_batch or 'batch'}, 2, "
                f"max_length, {self._kv_heads}, {self.key_dim}); received shape "
                f"{describe_shape(shape)}."
            )
        if self._value_dim != self.key_dim:
            raise ValueError(
                f"{name}: a KV `cache` needs `value_dim` == `key_dim`; received "
                f"value_dim={self._value_dim}, key_dim={self.key_dim}."
            )
        if isinstance(cache_update_index, numbers.Integral) and not isinstance(
            cache_update_index, bool
        ):
            max_length = shape[2]
            if cache_update_index < 0 or (
                max_length is not None
                and query_length is not None
                and cache_update_index + query_length > max_length
            ):
                raise ValueError(
                    f"{name}: `cache_update_index` must be in [0, max_length - "
                    f"Tq] = [0, {max_length} - {query_length}] so that the new "
                    f"steps fit in the cache; received "
                    f"cache_update_index={cache_update_index}."
                )

    # ------------------------------------------------------------------- call
    def _project(self, x, kernel, bias):
        x = ops.einsum("btd,dhk->bthk", x, kernel)
        return x if bias is None else x + bias

    def call(
        self,
        query,
        value,
        key=None,
        *,
        query_mask=None,
        value_mask=None,
        key_mask=None,
        attention_mask=None,
        attention_bias=None,
        use_causal_mask=False,
        return_attention_scores=False,
        training=None,
        cache=None,
        cache_update_index=None,
    ):
        if key is None:
            key, key_mask = value, None
        self_attention = query is value and key is value
        self._check_shapes(query.shape, value.shape, key.shape)
        self._check_masks(
            query,
            value,
            key,
            (query_mask, value_mask, key_mask),
            attention_mask,
            attention_bias,
            cache,
        )
        self._check_cache(cache, cache_update_index, *query.shape[:2])
        if attention_mask is not None:
            attention_mask = pairwise_4d(ops.cast(attention_mask, "bool"))
        if attention_bias is not None:
            attention_bias, keep = split_attention_bias(pairwise_4d(attention_bias))
            attention_mask = combine_masks(attention_mask, keep)
        if cache is None:
            query, value, key = inert_inputs(
                query, value, key, query_mask, value_mask, key_mask, attention_mask
            )
        elif cache_update_index is not None:
            # Cached steps attend to every written position (value masks are
            # not kept in the cache), so only padded queries are zeroed.
            query, value, key = inert_inputs(query, value, key, query_mask)
        q = self._project(query, self.query_kernel, self.query_bias)
        offset = 0
        if cache is not None and cache_update_index is None:
            k, v = cache[:, 0], cache[:, 1]
            value_mask = key_mask = None
        else:
            k = self._project(key, self.key_kernel, self.key_bias)
            v = self._project(value, self.value_kernel, self.value_bias)
            if cache is not None:
                offset = cache_update_index
        if self.position_embedding == "rope":
            q = rotate_half(
                q, ops.arange(ops.shape(q)[1]) + offset, self.rope_max_wavelength
            )
            if not (cache is not None and cache_update_index is None):
                k = rotate_half(
                    k, ops.arange(ops.shape(k)[1]) + offset, self.rope_max_wavelength
                )
        if cache is not None and cache_update_index is not None:
            # One update of the whole cache (eager backends copy it once),
            # then its key and value halves.
            new = ops.cast(ops.stack([k, v], axis=1), cache.dtype)
            cache = ops.slice_update(cache, [0, 0, offset, 0, 0], new)
            k, v = cache[:, 0], cache[:, 1]
            # Keys past the written positions are not valid yet.
            use_causal_mask = True
            value_mask = key_mask = None

        # A window over equal lengths runs blockwise in O(T * w) when nothing
        # needs the full (Tq, Tk) weights or mask and it is cheaper.
        if (
            self.window is not None
            and self.score == "scaled_dot"
            and cache is None
            and attention_mask is None
            and not return_attention_scores
            and use_blocked_window(
                q.shape[1],
                k.shape[1],
                self.window,
                causal=bool(use_causal_mask),
                same_length=self_attention,
            )
        ):
            output = self._blocked(
                q,
                k,
                v,
                bool(use_causal_mask),
                query_mask,
                combine_masks(value_mask, key_mask),
                training,
            )
            return self._output(output, None, False, cache)

        query_length, key_length = ops.shape(q)[1], ops.shape(k)[1]
        mask = compute_attention_mask(
            query_length,
            key_length,
            query_mask=query_mask,
            value_mask=value_mask,
            key_mask=key_mask,
            attention_mask=None,
            use_causal_mask=use_causal_mask,
            causal_offset=offset,
        )
        if mask is not None and len(mask.shape) == 3:
            mask = ops.expand_dims(mask, 1)
        mask = combine_masks(mask, attention_mask)
        if self.window is not None:
            left = self.window - 1 if use_causal_mask else self.window
            right = 0 if use_causal_mask else self.window
            mask = combine_masks(
                mask, band_mask(query_length, key_length, left, right, offset)
            )
        alibi = None
        if self.position_embedding == "alibi":
            alibi = alibi_bias(
                self.num_heads, query_length, key_length, offset, use_causal_mask
            )

        dropout_active = self.dropout > 0 and training
        if (
            self.score == "scaled_dot"
            and not return_attention_scores
            and not dropout_active
            and alibi is None
        ):
            causal_only = (
                use_causal_mask
                and cache is None
                and self.window is None
                and all(
                    m is None
                    for m in (query_mask, value_mask, key_mask, attention_mask)
                )
                and attention_bias is None
                and q.shape[1] is not None
                and q.shape[1] == k.shape[1]
            )
            if causal_only:  # let the kernel build the mask (flash-friendly)
                output = self._fused(q, k, v, None, is_causal=True)
            else:
                output = self._fused(q, k, v, mask, bias=attention_bias)
            weights = None
        else:
            bias = alibi
            if attention_bias is not None:
                bias = attention_bias if bias is None else bias + attention_bias
            output, weights = self._explicit(q, k, v, mask, bias, training)
        return self._output(output, weights, return_attention_scores, cache)

    def _output(self, output, weights, return_attention_scores, cache):
        output = ops.einsum("bthv,hvo->bto", output, self.output_kernel)
        if self.output_bias is not None:
            output = output + self.output_bias
        results = [output]
        if return_attention_scores:
            results.append(ops.cast(weights, self.compute_dtype))
        if cache is not None:
            results.append(cache)
        return results[0] if len(results) == 1 else tuple(results)

    def _blocked(self, q, k, v, causal, query_mask, key_mask, training):
        """Sliding-window attention on `(batch, T, heads, dim)` inputs.

        A backend's fused windowed kernel when one applies (GPU; no padding
        masks, ALiBi or active dropout), else the blocked `keras.ops` form.
        """
        scale = 1.0 / math.sqrt(self.key_dim)
        alibi = self.position_embedding == "alibi"
        dropout_active = self.dropout > 0 and training
        if query_mask is None and key_mask is None and not alibi and not dropout_active:
            output = fused_sliding_window_attention(
                q, k, v, self.window, causal=causal, scale=scale
            )
            if output is not None:
                return output
        groups = self.num_heads // self._kv_heads
        q, k, v = (ops.transpose(x, (0, 2, 1, 3)) for x in (q, k, v))
        if groups > 1:
            k = ops.repeat(k, groups, axis=1)
            v = ops.repeat(v, groups, axis=1)
        dropout_fn = None
        if self.dropout > 0:

            def dropout_fn(weights):
                return self._dropout_layer(weights, training=training)

        output = sliding_window_attention(
            q,
            k,
            v,
            self.window,
            causal=causal,
            scale=scale,
            query_mask=query_mask,
            key_mask=key_mask,
            alibi_slopes=alibi_slopes(self.num_heads) if alibi else None,
            dropout_fn=dropout_fn,
        )
        return ops.transpose(output, (0, 2, 1, 3))

    def _fused(self, q, k, v, mask, is_causal=False, bias=None):
        scale = 1.0 / math.sqrt(self.key_dim)
        if self._value_dim == self.key_dim:
            return fused_attention(
                q, k, v, mask=mask, scale=scale, is_causal=is_causal, bias=bias
            )
        size = max(self.key_dim, self._value_dim)

        def pad(x):
            return ops.pad(x, [[0, 0], [0, 0], [0, 0], [0, size - x.shape[-1]]])

        output = fused_attention(
            pad(q),
            pad(k),
            pad(v),
            mask=mask,
            scale=scale,
            is_causal=is_causal,
            bias=bias,
        )
        return output[..., : self._value_dim]

    def _explicit(self, q, k, v, mask, bias, training):
        groups = self.num_heads // self._kv_heads
        q = ops.transpose(q, (0, 2, 1, 3))  # (b, h, t, d)
        k = ops.transpose(k, (0, 2, 1, 3))
        v = ops.transpose(v, (0, 2, 1, 3))
        if groups > 1:
            k = ops.repeat(k, groups, axis=1)
            v = ops.repeat(v, groups, axis=1)

        def score_fn(query, key):
            if self.score == "scaled_dot":
                scores = scaled_dot_score(query, key, 1.0 / math.sqrt(self.key_dim))
            elif self.score == "additive":
                scores = additive_score(
                    query, key, ops.reshape(self.score_v, (self.num_heads, 1, 1, -1))
                )
            else:
                scores = general_score(query, key, self.score_kernel)
            return scores if bias is None else scores + bias

        def dropout_fn(weights):
            return self._dropout_layer(weights, training=training)

        output, weights = attend(
            q,
            k,
            v,
            score_fn,
            mask=mask,
            dropout_fn=dropout_fn if self.dropout > 0 else None,
            return_weights=True,
        )
        return ops.transpose(output, (0, 2, 1, 3)), weights

    # ------------------------------------------------------------------ Keras
    def compute_mask(self, inputs, previous_mask=None):
        return previous_mask

    def compute_output_shape(self, query_shape, value_shape, key_shape=None):
        query_shape, _, _ = self._check_shapes(query_shape, value_shape, key_shape)
        return tuple(query_shape[:-1]) + (self.output_dim or query_shape[-1],)

    def compute_output_spec(
        self,
        query,
        value,
        key=None,
        *,
        return_attention_scores=False,
        cache=None,
        **kwargs,
    ):
        shape = self.compute_output_shape(
            query.shape, value.shape, None if key is None else key.shape
        )
        results = [keras.KerasTensor(shape, dtype=self.compute_dtype)]
        if return_attention_scores:
            key_length = value.shape[1] if cache is None else cache.shape[2]
            results.append(
                keras.KerasTensor(
                    (query.shape[0], self.num_heads, query.shape[1], key_length),
                    dtype=self.compute_dtype,
                )
            )
        if cache is not None:
            results.append(keras.KerasTensor(cache.shape, dtype=cache.dtype))
        return results[0] if len(results) == 1 else tuple(results)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "key_dim": self.key_dim,
                "value_dim": self.value_dim,
                "num_key_value_heads": self.num_key_value_heads,
                "dropout": self.dropout,
                "use_bias": self.use_bias,
                "output_dim": self.output_dim,
                "score": self.score,
                "window": self.window,
                "position_embedding": self.position_embedding,
                "rope_max_wavelength": self.rope_max_wavelength,
                **self._weight_settings_config(),
            }
        )
        return config
