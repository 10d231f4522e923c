"""Transformer encoder and decoder blocks built on `MultiHeadAttention`.

The classes are named as in keras-hub, `TransformerEncoder` and
`TransformerDecoder`, and take keras-hub's arguments with keras-hub's meaning;
`TransformerEncoderBlock` and `TransformerDecoderBlock` (their names before)
are the same classes, and models saved under those registered names load.
"""

import keras
from keras import ops

from keras_attention.core.masking import inert_padding
from keras_attention.core.validation import (
    ValidatedLayerMixin,
    check_batch_sizes,
    check_divides,
    check_feature_size,
    check_features_known,
    check_mask,
    check_positive_float,
    check_positive_int,
    check_rank,
    check_rate,
    check_seed,
    errors_as,
    takes_argument,
)
from keras_attention.layers.deprecation import rename_config, renamed
from keras_attention.layers.multi_head import MultiHeadAttention

# {old constructor argument: new}, accepted with a `DeprecationWarning`.
_RENAMED = {"norm_first": "normalize_first"}


class _BlockBase(ValidatedLayerMixin, keras.layers.Layer):
    """Arguments, sublayer factories and config shared by both blocks.

    The attention sublayers validate their arguments and inputs; a block
    reports their errors in its own names (`errors_as`): "`inputs`" or
    "`padding_mask`" rather than the sublayer's "`query`" or "`query_mask`".
    """

    # {sublayer argument: block argument}, per attention sublayer.
    _ARGUMENTS = {}

    def __init__(
        self,
        intermediate_dim,
        num_heads,
        key_dim=None,
        dropout=0.0,
        activation="relu",
        layer_norm_epsilon=1e-5,
        normalize_first=False,
        num_key_value_heads=None,
        window=None,
        position_embedding=None,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        seed=None,
        **kwargs,
    ):
        normalize_first = renamed(
            self, kwargs, "norm_first", "normalize_first", normalize_first, False
        )
        super().__init__(**kwargs)
        self.intermediate_dim = check_positive_int(
            self, "intermediate_dim", intermediate_dim
        )
        self.num_heads = check_positive_int(self, "num_heads", num_heads)
        self.key_dim = check_positive_int(self, "key_dim", key_dim, allow_none=True)
        self.dropout = check_rate(self, "dropout", dropout)
        self.activation = keras.activations.get(activation)
        self.layer_norm_epsilon = check_positive_float(
            self, "layer_norm_epsilon", layer_norm_epsilon
        )
        self.normalize_first = bool(normalize_first)
        self.seed = check_seed(self, seed)
        self.num_key_value_heads = num_key_value_heads
        self.window = window
        self.position_embedding = position_embedding
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.supports_masking = True
        self._seeds = 0  # sublayers seeded so far (each gets its own seed)
        # The sublayer validates the attention arguments, now rather than at
        # build (an odd default key_dim with RoPE is only known then).
        with errors_as(self, MultiHeadAttention):
            MultiHeadAttention(
                num_heads,
                key_dim or 2,
                num_key_value_heads=num_key_value_heads,
                window=window,
                position_embedding=position_embedding,
                name="argument_check",
            )

    @property
    def norm_first(self):
        """Deprecated spelling of `normalize_first` (read-only)."""
        return self.normalize_first

    @classmethod
    def from_config(cls, config):
        # Configs saved before the rename load without a warning.
        return super().from_config(rename_config(cls, config, _RENAMED))

    def _next_seed(self):
        """A distinct seed per dropout sublayer, derived from `seed`."""
        if self.seed is None:
            return None
        self._seeds += 1
        return self.seed + self._seeds - 1

    def _sublayer_errors(self, name):
        """Errors of the attention sublayer `name`, in the block's names."""
        return errors_as(self, MultiHeadAttention, self._ARGUMENTS[name])

    def _check_sequence(self, name, shape):
        """The block's own input: `(batch, length, hidden)`, as built."""
        shape = tuple(shape)
        check_rank(self, name, shape, (3,), "(batch, length, hidden)")
        check_features_known(self, {name: shape})
        if self.built:
            check_feature_size(self, name, shape, self._hidden)
        return shape

    def _inert(self, name, sequence, padding_mask):
        """The block's input with its padded steps zeroed (see `inert_padding`).

        The attention sublayers zero what they read, but the residual
        connection and the feed-forward network see the block's input too:
        NaN in a padded step would reach the feed-forward weights' gradients.
        """
        if padding_mask is None:
            return sequence
        check_mask(self, name, padding_mask, tuple(sequence.shape[:2]))
        return inert_padding(sequence, padding_mask)

    def _hidden_dim(self, name, shape):
        hidden = self._check_sequence(name, shape)[-1]
        if self.key_dim is None:
            check_divides(
                self,
                "num_heads",
                self.num_heads,
                hidden,
                f"the hidden size (last axis of `{name}`)",
                "`key_dim` defaults to it divided by `num_heads`: pass `key_dim`.",
            )
        self._hidden = hidden
        return hidden

    def _attention(self, name, hidden, self_attention):
        seed = {}
        if takes_argument(MultiHeadAttention, "seed"):
            seed = {"seed": self._next_seed()}
        with self._sublayer_errors(name):
            return MultiHeadAttention(
                num_heads=self.num_heads,
                key_dim=self.key_dim or hidden // self.num_heads,
                num_key_value_heads=self.num_key_value_heads,
                dropout=self.dropout,
                output_dim=hidden,
                window=self.window if self_attention else None,
                position_embedding=self.position_embedding if self_attention else None,
                kernel_initializer=self.kernel_initializer,
                bias_initializer=self.bias_initializer,
                dtype=self.dtype_policy,
                name=name,
                **seed,
            )

    def _norm(self, name):
        return keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name=name
        )

    def _dropout(self, name):
        return keras.layers.Dropout(
            self.dropout, seed=self._next_seed(), dtype=self.dtype_policy, name=name
        )

    def _build_feedforward(self, shape):
        hidden = shape[-1]
        self.ffn_norm = self._norm("ffn_norm")
        self.ffn_norm.build(shape)
        self.ffn_intermediate = keras.layers.Dense(
            self.intermediate_dim,
            activation=self.activation,
            kernel_initializer=self.kernel_initializer,
            bias_initializer=self.bias_initializer,
            dtype=self.dtype_policy,
            name="ffn_intermediate",
        )
        self.ffn_intermediate.build(shape)
        self.ffn_output = keras.layers.Dense(
            hidden,
            kernel_initializer=self.kernel_initializer,
            bias_initializer=self.bias_initializer,
            dtype=self.dtype_policy,
            name="ffn_output",
        )
        self.ffn_output.build(tuple(shape[:-1]) + (self.intermediate_dim,))
        self.ffn_dropout = self._dropout("ffn_dropout")

    def _residual(self, x, norm, dropout, sublayer, training, direct=False):
        """`x + f(norm(x))` (pre-norm) or `norm(x + f(x))` (post-norm)."""
        norm = norm.call if direct else norm
        y = norm(x) if self.normalize_first else x
        y, extra = sublayer(y)
        if self.dropout > 0 and training:  # skip the layer call otherwise
            y = dropout(y, training=training)
        y = y + x
        return (y if self.normalize_first else norm(y)), extra

    def _feedforward(self, x, training, direct=False):
        intermediate, output = self.ffn_intermediate, self.ffn_output
        if direct:
            intermediate, output = intermediate.call, output.call

        def ffn(y):
            return output(intermediate(y)), None

        return self._residual(
            x, self.ffn_norm, self.ffn_dropout, ffn, training, direct
        )[0]

    def _sublayers_callable_directly(self, training):
        """Whether a cached decoding step may run sublayers by `call`.

        `Layer.__call__` converts the inputs to the compute dtype, builds the
        layer, resolves `training`, fills masks from Keras masks and opens
        autocast scopes: about a hundred microseconds of Python per call on
        eager PyTorch, a third of a cached GPT step there. Within this
        block, in inference and with one unquantized, unmixed dtype policy
        throughout, none of it changes a result: the block's own `__call__`
        has converted its inputs, every sublayer is built, and `training` and
        masks are passed explicitly. Everything else (mixed precision,
        quantized or rematerialised sublayers, training) takes `__call__`.
        """
        if training:
            return False
        policy = self.dtype_policy
        if policy.quantization_mode is not None or (
            policy.compute_dtype != policy.variable_dtype
        ):
            return False
        sublayers = [
            self.self_attention,
            self.self_attention_norm,
            self.ffn_norm,
            self.ffn_intermediate,
            self.ffn_output,
        ]
        if getattr(self, "cross_attention", None) is not None:
            sublayers += [self.cross_attention, self.cross_attention_norm]
        return all(
            layer.dtype_policy.name == policy.name
            and layer.dtype_policy.quantization_mode is None
            # `keras.RematScope` sets this (private) attribute; absent in
            # Keras versions without it.
            and getattr(layer, "_remat_mode", None) is None
            for layer in sublayers
        )

    def compute_mask(self, inputs, previous_mask=None):
        return previous_mask

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "intermediate_dim": self.intermediate_dim,
                "num_heads": self.num_heads,
                "key_dim": self.key_dim,
                "dropout": self.dropout,
                "activation": keras.activations.serialize(self.activation),
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "normalize_first": self.normalize_first,
                "num_key_value_heads": self.num_key_value_heads,
                "window": self.window,
                "position_embedding": self.position_embedding,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "seed": self.seed,
            }
        )
        return config


