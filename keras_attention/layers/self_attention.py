"""Self-attention: a sequence attends to itself (multi-head or single-head)."""

import keras
from keras import ops

from keras_attention.core.scores import resolve_score
from keras_attention.core.validation import (
    ValidatedLayerMixin,
    check_bool,
    check_choice,
    check_divides,
    check_features_known,
    check_positive_float,
    check_positive_int,
    check_rank,
    check_rate,
    check_required_value,
    check_seed,
    errors_as,
    takes_argument,
)
from keras_attention.layers.classic_self_attention import (
    check_classic_arguments,
    classic_attention,
    classic_attention_class,
    window_mask,
)
from keras_attention.layers.deprecation import rename_config, renamed
from keras_attention.layers.multi_head import POSITIONS, MultiHeadAttention
from keras_attention.layers.weight_settings import WeightSettingsMixin

# The canonical scores (core.scores) SelfAttention offers: "scaled_dot" is
# multi-head (MultiHeadAttention), the others the classic single-head layers.
SCORES = ("scaled_dot", "dot", "general", "additive")
# {old constructor argument: new}, accepted with a `DeprecationWarning`.
_RENAMED = {"causal": "use_causal_mask"}


@keras.saving.register_keras_serializable(package="keras_attention")
class SelfAttention(ValidatedLayerMixin, WeightSettingsMixin, keras.layers.Layer):
    r"""Self-attention over one sequence, multi-head or classic single-head.

    Every step $x_i$ of the input attends to the steps $x_j$ of the same
    sequence. The default, `score="scaled_dot"`, is the Transformer's
    multi-head self-attention (Vaswani et al., 2017):

    $$\mathrm{head}_h(x)_i = \sum_j \mathrm{softmax}_j\Big(
    \frac{(x_i W^Q_h)^\top (x_j W^K_h)}{\sqrt{d_k}}\Big)\, x_j W^V_h,
    \qquad y = [\mathrm{head}_1; \dots; \mathrm{head}_H]\, W^O.$$

    The classic single-head scores of the self-attention papers before it
    score the raw steps and average them without projections,
    $y_i = \sum_j a_{ij} x_j$ with $a_{ij} = \mathrm{softmax}_j(e_{ij})$ (the
    additive and multiplicative forms of `keras-self-attention`):

    $$e_{ij} = \begin{cases}
    v^\top \tanh(W_q x_i + W_k x_j + b) & \texttt{"additive"}
        \text{ (alias } \texttt{"concat"}) \\
    x_i^\top W_a x_j & \texttt{"general"}
        \text{ (alias } \texttt{"multiplicative"}) \\
    x_i^\top x_j & \texttt{"dot"}
    \end{cases}$$

    The layer owns no attention logic: `"scaled_dot"` delegates to
    `MultiHeadAttention` on `(x, x)` (grouped heads, RoPE/ALiBi, the fused
    kernels and the blocked sliding window come with it), the additive
    scores to `AdditiveAttention`, the others to `MultiplicativeAttention`.

    `use_causal_mask=True` lets step `i` attend to steps `j <= i` only. `window=w`
    restricts each step to a band: the `w` most recent steps (itself
    included) if causal, else the steps within `w` on either side (the
    `attention_width` of `keras-self-attention`, halved).

    Padding steps (a Keras mask, e.g. from `Embedding(mask_zero=True)`) are
    neither attended to nor attending: their outputs are zeros, and the mask
    is passed on. Fully masked rows get zero weights where Keras' layers
    give uniform ones.

    The attention sublayer validates the inputs; its errors name this layer
    and its arguments, with the sublayer's error as the cause.

    Args:
        num_heads (int): number of heads (`"scaled_dot"` only; the classic
            scores are single-head).
        key_dim (int | None): size of each query/key head (`"scaled_dot"` only);
            default the input's feature size divided by `num_heads`.
        value_dim (int | None): size of each value head (default `key_dim`;
            `"scaled_dot"` only).
        num_key_value_heads (int | None): number of key/value heads for
            grouped-query attention (default `num_heads`; `"scaled_dot"` only).
        score (str): `"scaled_dot"` (multi-head, projected), or a classic
            single-head score: `"additive"` (alias `"concat"`), `"general"`
            (alias `"multiplicative"`) or `"dot"`.
        units (int | None): hidden size of the `"additive"` score (default: the
            input's feature size).
        window (int | None): sliding-window size (`None`: every step).
        use_causal_mask (bool): default of the call's `use_causal_mask` (the
            former spelling `causal` still works, with a `DeprecationWarning`).
        dropout (float): dropout rate on the attention weights.
        use_bias (bool): whether the projections (`"scaled_dot"`) or the `tanh`
            (`"additive"`) have a bias.
        output_dim (int | None): size of the output (default: the input's
            feature size; `"scaled_dot"` only).
        position_embedding (str | None): `None`, `"rope"` or `"alibi"`
            (`"scaled_dot"` only).
        rope_max_wavelength (float): RoPE's longest wavelength.
        kernel_initializer (str | keras.initializers.Initializer): initializer
            of the kernels and score vectors.
        bias_initializer (str | keras.initializers.Initializer): initializer of
            the biases.
        kernel_regularizer (str | keras.regularizers.Regularizer | None):
            regularizer of the kernels.
        bias_regularizer (str | keras.regularizers.Regularizer | None):
            regularizer of the biases.
        kernel_constraint (str | keras.constraints.Constraint | None):
            constraint of the kernels.
        bias_constraint (str | keras.constraints.Constraint | None): constraint
            of the biases.
        seed (int | None): optional int seed of the attention dropout, passed to
            the attention sublayer.
        **kwargs (Any): base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs (Tensor): `(batch, T, dim)`.
        mask (Tensor | None): optional boolean `(batch, T)` padding mask, `True`
            = real step; filled from the input's Keras mask.
        attention_mask (Tensor | None): optional boolean `(T, T)`, `(batch, T,
            T)` or `(batch, heads, T, T)`; `True` = may attend. A float mask
            raises a `TypeError`: pass additive masks as `attention_bias`.
        attention_bias (Tensor | None): optional float bias added to the scores
            before the softmax (e.g. `np.where(mask, 0, -np.inf)`,
            relative-position biases), broadcastable to `(batch, heads, T, T)`;
            `(T, T)`, `(batch, T, T)` or `(batch, 1, T, T)` for the classic
            scores. `-inf` entries are masked like `False` in `attention_mask`.
        use_causal_mask (bool | None): step `i` attends to steps `<= i`; `None`
            (default) takes the constructor's `use_causal_mask`.
        return_attention_scores (bool): also return the weights.
        training (bool | None): whether dropout is active.

    Returns:
        `(batch, T, output_dim)` (`(batch, T, dim)` for the classic scores),
        and the weights `(batch, num_heads, T, T)` if
        `return_attention_scores` (`num_heads = 1` for the classic scores).

    Example:

    ```python
    import numpy as np
    import keras_attention

    x = np.random.rand(2, 10, 32).astype("float32")
    layer = keras_attention.SelfAttention(num_heads=4, use_causal_mask=True, window=3)
    y, weights = layer(x, return_attention_scores=True)
    assert y.shape == (2, 10, 32) and weights.shape == (2, 4, 10, 10)

    # keras-self-attention's additive form: e_ij = v^T tanh(W_q x_i + W_k x_j + b)
    classic = keras_attention.SelfAttention(score="additive", units=16)
    y, weights = classic(x, return_attention_scores=True)
    assert y.shape == (2, 10, 32) and weights.shape == (2, 1, 10, 10)
    ```
    """

    def __init__(
        self,
        num_heads=1,
        key_dim=None,
        value_dim=None,
        num_key_value_heads=None,
        score="scaled_dot",
        units=None,
        window=None,
        use_causal_mask=False,
        dropout=0.0,
        use_bias=True,
        output_dim=None,
        position_embedding=None,
        rope_max_wavelength=10000,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        seed=None,
        **kwargs,
    ):
        use_causal_mask = renamed(
            self, kwargs, "causal", "use_causal_mask", use_causal_mask, False
        )
        super().__init__(**kwargs)
        self.num_heads = check_positive_int(self, "num_heads", num_heads)
        self.key_dim = check_positive_int(self, "key_dim", key_dim, allow_none=True)
        self.value_dim = check_positive_int(
            self, "value_dim", value_dim, allow_none=True
        )
        self.num_key_value_heads = check_positive_int(
            self, "num_key_value_heads", num_key_value_heads, allow_none=True
        )
        self.score = score
        self._score = resolve_score(self, score, SCORES)
        self.units = check_positive_int(self, "units", units, allow_none=True)
        self.window = check_positive_int(self, "window", window, allow_none=True)
        self.use_causal_mask = check_bool(self, "use_causal_mask", use_causal_mask)
        self.dropout = check_rate(self, "dropout", dropout)
        self.use_bias = bool(use_bias)
        self.output_dim = check_positive_int(
            self, "output_dim", output_dim, allow_none=True
        )
        self.position_embedding = check_choice(
            self, "position_embedding", position_embedding, POSITIONS
        )
        self.rope_max_wavelength = check_positive_float(
            self, "rope_max_wavelength", rope_max_wavelength
        )
        self.seed = check_seed(self, seed)
        self._check_score_arguments()
        self._init_weight_settings(
            kernel_initializer,
            bias_initializer,
            kernel_regularizer,
            bias_regularizer,
            kernel_constraint,
            bias_constraint,
        )
        self.supports_masking = True
        self._attention = None

    @property
    def causal(self):
        """Deprecated name of `use_causal_mask` (read-only)."""
        return self.use_causal_mask

    @classmethod
    def from_config(cls, config):
        # Configs saved before the rename load without a warning.
        return super().from_config(rename_config(cls, config, _RENAMED))

    @property
    def _multi_head(self):
        return self._score == "scaled_dot"

    @property
    def _attention_class(self):
        if self._multi_head:
            return MultiHeadAttention
        return classic_attention_class(self._score)

    def _check_score_arguments(self):
        """Arguments that `score` leaves unused must be unset."""
        if not self._multi_head:
            check_classic_arguments(self)
        if self._score != "additive":
            check_required_value(
                self,
                "units",
                self.units,
                None,
                f"with score={self.score!r} (it sizes the additive score)",
            )
        if self._multi_head:
            # The sublayer validates its own arguments now rather than at
            # build (an odd default key_dim with RoPE is only known then).
            with errors_as(self, MultiHeadAttention):
                self._make_attention(2 * self.num_heads, "argument_check")

    def _make_attention(self, dim, name, **settings):
        """The attention sublayer over `dim` input features (unbuilt)."""
        settings.update(dropout=self.dropout, name=name)
        if not self._multi_head:
            units = self.units or dim
            return classic_attention(self._score, units, self.use_bias, **settings)
        return MultiHeadAttention(
            num_heads=self.num_heads,
            key_dim=self.key_dim or dim // self.num_heads,
            value_dim=self.value_dim,
            num_key_value_heads=self.num_key_value_heads,
            use_bias=self.use_bias,
            output_dim=self.output_dim,
            window=self.window,
            position_embedding=self.position_embedding,
            rope_max_wavelength=self.rope_max_wavelength,
            **settings,
        )

    # ------------------------------------------------------------------ build
    def _check_input_shape(self, inputs_shape):
        shape = tuple(inputs_shape)
        check_rank(self, "inputs", shape, (3,), "(batch, T, dim)")
        check_features_known(self, {"inputs": shape})
        return shape

    def _sublayer_errors(self, sublayer):
        """The sublayer's errors, in this layer's argument names."""
        names = {"query": "inputs", "value": "inputs", "key": "inputs"}
        names.update({"query_mask": "mask", "value_mask": "mask"})
        return errors_as(self, sublayer, names)

    def build(self, inputs_shape, attention_mask_shape=None):
        shape = self._check_input_shape(inputs_shape)
        if self._multi_head and not self.key_dim:
            check_divides(
                self,
                "num_heads",
                self.num_heads,
                shape[-1],
                "the feature size of `inputs`",
                "`key_dim` defaults to it divided by `num_heads`: pass "
                "`key_dim` explicitly.",
            )
        cls = self._attention_class
        settings = {"dtype": self.dtype_policy, **self._weight_settings_config()}
        if self.seed is not None and takes_argument(cls, "seed"):
            settings["seed"] = self.seed
        with self._sublayer_errors(cls):
            self._attention = self._make_attention(shape[-1], "attention", **settings)
            self._attention.build(shape, shape)
        self.built = True

    # ------------------------------------------------------------------- call
    def call(
        self,
        inputs,
        mask=None,
        attention_mask=None,
        attention_bias=None,
        use_causal_mask=None,
        return_attention_scores=False,
        training=None,
    ):
        self._check_input_shape(inputs.shape)
        causal = (
            self.use_causal_mask if use_causal_mask is None else bool(use_causal_mask)
        )
        if not self._multi_head:
            attention_mask = window_mask(
                self, inputs, attention_mask, self.window, causal
            )
        with self._sublayer_errors(self._attention):
            result = self._attention(
                inputs,
                inputs,
                query_mask=mask,
                value_mask=mask,
                attention_mask=attention_mask,
                attention_bias=attention_bias,
                use_causal_mask=causal,
                return_attention_scores=return_attention_scores,
                training=training,
            )
        if not return_attention_scores or self._multi_head:
            return result
        output, weights = result
        return output, ops.expand_dims(weights, 1)

    # ------------------------------------------------------------------ Keras
    def compute_mask(self, inputs, mask=None):
        return mask

    def compute_output_shape(self, inputs_shape):
        shape = self._check_input_shape(inputs_shape)
        dim = (self.output_dim if self._multi_head else None) or shape[-1]
        return shape[:-1] + (dim,)

    def compute_output_spec(
        self, inputs, mask=None, return_attention_scores=False, **kwargs
    ):
        output = keras.KerasTensor(
            self.compute_output_shape(inputs.shape), dtype=self.compute_dtype
        )
        if not return_attention_scores:
            return output
        batch, length = inputs.shape[0], inputs.shape[1]
        weights = keras.KerasTensor(
            (batch, self.num_heads, length, length), dtype=self.compute_dtype
        )
        return output, weights

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "key_dim": self.key_dim,
                "value_dim": self.value_dim,
                "num_key_value_heads": self.num_key_value_heads,
                "score": self.score,
                "units": self.units,
                "window": self.window,
                "use_causal_mask": self.use_causal_mask,
                "dropout": self.dropout,
                "use_bias": self.use_bias,
                "output_dim": self.output_dim,
                "position_embedding": self.position_embedding,
                "rope_max_wavelength": self.rope_max_wavelength,
                **self._weight_settings_config(),
                "seed": self.seed,
            }
        )
        return config
