"""Multi-head attention with grouped-query heads, windows, RoPE/ALiBi and a KV cache."""

import math

import keras
from keras import ops

from keras_attention.core import dispatch, masking
from keras_attention.core.kv_cache import read_kv_cache, update_kv_cache
from keras_attention.core.positions import POSITION_SCHEMES, get_position_scheme
from keras_attention.core.scores import resolve_score
from keras_attention.core.validation import (
    check_choice,
    check_divides,
    check_positive_float,
    check_positive_int,
    check_rate,
    check_seed,
)
from keras_attention.layers import keras_compat
from keras_attention.layers.head_projections import HeadProjections

SCORES = ("scaled_dot", "additive", "general")
POSITIONS = (None, *POSITION_SCHEMES)
_CONFIG = ("num_heads", "key_dim", "value_dim", "num_key_value_heads", "dropout")
_CONFIG += ("use_bias", "output_dim", "score", "window", "position_embedding")
_CONFIG += ("rope_max_wavelength", "sliding_window", "flash_attention")
_CONFIG += ("use_gate", "seed")


@keras.saving.register_keras_serializable(package="keras_attention")
class MultiHeadAttention(HeadProjections):
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
    `keras.ops.dot_product_attention` where nothing needs the weights, the
    explicit float32 softmax otherwise, a blocked `O(T * w)` sliding window
    for long windowed self-attention (see the performance guide). A drop-in
    for Keras 3.15's `keras.layers.MultiHeadAttention` (every argument, with
    Keras' meaning and weight shapes), except that fully masked rows get
    zeros (Keras: uniform weights) and padding is inert: whatever a masked
    position holds (NaN, inf) never reaches an unmasked output or gradient.

    Args:
        num_heads (int): number of query heads.
        key_dim (int): size of each query/key head.
        value_dim (int | None): size of each value head (default `key_dim`).
        num_key_value_heads (int | None): key/value heads (default
            `num_heads`; 1 is multi-query attention); divides `num_heads`.
        dropout (float): dropout rate on the attention weights.
        use_bias (bool): whether the projections have biases.
        output_dim (int | None): output size (default: the query's).
        score (str): `"scaled_dot"`, `"additive"` or `"general"`.
        window (int | None): sliding window: the `window` most recent keys
            with `use_causal_mask=True`, else `window` keys on each side.
        position_embedding (str | None): `None`, `"rope"` or `"alibi"`.
        rope_max_wavelength (float): RoPE's longest wavelength.
        kernel_initializer (str | keras.initializers.Initializer): of the
            kernels.
        bias_initializer (str | keras.initializers.Initializer): of the biases.
        kernel_regularizer (str | keras.regularizers.Regularizer | None): of
            the kernels.
        bias_regularizer (str | keras.regularizers.Regularizer | None): of the
            biases.
        kernel_constraint (str | keras.constraints.Constraint | None): of the
            kernels.
        bias_constraint (str | keras.constraints.Constraint | None): of the
            biases.
        output_shape (int | tuple | None): Keras' name of `output_dim`.
        attention_axes (int | tuple | None): Keras' argument; only the
            sequence axis (`None`, `1`, `(1,)`).
        sliding_window (int | None): Keras' window: keys within
            `sliding_window - 1` steps on either side, cut by the causal mask.
        flash_attention (bool | None): `None` (the dispatcher chooses),
            `False` (never fused) or `True` (Keras': no dropout or weights).
        use_gate (bool): gate the heads by `sigmoid(X_q W^G + b^G)`.
        seed (int | None): seed of the dropout.
        **kwargs (Any): base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        query (Tensor): `(batch, Tq, dq)`.
        value (Tensor): `(batch, Tv, dv)`.
        key (Tensor | None): `(batch, Tv, dk)`; defaults to `value`.
        query_mask (Tensor | None): boolean `(batch, Tq)`; filled from the
            query's Keras mask.
        value_mask (Tensor | None): boolean `(batch, Tv)`; filled from the
            value's Keras mask.
        key_mask (Tensor | None): boolean `(batch, Tv)`.
        attention_mask (Tensor | None): boolean or 0/1 `(Tq, Tv)`, `(batch,
            Tq, Tv)` or `(batch, num_heads, Tq, Tv)`; `True` = may attend.
        attention_bias (Tensor | None): float, broadcastable to `(batch,
            num_heads, Tq, Tv)`, added to the scores in float32 (`-inf`
            blocks a key). With `cache`, `Tv` is the cache length.
        use_causal_mask (bool): query `i` attends to keys `<= i`.
        return_attention_scores (bool): also return the weights.
        training (bool | None): whether dropout is active.
        cache (Tensor | None): KV cache `(batch, 2, max_length,
            num_key_value_heads, key_dim)`: the new keys and values are
            written at `cache_update_index`, and query `i` sees cached keys
            up to `cache_update_index + i`.
        cache_update_index (int | Tensor | None): where to write them
            (`None`: read the cache as is, as for cross-attention).

    Returns:
        `output` `(batch, Tq, output_dim)`; then the weights `(batch,
        num_heads, Tq, Tv)` if `return_attention_scores`; then the updated
        cache if `cache` is given.

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
        for name, value in (
            ("value_dim", value_dim),
            ("num_key_value_heads", num_key_value_heads),
            ("output_dim", output_dim),
        ):
            setattr(self, name, check_positive_int(self, name, value, allow_none=True))
        check_divides(
            self, "num_key_value_heads", num_key_value_heads, num_heads, "`num_heads`"
        )
        self.dropout = check_rate(self, "dropout", dropout)
        self.use_bias, self.use_gate = bool(use_bias), bool(use_gate)
        self.output_dim = keras_compat.output_dim_from_shape(
            self, self.output_dim, output_shape
        )
        self.score, self._score = score, resolve_score(self, score, SCORES)
        self.window, self.sliding_window = keras_compat.check_window_arguments(
            self, window, sliding_window
        )
        self.position_embedding = check_choice(
            self, "position_embedding", position_embedding, POSITIONS
        )
        self._positions = get_position_scheme(position_embedding)
        if self._positions is not None:
            self._positions.check_head_dim(self, "key_dim", self.key_dim)
        self.rope_max_wavelength = check_positive_float(
            self, "rope_max_wavelength", rope_max_wavelength
        )
        keras_compat.check_attention_axes(self, attention_axes)
        self.flash_attention = keras_compat.check_flash_attention(
            self, flash_attention, self.dropout
        )
        self.seed = check_seed(self, seed)
        self._init_weight_settings(
            kernel_initializer,
            bias_initializer,
            kernel_regularizer,
            bias_regularizer,
            kernel_constraint,
            bias_constraint,
        )
        self.supports_masking = True
        self._dropout_layer = keras.layers.Dropout(dropout, seed=seed, dtype="float32")

    def _keys_and_values(self, key, value, cache, index):
        """Heads-first keys and values (the cache's, if any), the updated
        cache, and the position of the first query."""
        if cache is not None and index is None:  # precomputed (cross-attention)
            return (*read_kv_cache(cache), cache, 0)
        offset = 0 if cache is None else index
        k = self._rotate(self._project(key, "key"), offset)
        v = self._project(value, "value")
        if cache is None:
            return k, v, None, 0
        cache, k, v = update_kv_cache(cache, k, v, offset)
        return k, v, cache, offset

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
        masks = (query_mask, value_mask, key_mask)
        attention = (attention_mask, attention_bias)
        self._check_call(query, value, key, masks, attention, cache, cache_update_index)
        keras_compat.check_flash_call(
            self, self.flash_attention, return_attention_scores
        )
        attention_mask, bias = masking.attention_mask_and_bias(
            attention_mask, attention_bias
        )
        if cache is not None:
            # Cached steps attend to every written position (value masks are
            # not kept in the cache), so only padded queries are zeroed.
            masks = (query_mask, None, None)
        if cache is None or cache_update_index is not None:
            query, value, key = masking.inert_inputs(
                query, value, key, *masks, None if cache is not None else attention_mask
            )
        k, v, cache, offset = self._keys_and_values(
            key, value, cache, cache_update_index
        )
        # Keys past the written positions of a cache are not valid yet.
        causal = bool(use_causal_mask) or cache_update_index is not None
        dropout = self.dropout > 0 and training
        output, weights = dispatch.attention(
            self._rotate(self._project(query, "query"), offset),
            k,
            v,
            score_fn=self._score_fn(),
            scale=1.0 / math.sqrt(self.key_dim),
            query_mask=query_mask,
            key_mask=masking.combine_masks(*masks[1:]),
            attention_mask=attention_mask,
            bias=bias,
            causal=causal,
            causal_offset=offset,
            band=dispatch.layer_band(self.window, self.sliding_window, causal),
            distance_bias=self._distance_bias(),
            dropout_fn=self._dropout(training) if dropout else None,
            return_weights=return_attention_scores,
            same_length=same_length,
            allow_fused=self.flash_attention is not False,
        )
        extras = [ops.cast(weights, self.compute_dtype)] if weights is not None else []
        return self._output(query, output, *extras, *([] if cache is None else [cache]))

    def _distance_bias(self):
        return self._positions and self._positions.bias_for(self.num_heads)

    def _dropout(self, training):
        return lambda weights: self._dropout_layer(weights, training=training)

    def get_config(self):
        config = super().get_config()
        config.update({name: getattr(self, name) for name in _CONFIG})
        config.update(self._weight_settings_config())
        return config
