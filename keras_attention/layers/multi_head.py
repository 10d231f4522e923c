"""Multi-head attention with grouped-query heads, windows, RoPE/ALiBi and a KV cache."""

import math

import keras
from keras import ops

from keras_attention.core import dispatch
from keras_attention.core.masking import (
    attention_mask_and_bias,
    combine_masks,
    inert_inputs,
)
from keras_attention.core.positions import POSITION_SCHEMES, get_position_scheme
from keras_attention.core.scores import additive_score, general_score, resolve_score
from keras_attention.core.validation import (
    check_choice,
    check_divides,
    check_feature_size,
    check_features_known,
    check_kv_cache,
    check_positive_float,
    check_positive_int,
    check_query_value_key,
    check_rate,
)
from keras_attention.layers import keras_compat
from keras_attention.layers.base import AttentionLayer, pack

SCORES = ("scaled_dot", "additive", "general")
POSITIONS = (None, *POSITION_SCHEMES)


@keras.saving.register_keras_serializable(package="keras_attention")
class MultiHeadAttention(AttentionLayer):
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

    `keras_attention.core.dispatch` picks the kernel: the backend's fused
    `keras.ops.dot_product_attention` (flash attention on GPUs where Keras
    enables it) when nothing needs the explicit weights (scaled dot score,
    no weights returned, no active dropout, no ALiBi), except on JAX with a
    CPU, where the explicit form is faster; the explicit weights otherwise.
    `window=w` restricts each query to the `w` most recent keys (itself
    included) with a causal mask, or to keys within `w` steps on either
    side without; long self-attention then runs blockwise in `O(T * w)`
    (`keras_attention.core.windowed`; a fused windowed kernel on GPUs), and
    otherwise a band mask gives the same result.

    For incremental decoding pass `cache` (`(batch, 2, max_length,
    num_key_value_heads, key_dim)`, zeros to start) and
    `cache_update_index` (position of the first new step): the new keys and
    values are written at that position and the layer returns the updated
    cache. Query `i` then sees cached keys up to position
    `cache_update_index + i`. With `cache_update_index=None` the cache is
    read as is (cross-attention over precomputed encoder keys and values).

    It is a drop-in for Keras 3.15's `keras.layers.MultiHeadAttention`: every
    constructor and call argument of it is accepted with Keras' meaning
    (`output_shape`, `sliding_window`, `flash_attention`, `use_gate`, `seed`,
    `attention_axes` for the sequence axis only), and the weights have its
    shapes.

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
        output_shape: Keras' name of `output_dim` (an int or a 1-tuple).
        attention_axes: Keras' argument; only the sequence axis (`None`,
            `1`, `(1,)`) is supported.
        sliding_window: Keras' window: keys within `sliding_window - 1`
            steps on either side, cut by the causal mask (causal:
            `sliding_window=w` is `window=w`). Not with `window`.
        flash_attention: `None` (the dispatcher chooses), `False` (never the
            fused kernel) or `True` (as in Keras: no dropout and no
            returned weights).
        use_gate: gate the heads' outputs by `sigmoid(X_q W^G + b^G)` before
            the output projection (Keras' gated attention).
        seed: seed of the dropout on the weights.
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
        output_shape=None,
        attention_axes=None,
        sliding_window=None,
        flash_attention=None,
        use_gate=False,
        seed=None,
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
            self, "num_key_value_heads", num_key_value_heads, num_heads, "`num_heads`"
        )
        self.dropout = check_rate(self, "dropout", dropout)
        self.use_bias = bool(use_bias)
        self.output_dim = keras_compat.output_dim_from_shape(
            self,
            check_positive_int(self, "output_dim", output_dim, allow_none=True),
            output_shape,
        )
        self.score = score
        self._score = resolve_score(self, score, SCORES)
        self.window, self.sliding_window = keras_compat.check_window_arguments(
            self, window, sliding_window
        )
        self.position_embedding = check_choice(
            self, "position_embedding", position_embedding, POSITIONS
        )
        self._positions = get_position_scheme(position_embedding)
        if position_embedding == "rope" and key_dim % 2:
            raise ValueError(
                "MultiHeadAttention: `key_dim` must be even with "
                f"position_embedding='rope'; received key_dim={key_dim}."
            )
        self.rope_max_wavelength = check_positive_float(
            self, "rope_max_wavelength", rope_max_wavelength
        )
        keras_compat.check_attention_axes(self, attention_axes)
        self.flash_attention = keras_compat.check_flash_attention(
            self, flash_attention, self.dropout
        )
        self.use_gate = bool(use_gate)
        self.seed = seed
        self._init_weight_settings(
            kernel_initializer,
            bias_initializer,
            kernel_regularizer,
            bias_regularizer,
            kernel_constraint,
            bias_constraint,
        )
        self.supports_masking = True
        self._dropout_layer = keras.layers.Dropout(
            self.dropout, seed=seed, dtype="float32"
        )

    @property
    def _kv_heads(self):
        return self.num_key_value_heads or self.num_heads

    @property
    def _value_dim(self):
        return self.value_dim or self.key_dim

    def _projection(self, name, input_dim, heads, dim):
        kernel = self.add_kernel(f"{name}_kernel", (input_dim, heads, dim))
        bias = self.add_bias(f"{name}_bias", (heads, dim)) if self.use_bias else None
        return kernel, bias

    def build(self, query_shape, value_shape, key_shape=None):
        query_shape, value_shape, key_shape = self._check_shapes(
            query_shape, value_shape, key_shape
        )
        heads, kv_heads, value_dim = self.num_heads, self._kv_heads, self._value_dim
        self.query_kernel, self.query_bias = self._projection(
            "query", query_shape[-1], heads, self.key_dim
        )
        self.key_kernel, self.key_bias = self._projection(
            "key", key_shape[-1], kv_heads, self.key_dim
        )
        self.value_kernel, self.value_bias = self._projection(
            "value", value_shape[-1], kv_heads, value_dim
        )
        output_dim = self.output_dim or query_shape[-1]
        self.output_kernel = self.add_kernel(
            "output_kernel", (heads, value_dim, output_dim)
        )
        self.output_bias = (
            self.add_bias("output_bias", (output_dim,)) if self.use_bias else None
        )
        if self._score == "additive":
            self.score_v = self.add_kernel("score_v", (heads, self.key_dim))
        elif self._score == "general":
            self.score_kernel = self.add_kernel(
                "score_kernel", (heads, self.key_dim, self.key_dim)
            )
        if self.use_gate:  # after the others: older models keep their order
            self.gate_kernel, self.gate_bias = self._projection(
                "gate", query_shape[-1], heads, value_dim
            )
        self.built = True

    def _check_shapes(self, query_shape, value_shape, key_shape=None):
        shapes = check_query_value_key(self, query_shape, value_shape, key_shape)
        names = ("query", "value", "key")
        check_features_known(self, dict(zip(names, shapes, strict=True)))
        if self.built:
            kernels = (self.query_kernel, self.value_kernel, self.key_kernel)
            for arg, shape, kernel in zip(names, shapes, kernels, strict=True):
                check_feature_size(self, arg, shape, kernel.shape[0])
        return shapes

    def _check_call(self, query, value, key, masks, attention, cache, index):
        self._check_shapes(query.shape, value.shape, key.shape)
        key_length = value.shape[1] if cache is None else cache.shape[2]
        self.check_masks(
            query, value, key, masks, attention, self.num_heads, key_length
        )
        check_kv_cache(
            self, cache, index, query.shape[:2], self._kv_heads, self.key_dim
        )
        if cache is not None and self._value_dim != self.key_dim:
            raise ValueError(
                "MultiHeadAttention: a KV `cache` needs `value_dim` == `key_dim`; "
                f"received value_dim={self._value_dim}, key_dim={self.key_dim}."
            )

    def _project(self, x, name):
        """`(batch, T, dim)` -> heads-first `(batch, heads, T, head_dim)`."""
        x = ops.einsum("btd,dhk->bhtk", x, getattr(self, f"{name}_kernel"))
        bias = getattr(self, f"{name}_bias", None)
        return x if bias is None else x + ops.expand_dims(bias, 1)

    def _rotate(self, x, offset):
        if self._positions is None or self._positions.kind != "rotate":
            return x
        positions = ops.arange(ops.shape(x)[2]) + offset
        return self._positions.rotate(
            x, positions, self.rope_max_wavelength, sequence_axis=2
        )

    def _keys_and_values(self, key, value, cache, index):
        """Heads-first keys and values (the cache's, if any), the updated
        cache, and the position of the first query."""
        if cache is not None and index is None:  # precomputed (cross-attention)
            k, v = (ops.transpose(cache[:, i], (0, 2, 1, 3)) for i in (0, 1))
            return k, v, cache, 0
        offset = 0 if cache is None else index
        k = self._rotate(self._project(key, "key"), offset)
        v = self._project(value, "value")
        if cache is None:
            return k, v, None, 0
        # One update of the whole cache (eager backends copy it once).
        new = ops.cast(ops.stack([k, v], axis=1), cache.dtype)
        new = ops.transpose(new, (0, 1, 3, 2, 4))  # cache layout: (b, 2, T, h, d)
        cache = ops.slice_update(cache, [0, 0, offset, 0, 0], new)
        k, v = (ops.transpose(cache[:, i], (0, 2, 1, 3)) for i in (0, 1))
        return k, v, cache, offset

    def _score_fn(self):
        if self._score == "additive":
            v = ops.reshape(self.score_v, (self.num_heads, 1, 1, -1))
            return lambda q, k: additive_score(q, k, v)
        if self._score == "general":
            return lambda q, k: general_score(q, k, self.score_kernel)
        return None  # the scaled dot product, which the fused kernels compute

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
        same_length = query is value and key is value
        self._check_call(
            query,
            value,
            key,
            (query_mask, value_mask, key_mask),
            (attention_mask, attention_bias),
            cache,
            cache_update_index,
        )
        keras_compat.check_flash_call(
            self, self.flash_attention, return_attention_scores
        )
        attention_mask, bias = attention_mask_and_bias(attention_mask, attention_bias)
        if cache is None:
            query, value, key = inert_inputs(
                query, value, key, query_mask, value_mask, key_mask, attention_mask
            )
        elif cache_update_index is not None:
            # Cached steps attend to every written position (value masks are
            # not kept in the cache), so only padded queries are zeroed.
            query, value, key = inert_inputs(query, value, key, query_mask)
        k, v, cache, offset = self._keys_and_values(
            key, value, cache, cache_update_index
        )
        q = self._rotate(self._project(query, "query"), offset)
        if cache is not None:
            value_mask = key_mask = None
            # Keys past the written positions are not valid yet.
            use_causal_mask = use_causal_mask or cache_update_index is not None
        causal = bool(use_causal_mask)
        dropout = self.dropout > 0 and training
        output, weights = dispatch.attention(
            q,
            k,
            v,
            score_fn=self._score_fn(),
            scale=1.0 / math.sqrt(self.key_dim),
            query_mask=query_mask,
            key_mask=combine_masks(value_mask, key_mask),
            attention_mask=attention_mask,
            bias=bias,
            causal=causal,
            causal_offset=offset,
            band=self._band(causal),
            distance_bias=self._distance_bias(),
            dropout_fn=self._dropout_fn(training) if dropout else None,
            return_weights=return_attention_scores,
            same_length=same_length,
            allow_fused=self.flash_attention is not False,
        )
        return self._output(query, output, weights, return_attention_scores, cache)

    def _band(self, causal):
        if self.sliding_window is not None:
            return dispatch.keras_band(self.sliding_window, causal)
        return dispatch.window_band(self.window, causal)

    def _distance_bias(self):
        if self._positions is None or self._positions.kind != "bias":
            return None
        return self._positions.distance_bias(self.num_heads)

    def _dropout_fn(self, training):
        return lambda weights: self._dropout_layer(weights, training=training)

    def _output(self, query, output, weights, return_attention_scores, cache):
        if self.use_gate:
            output = output * ops.sigmoid(self._project(query, "gate"))
        output = ops.einsum("bhtv,hvo->bto", output, self.output_kernel)
        if self.output_bias is not None:
            output = output + self.output_bias
        results = [output]
        if return_attention_scores:
            results.append(ops.cast(weights, self.compute_dtype))
        if cache is not None:
            results.append(cache)
        return pack(results)

    def compute_output_shape(self, query_shape, value_shape, key_shape=None):
        query_shape, _, _ = self._check_shapes(query_shape, value_shape, key_shape)
        return tuple(query_shape[:-1]) + (self.output_dim or query_shape[-1],)

    def compute_output_spec(
        self, query, value, key=None, *, return_attention_scores=False, cache=None, **_
    ):
        shape = self.compute_output_shape(
            query.shape, value.shape, None if key is None else key.shape
        )
        extra, dtypes = [], []
        if return_attention_scores:
            key_length = value.shape[1] if cache is None else cache.shape[2]
            extra.append((query.shape[0], self.num_heads, query.shape[1], key_length))
            dtypes.append(self.compute_dtype)
        if cache is not None:
            extra.append(cache.shape)
            dtypes.append(cache.dtype)
        return self.output_specs(shape, *extra, dtypes=dtypes)

    def get_config(self):
        config = super().get_config()
        names = ("num_heads", "key_dim", "value_dim", "num_key_value_heads")
        names += ("dropout", "use_bias", "output_dim", "score", "window")
        names += ("position_embedding", "rope_max_wavelength", "sliding_window")
        names += ("flash_attention", "use_gate", "seed")
        config.update({name: getattr(self, name) for name in names})
        config.update(self._weight_settings_config())
        return config
