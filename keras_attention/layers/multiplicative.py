"""Multiplicative (Luong) attention."""

import math

import keras
from keras import ops

from keras_attention.core import dispatch
from keras_attention.core.masking import pairwise_4d
from keras_attention.core.scores import SCORES as SCORE_REGISTRY
from keras_attention.core.scores import resolve_score
from keras_attention.core.validation import check_positive_int
from keras_attention.layers.base import BaseAttention
from keras_attention.layers.shared_docs import fill_docstring


def _fits(length, max_length):
    return length is None or length <= max_length


# The canonical scores this layer computes (`"concat"` is `"additive"`).
SCORES = ("dot", "scaled_dot", "general", "additive", "location")


@keras.saving.register_keras_serializable(package="keras_attention")
@fill_docstring
class MultiplicativeAttention(BaseAttention):
    r"""Multiplicative attention (Luong et al., 2015), also known as `LuongAttention`.

    A query $h_t$ scores each key $\bar h_s$ with one of Luong's score
    functions, and the output is the weighted average of the values:

    $$\mathrm{score}(h_t, \bar h_s) = \begin{cases}
    h_t^\top \bar h_s & \texttt{"dot"} \\
    h_t^\top \bar h_s / \sqrt{d} & \texttt{"scaled\_dot"} \\
    h_t^\top W_a \bar h_s & \texttt{"general"} \\
    v_a^\top \tanh(W_a [h_t; \bar h_s]) & \texttt{"concat"} \\
    (W_a h_t)_s & \texttt{"location"}
    \end{cases}$$

    $$a_{ts} = \mathrm{softmax}_s\big(g \cdot \mathrm{score}(h_t, \bar h_s)\big),
    \qquad c_t = \sum_s a_{ts} v_s,$$

    where $g$ is a learned scalar when `use_scale=True` (1 otherwise). The
    `"location"` score ignores the keys (Luong's eq. 8) and needs the
    longest source length, `max_length`, to size $W_a$.

    With `"dot"` or `"scaled_dot"`, no `use_scale`, no active dropout and no
    weights requested, the layer calls `keras.ops.dot_product_attention`, so
    each backend's fused kernel runs.

    Masked keys get zero weight. Rows whose keys are all masked (including
    masked query positions) get all-zero weights and a zero output, where
    `keras.layers.Attention` would give uniform weights.

    {{inert_padding}}

    Args:
        score (str): one of `"dot"`, `"scaled_dot"`, `"general"` (alias
            `"multiplicative"`), `"concat"` (alias `"additive"`), `"location"`.
        use_scale (bool): whether to multiply the scores by a learned scalar $g$
            (initialised to 1).
        units (int | None): hidden size of the `"concat"` score (default: the
            key size).
        max_length (int | None): `"location"` only: the largest number of keys.
        {{dropout_arguments}}
        kernel_initializer (str | keras.initializers.Initializer): initializer
            of $W_a$ and $v_a$ (default `"glorot_uniform"`);
            `kernel_regularizer` and `kernel_constraint` apply to them too.
        **kwargs (Any): base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        query (Tensor): `(batch, Tq, dq)`, or `(batch, dq)` for a single decoder
            step.
        value (Tensor): `(batch, Tv, dv)`.
        key (Tensor | None): optional `(batch, Tv, dk)`; defaults to `value`.
            `"dot"` and `"scaled_dot"` need `dq == dk`.
        query_mask (Tensor | None): optional boolean `(batch, Tq)`; filled from
            the query's Keras mask.
        {{mask_arguments}}

    {{attention_returns}}

    Example:

    ```python
    import numpy as np
    import keras_attention

    decoder_state = np.random.rand(2, 16).astype("float32")  # one step
    encoder_outputs = np.random.rand(2, 7, 32).astype("float32")
    attention = keras_attention.MultiplicativeAttention(score="general")
    context, weights = attention(
        decoder_state, encoder_outputs, return_attention_scores=True
    )
    assert context.shape == (2, 32) and weights.shape == (2, 7)
    ```
    """

    def __init__(
        self,
        score="dot",
        use_scale=False,
        units=None,
        max_length=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.score_name = score
        self._score = resolve_score(self, score, SCORES)
        self.use_scale = bool(use_scale)
        self.units = check_positive_int(self, "units", units, allow_none=True)
        self.max_length = check_positive_int(
            self, "max_length", max_length, allow_none=True
        )
        if score == "location" and max_length is None:
            raise ValueError(
                "`max_length` is required with score='location' (it sizes the "
                "location weights W_a); received max_length=None."
            )

    def check_shapes(self, query_shape, key_shape, value_shape):
        query_dim, key_dim = query_shape[-1], key_shape[-1]
        if self._score == "location" and not _fits(value_shape[1], self.max_length):
            raise ValueError(
                f"MultiplicativeAttention(score='location') was built for "
                f"max_length={self.max_length} keys; received `value` of shape "
                f"{tuple(value_shape)}."
            )
        if self._score in ("dot", "scaled_dot") and not (
            query_dim is None or key_dim is None or query_dim == key_dim
        ):
            raise ValueError(
                f"MultiplicativeAttention(score={self.score_name!r}) needs "
                f"`query` and `key` with the same last dimension; received "
                f"{query_dim} and {key_dim}. Use score='general' or 'concat' "
                f"for different sizes."
            )

    def build_score(self, query_dim, key_dim, value_dim):
        if self._score == "general":
            self.kernel = self.add_kernel("kernel", (query_dim, key_dim))
        elif self._score == "additive":
            units = self.units or key_dim
            self.query_kernel = self.add_kernel("query_kernel", (query_dim, units))
            self.key_kernel = self.add_kernel("key_kernel", (key_dim, units))
            self.attention_v = self.add_kernel("attention_v", (units,))
        elif self._score == "location":
            self.kernel = self.add_kernel("kernel", (query_dim, self.max_length))
        self.scale = None
        if self.use_scale:
            self.scale = self.add_weight(name="scale", shape=(), initializer="ones")

    def project(self, query, key):
        if self._score == "additive":
            return (
                ops.matmul(query, self.query_kernel),
                ops.matmul(key, self.key_kernel),
            )
        return query, key

    def score(self, query, key):
        function = SCORE_REGISTRY[self._score].function
        if self._score in ("dot", "scaled_dot"):
            scores = function(query, key)
        elif self._score == "general":
            scores = function(query, key, self.kernel)
        elif self._score == "additive":
            scores = function(query, key, self.attention_v)
        else:
            scores = function(query, self.kernel, ops.shape(key)[-2])
        if self.use_scale:
            scores = scores * ops.cast(self.scale, "float32")
        return scores

    def can_fuse(self, training, return_attention_scores):
        return (
            self._score in ("dot", "scaled_dot")
            and not self.use_scale
            and not return_attention_scores
            and not (self.dropout > 0 and training)
        )

    def fused_call(self, query, key, value, mask, bias=None):
        scale = 1.0 if self._score == "dot" else 1.0 / math.sqrt(key.shape[-1])

        output, _ = dispatch.attention(
            *(ops.expand_dims(x, 1) for x in (query, key, value)),
            scale=scale,
            attention_mask=None if mask is None else pairwise_4d(mask),
            bias=None if bias is None else pairwise_4d(bias),
        )
        return ops.squeeze(output, 1)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "score": self.score_name,
                "use_scale": self.use_scale,
                "units": self.units,
                "max_length": self.max_length,
            }
        )
        return config


LuongAttention = MultiplicativeAttention
