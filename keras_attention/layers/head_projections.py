"""The weights of multi-head attention, in Keras' shapes, and the projections.

`HeadProjections` is the part of `MultiHeadAttention` that owns its weights:
it creates them (the shapes, names and order of
`keras.layers.MultiHeadAttention`, then the score's and the gate's), checks
a call's inputs, masks and KV cache against them, projects inputs into heads-first
`(batch, heads, T, head_dim)` tensors, scores with the additive or general
score's weights, and projects the heads back. Attention itself, masks and
the cache are `MultiHeadAttention`'s.

A subclass sets `num_heads`, `key_dim`, `value_dim`, `num_key_value_heads`,
`output_dim`, `use_bias`, `use_gate`, `_score` (a canonical score name),
`_positions` (a `core.positions.PositionScheme` or `None`; RoPE rotates the
projected queries and keys) and `rope_max_wavelength`.
"""

from keras import ops

from keras_attention.core.scores import additive_score, general_score
from keras_attention.core.validation import (
    check_feature_size,
    check_features_known,
    check_kv_cache,
    check_query_value_key,
)
from keras_attention.layers.attention_layer import AttentionLayer, pack


class HeadProjections(AttentionLayer):
    """Query/key/value/output (and gate, score) weights of multi-head attention."""

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
        """Check a call's inputs, masks, `attention_mask`/`attention_bias`
        and KV cache against the heads and the weights."""
        self._check_shapes(query.shape, value.shape, key.shape)
        key_length = value.shape[1] if cache is None else cache.shape[2]
        self.check_masks(
            query, value, key, masks, attention, self.num_heads, key_length
        )
        check_kv_cache(
            self,
            cache,
            index,
            query.shape[:2],
            self._kv_heads,
            self.key_dim,
            value_dim=self._value_dim,
        )

    def _project(self, x, name):
        """`(batch, T, dim)` -> heads-first `(batch, heads, T, head_dim)`."""
        x = ops.einsum("btd,dhk->bhtk", x, getattr(self, f"{name}_kernel"))
        bias = getattr(self, f"{name}_bias", None)
        return x if bias is None else x + ops.expand_dims(bias, 1)

    def _rotate(self, x, offset):
        """Heads-first `x` rotated from position `offset` under RoPE."""
        if self._positions is None:
            return x
        return self._positions.rotate_from(x, offset, self.rope_max_wavelength)

    def _score_fn(self):
        """The score over heads-first queries and keys (`None`: scaled dot)."""
        if self._score == "additive":
            v = ops.reshape(self.score_v, (self.num_heads, 1, 1, -1))
            return lambda q, k: additive_score(q, k, v)
        if self._score == "general":
            return lambda q, k: general_score(q, k, self.score_kernel)
        return None  # the scaled dot product, which the fused kernels compute

    def _output(self, query, heads, *extras):
        """Gate and project heads-first `(batch, heads, Tq, dv)` outputs back
        to `(batch, Tq, output_dim)`, `pack`ed with `extras`."""
        if self.use_gate:
            heads = heads * ops.sigmoid(self._project(query, "gate"))
        output = ops.einsum("bhtv,hvo->bto", heads, self.output_kernel)
        if self.output_bias is not None:
            output = output + self.output_bias
        return pack([output, *extras])

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