_SHARED_ARGS = """
        intermediate_dim: size of the feed-forward hidden layer.
        num_heads: number of attention heads.
        key_dim: size of each head (default: hidden size / `num_heads`).
        dropout: dropout rate on attention weights and residual branches.
        activation: activation of the feed-forward hidden layer.
        layer_norm_epsilon: epsilon of the layer normalisations.
        normalize_first: pre-norm (`True`, as GPT-2) or post-norm (`False`,
            as Vaswani et al.); keras-hub's name. The former spelling
            `norm_first` still works, with a `DeprecationWarning`.
        num_key_value_heads: grouped-query attention in self-attention.
        window: sliding-window size of self-attention.
        position_embedding: `None`, `"rope"` or `"alibi"` in self-attention.
        kernel_initializer: initializer of all kernels.
        bias_initializer: initializer of all biases.
        seed: optional int seed of the dropout layers (each dropout gets its
            own seed derived from it).
        **kwargs: base layer arguments (`name`, `dtype`, ...)."""


@keras.saving.register_keras_serializable(package="keras_attention")
class TransformerEncoder(_BlockBase):
    __doc__ = (
        r"""A Transformer encoder block: self-attention and a feed-forward network.

    Post-norm (Vaswani et al., 2017), or pre-norm with `normalize_first=True`:

    $$h = \mathrm{LN}(x + \mathrm{MHA}(x, x)), \quad
    y = \mathrm{LN}(h + W_2\,\phi(W_1 h)) \qquad \text{(post-norm)}$$

    $$h = x + \mathrm{MHA}(\mathrm{LN}(x)), \quad
    y = h + W_2\,\phi(W_1\,\mathrm{LN}(h)) \qquad \text{(pre-norm)}$$

    Args:"""
        + _SHARED_ARGS
        + """

    Call arguments:
        inputs: `(batch, length, hidden)`.
        padding_mask: optional boolean `(batch, length)`, `True` = token.
            Filled from the inputs' Keras mask (`mask_zero=True` embeddings)
            when not given.
        attention_mask: optional boolean `(batch, length, length)`; a float
            mask raises a `TypeError`.
        use_causal_mask: causal self-attention.
        training: whether dropout is active.
        return_attention_scores: also return the self-attention weights,
            `(batch, num_heads, length, length)`, as keras-hub's
            `TransformerEncoder` does.

    Returns:
        `(batch, length, hidden)`, with the input's Keras mask; then the
        attention weights when `return_attention_scores`.

    Example:

    ```python
    import numpy as np
    import keras_attention

    x = np.random.rand(2, 10, 32).astype("float32")
    block = keras_attention.TransformerEncoder(intermediate_dim=64, num_heads=4)
    assert block(x).shape == (2, 10, 32)
    y, weights = block(x, return_attention_scores=True)
    assert weights.shape == (2, 4, 10, 10)
    ```
    """
    )

    _ARGUMENTS = {
        "self_attention": {
            "query": "inputs",
            "value": "inputs",
            "key": "inputs",
            "query_mask": "padding_mask",
            "value_mask": "padding_mask",
        }
    }

    def build(self, inputs_shape):
        hidden = self._hidden_dim("inputs", inputs_shape)
        self.self_attention = self._attention("self_attention", hidden, True)
        with self._sublayer_errors("self_attention"):
            self.self_attention.build(inputs_shape, inputs_shape)
        self.self_attention_norm = self._norm("self_attention_norm")
        self.self_attention_norm.build(inputs_shape)
        self.self_attention_dropout = self._dropout("self_attention_dropout")
        self._build_feedforward(inputs_shape)
        self.built = True

    def call(
        self,
        inputs,
        padding_mask=None,
        attention_mask=None,
        use_causal_mask=False,
        training=None,
        return_attention_scores=False,
        mask=None,
        inputs_mask=None,
    ):
        self._check_sequence("inputs", inputs.shape)
        if padding_mask is None:
            padding_mask = mask if mask is not None else inputs_mask
        inputs = self._inert("padding_mask", inputs, padding_mask)

        def attention(y):
            with self._sublayer_errors("self_attention"):
                out = self.self_attention(
                    y,
                    y,
                    query_mask=padding_mask,
                    value_mask=padding_mask,
                    attention_mask=attention_mask,
                    use_causal_mask=use_causal_mask,
                    return_attention_scores=return_attention_scores,
                    training=training,
                )
            return out if return_attention_scores else (out, None)

        x, scores = self._residual(
            inputs,
            self.self_attention_norm,
            self.self_attention_dropout,
            attention,
            training,
        )
        x = self._feedforward(x, training)
        return (x, scores) if return_attention_scores else x

    def compute_output_shape(self, inputs_shape):
        return tuple(inputs_shape)

    def compute_output_spec(self, inputs, return_attention_scores=False, **kwargs):
        output = keras.KerasTensor(inputs.shape, dtype=self.compute_dtype)
        if not return_attention_scores:
            return output
        batch, length = inputs.shape[:2]
        weights = keras.KerasTensor(
            (batch, self.num_heads, length, length), dtype=self.compute_dtype
        )
        return output, weights


