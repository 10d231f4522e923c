"""The base of the Transformer blocks: arguments, sublayers, residuals, config.

`TransformerEncoder` (`layers/transformer_encoder.py`) and
`TransformerDecoder` (`layers/transformer_decoder.py`) build on `BlockBase`;
`layers/transformer.py` is their public module.
"""

import keras

from keras_attention.core.masking import inert_padding
from keras_attention.core.validation import (
    ValidatedLayerMixin,
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


class BlockBase(ValidatedLayerMixin, keras.layers.Layer):
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

    def _build_attention(self, name, query_shape, value_shape, hidden):
        """The attention branch `name`: its sublayer, norm and dropout, built.

        Sets `self.<name>`, `self.<name>_norm` and `self.<name>_dropout`.
        """
        attention = self._attention(name, hidden, name == "self_attention")
        setattr(self, name, attention)
        with self._sublayer_errors(name):
            attention.build(query_shape, value_shape)
        norm = self._norm(f"{name}_norm")
        setattr(self, f"{name}_norm", norm)
        norm.build(query_shape)
        setattr(self, f"{name}_dropout", self._dropout(f"{name}_dropout"))

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

    def _residual(self, name, x, sublayer, training, direct=False):
        """`x + f(norm(x))` (pre-norm) or `norm(x + f(x))` (post-norm).

        `f` is `sublayer` (returning its output and what else it returns),
        `norm` and the dropout the branch `name`'s (`self.<name>_norm`,
        `self.<name>_dropout`); `direct` calls the norm by `call`.
        """
        norm, dropout = getattr(self, f"{name}_norm"), getattr(self, f"{name}_dropout")
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

        return self._residual("ffn", x, ffn, training, direct)[0]

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