@keras.saving.register_keras_serializable(package="keras_attention")
class TransformerDecoder(_BlockBase):
    __doc__ = (
        r"""A Transformer decoder block; without an encoder sequence, a GPT block.

    Causal self-attention, cross-attention over the encoder sequence (only
    when the block is built with one), and a feed-forward network, each in a
    residual branch with post- or pre-norm (`normalize_first`):

    $$h_1 = x + \mathrm{MHA}_{\mathrm{causal}}(x, x), \quad
    h_2 = h_1 + \mathrm{MHA}(h_1, e), \quad
    y = h_2 + \mathrm{FFN}(h_2)$$

    (normalisations omitted). For incremental decoding pass
    `self_attention_cache` (`(batch, 2, max_length, kv_heads, key_dim)`,
    zeros to start) and `self_attention_cache_update_index`; the block then
    returns `(outputs, updated_cache)`. With `return_attention_scores=True`
    it also returns the attention weights of each head, as a dict
    `{"self_attention": (batch, heads, length, keys), "cross_attention":
    (batch, heads, length, source_length)}` (cross-attention only with an
    encoder sequence), after the outputs and before the cache. As in
    keras-hub, a `cross_attention_cache` (`(batch, 2, source_length, kv_heads,
    key_dim)`) holds the encoder sequence's projected keys and values:
    `cross_attention_cache_update_index=0` fills it from `encoder_sequence`,
    `None` reuses it; the block then returns it after the self-attention
    cache.

    Args:"""
        + _SHARED_ARGS
        + """

    Call arguments:
        decoder_sequence: `(batch, length, hidden)`.
        encoder_sequence: optional `(batch, source_length, encoder_hidden)`;
            required if the block was built with one.
        decoder_padding_mask: optional boolean `(batch, length)`; filled from
            the decoder sequence's Keras mask when not given.
        decoder_attention_mask: optional boolean `(batch, length, keys)`
            mask of the self-attention (`keys` is `length`, or the cache's
            `max_length` with a cache), combined with the causal mask.
        encoder_padding_mask: optional boolean `(batch, source_length)`;
            filled from the encoder sequence's Keras mask when not given.
        encoder_attention_mask: optional boolean `(batch, length,
            source_length)` mask of the cross-attention.
        use_causal_mask: causal self-attention (default `True`).
        self_attention_cache: optional KV cache of the self-attention.
        self_attention_cache_update_index: position of the first new step.
        cross_attention_cache: optional cache of the cross-attention's keys
            and values (with `self_attention_cache`).
        cross_attention_cache_update_index: `0` to compute the cross-attention
            cache from `encoder_sequence` (written from that position), `None`
            to reuse it.
        return_attention_scores: also return the attention weights (the
            explicit, slower path of `MultiHeadAttention`).
        training: whether dropout is active.

    Returns:
        `(batch, length, hidden)`; then the dict of attention weights when
        `return_attention_scores`; then the updated cache when a cache is
        given; then the cross-attention cache when one is given.

    Example:

    ```python
    import numpy as np
    import keras_attention

    target = np.random.rand(2, 6, 32).astype("float32")
    source = np.random.rand(2, 9, 16).astype("float32")
    block = keras_attention.TransformerDecoder(intermediate_dim=64, num_heads=4)
    assert block(target, source).shape == (2, 6, 32)
    gpt_block = keras_attention.TransformerDecoder(64, 4, normalize_first=True)
    assert gpt_block(target).shape == (2, 6, 32)
    ```
    """
    )

    _ARGUMENTS = {
        "self_attention": {
            "query": "decoder_sequence",
            "value": "decoder_sequence",
            "key": "decoder_sequence",
            "query_mask": "decoder_padding_mask",
            "value_mask": "decoder_padding_mask",
            "cache": "self_attention_cache",
            "cache_update_index": "self_attention_cache_update_index",
        },
        "cross_attention": {
            "query": "decoder_sequence",
            "value": "encoder_sequence",
            "key": "encoder_sequence",
            "query_mask": "decoder_padding_mask",
            "value_mask": "encoder_padding_mask",
        },
    }

    def _check_sequences(self, decoder_shape, encoder_shape):
        self._check_sequence("decoder_sequence", decoder_shape)
        if encoder_shape is not None:
            check_rank(
                self,
                "encoder_sequence",
                tuple(encoder_shape),
                (3,),
                "(batch, source_length, encoder_hidden)",
            )
            check_batch_sizes(
                self,
                {"decoder_sequence": decoder_shape, "encoder_sequence": encoder_shape},
            )

    def build(self, decoder_sequence_shape, encoder_sequence_shape=None):
        shape = decoder_sequence_shape
        self._check_sequences(shape, encoder_sequence_shape)
        hidden = self._hidden_dim("decoder_sequence", shape)
        self.self_attention = self._attention("self_attention", hidden, True)
        with self._sublayer_errors("self_attention"):
            self.self_attention.build(shape, shape)
        self.self_attention_norm = self._norm("self_attention_norm")
        self.self_attention_norm.build(shape)
        self.self_attention_dropout = self._dropout("self_attention_dropout")
        self.cross_attention = None
        if encoder_sequence_shape is not None:
            self.cross_attention = self._attention("cross_attention", hidden, False)
            with self._sublayer_errors("cross_attention"):
                self.cross_attention.build(shape, encoder_sequence_shape)
            self.cross_attention_norm = self._norm("cross_attention_norm")
            self.cross_attention_norm.build(shape)
            self.cross_attention_dropout = self._dropout("cross_attention_dropout")
        self._build_feedforward(shape)
        self.built = True

    def call(
        self,
        decoder_sequence,
        encoder_sequence=None,
        *,
        decoder_padding_mask=None,
        encoder_padding_mask=None,
        use_causal_mask=True,
        self_attention_cache=None,
        self_attention_cache_update_index=None,
        return_attention_scores=False,
        decoder_attention_mask=None,
        encoder_attention_mask=None,
        cross_attention_cache=None,
        cross_attention_cache_update_index=None,
        training=None,
        decoder_sequence_mask=None,
        encoder_sequence_mask=None,
        mask=None,
    ):
        has_encoder = encoder_sequence is not None
        self._check_sequences(
            decoder_sequence.shape, encoder_sequence.shape if has_encoder else None
        )
        name = type(self).__name__
        if has_encoder != (self.cross_attention is not None):
            raise ValueError(
                f"{name}: `encoder_sequence` must be given if "
                "and only if the block was built with one (it has "
                f"{'a' if self.cross_attention is not None else 'no'} "
                "cross-attention)."
            )
        cross_cached = cross_attention_cache is not None
        if cross_cached and not has_encoder:
            raise ValueError(
                f"{name}: `cross_attention_cache` needs an `encoder_sequence` "
                "(a block without cross-attention has no cross-attention cache)."
            )
        if cross_cached and self_attention_cache is None:
            raise ValueError(
                f"{name}: `cross_attention_cache` was given without a "
                "`self_attention_cache`; pass both (as in keras-hub) or only "
                "the self-attention cache."
            )
        if cross_attention_cache_update_index is not None and not cross_cached:
            raise ValueError(
                f"{name}: `cross_attention_cache_update_index` was given "
                "without a `cross_attention_cache`; received "
                "cross_attention_cache=None, cross_attention_cache_update_index="
                f"{cross_attention_cache_update_index!r}."
            )
        if decoder_padding_mask is None:
            # Keras fills `decoder_sequence_mask` when the call has several
            # tensors, and `mask` when the decoder sequence is the only one.
            decoder_padding_mask = (
                decoder_sequence_mask if decoder_sequence_mask is not None else mask
            )
        if encoder_padding_mask is None:
            encoder_padding_mask = encoder_sequence_mask
        decoder_sequence = self._inert(
            "decoder_padding_mask", decoder_sequence, decoder_padding_mask
        )
        cached = self_attention_cache is not None
        # A cached step is the inner loop of generation: skip the sublayers'
        # `__call__` bookkeeping where it cannot change the result.
        direct = cached and self._sublayers_callable_directly(training)

        def self_attention(y):
            kwargs = {}
            if cached:
                kwargs = {
                    "cache": self_attention_cache,
                    "cache_update_index": self_attention_cache_update_index,
                }
                # The decoder sequence's padding, passed explicitly: `y` is
                # the zeroed sequence and carries no Keras mask (a cached call
                # ignores value masks).
                kwargs["query_mask"] = decoder_padding_mask
            else:
                kwargs = {
                    "query_mask": decoder_padding_mask,
                    "value_mask": decoder_padding_mask,
                }
            attention = self.self_attention
            with self._sublayer_errors("self_attention"):
                result = (attention.call if direct else attention)(
                    y,
                    y,
                    attention_mask=decoder_attention_mask,
                    use_causal_mask=use_causal_mask,
                    return_attention_scores=return_attention_scores,
                    training=training,
                    **kwargs,
                )
            if not isinstance(result, tuple):
                return result, ()
            return result[0], result[1:]  # (scores?, cache?), in that order

        x, extra = self._residual(
            decoder_sequence,
            self.self_attention_norm,
            self.self_attention_dropout,
            self_attention,
            training,
            direct,
        )
        scores = {"self_attention": extra[0]} if return_attention_scores else None
        if has_encoder:
            reuse = cross_cached and cross_attention_cache_update_index is None

            def cross_attention(y):
                attention = self.cross_attention
                kwargs = {
                    "value_mask": encoder_padding_mask,
                    "attention_mask": encoder_attention_mask,
                }
                if reuse:
                    # Keys and values from the cache (which keeps no value
                    # mask): the encoder padding goes in the attention mask.
                    kwargs = {
                        "attention_mask": self._cross_mask(
                            y, encoder_padding_mask, encoder_attention_mask
                        ),
                        "cache": cross_attention_cache,
                    }
                with self._sublayer_errors("cross_attention"):
                    result = (attention.call if direct else attention)(
                        y,
                        encoder_sequence,
                        query_mask=None if cached else decoder_padding_mask,
                        return_attention_scores=return_attention_scores,
                        training=training,
                        **kwargs,
                    )
                if reuse:  # drop the (unchanged) cache it returns
                    result = result[:-1] if return_attention_scores else result[0]
                return result if return_attention_scores else (result, None)

            x, cross_scores = self._residual(
                x,
                self.cross_attention_norm,
                self.cross_attention_dropout,
                cross_attention,
                training,
                direct,
            )
            if return_attention_scores:
                scores["cross_attention"] = cross_scores
        x = self._feedforward(x, training, direct)
        results = (x,)
        if return_attention_scores:
            results += (scores,)
        if cached:
            results += (extra[-1],)
        if cross_cached:
            if cross_attention_cache_update_index is not None:
                cross_attention_cache = self._fill_cross_cache(
                    encoder_sequence,
                    cross_attention_cache,
                    cross_attention_cache_update_index,
                )
            results += (cross_attention_cache,)
        return results[0] if len(results) == 1 else results

    def _cross_mask(self, query, encoder_padding_mask, encoder_attention_mask):
        """The cross-attention's explicit mask, encoder padding included."""
        if encoder_padding_mask is None:
            return encoder_attention_mask
        check_mask(
            self,
            "encoder_padding_mask",
            encoder_padding_mask,
            (query.shape[0], None),
        )
        padding = ops.expand_dims(ops.cast(encoder_padding_mask, "bool"), 1)
        if encoder_attention_mask is None:
            shape = ops.shape(padding)
            return ops.broadcast_to(padding, (shape[0], ops.shape(query)[1], shape[2]))
        return ops.logical_and(ops.cast(encoder_attention_mask, "bool"), padding)

    def _fill_cross_cache(self, encoder_sequence, cache, index):
        """`cache` with the encoder sequence's keys and values from `index`."""
        attention = self.cross_attention

        def project(kernel, bias):
            x = ops.einsum("btd,dhk->bthk", encoder_sequence, kernel)
            return x if bias is None else x + bias

        keys = project(attention.key_kernel, attention.key_bias)
        values = project(attention.value_kernel, attention.value_bias)
        new = ops.cast(ops.stack([keys, values], axis=1), cache.dtype)
        return ops.slice_update(cache, [0, 0, index, 0, 0], new)

    def compute_output_shape(self, decoder_sequence_shape, encoder_sequence_shape=None):
        return tuple(decoder_sequence_shape)

    def compute_output_spec(self, decoder_sequence, encoder_sequence=None, **kwargs):
        output = keras.KerasTensor(decoder_sequence.shape, dtype=self.compute_dtype)
        results = (output,)
        cache = kwargs.get("self_attention_cache")
        if kwargs.get("return_attention_scores"):
            batch, length = decoder_sequence.shape[:2]
            keys = length if cache is None else cache.shape[2]
            heads = self.num_heads
            scores = {
                "self_attention": keras.KerasTensor(
                    (batch, heads, length, keys), dtype=self.compute_dtype
                )
            }
            if encoder_sequence is not None:
                scores["cross_attention"] = keras.KerasTensor(
                    (batch, heads, length, encoder_sequence.shape[1]),
                    dtype=self.compute_dtype,
                )
            results += (scores,)
        if cache is not None:
            results += (keras.KerasTensor(cache.shape, dtype=cache.dtype),)
        cross_cache = kwargs.get("cross_attention_cache")
        if cross_cache is not None:
            results += (keras.KerasTensor(cross_cache.shape, dtype=cross_cache.dtype),)
        return results[0] if len(results) == 1 else results


# The names these blocks had before keras-hub's: aliases of the same classes.
TransformerEncoderBlock = TransformerEncoder
TransformerDecoderBlock = TransformerDecoder


def _legacy(cls, old):
    """The class that `.keras` files saved under the old name load as.

    Keras finds a layer's weights in a `.keras` file by its class name
    (`layers/transformer_encoder_block/...` in files saved before the
    rename), so a file saved under the registered name
    `keras_attention>TransformerEncoderBlock` loads as this subclass, named
    as before, with the same code; it saves under the old names again.
    """
    legacy = type(
        old,
        (cls,),
        {
            "__doc__": f"`{cls.__name__}` loaded from a file saved as `{old}`.",
            "__module__": cls.__module__,
            "_renamed_to": cls,
        },
    )
    return keras.saving.register_keras_serializable("keras_attention", old)(legacy)


_LEGACY_CLASSES = (
    _legacy(TransformerEncoder, "TransformerEncoderBlock"),
    _legacy(TransformerDecoder, "TransformerDecoderBlock"),
)
