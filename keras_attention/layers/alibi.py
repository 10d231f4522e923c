"""`AlibiBias`: ALiBi's linear bias added to attention scores, as a layer."""

import keras
from keras import ops

from keras_attention.core.positions import alibi_slopes
from keras_attention.core.validation import (
    ValidatedLayerMixin,
    check_positive_float,
    check_rank,
)


@keras.saving.register_keras_serializable(package="keras_attention")
class AlibiBias(ValidatedLayerMixin, keras.layers.Layer):
    r"""ALiBi (Press et al., 2022): a linear, per-head bias on attention scores.

    Head $h$ of $H$ (1-based) adds $m_h \cdot (j - (T_k - 1))$ to the score of
    key $j$, a penalty growing linearly with the key's distance from the last
    key, with the slopes a geometric sequence set by `alibi_bias_max` $b$:

    $$s'_{hij} = s_{hij} + m_h\,(j - T_k + 1), \qquad m_h = 2^{-b h / H}$$

    (for $H$ not a power of two, the slopes of the lower power of two are
    completed with every other slope of the higher one). The arguments, the
    call and the numbers are keras-hub's `AlibiBias`. In causal attention,
    where query $i$ sees keys $j \le i$, the bias differs from the paper's
    $-m_h (i - j)$ (what `MultiHeadAttention(position_embedding="alibi")`
    adds, from `keras_attention.core.positions.alibi_bias`) by a constant per
    query, so the attention weights are the same. The bias is computed in
    float32 and added to the scores in float32; the output has the scores'
    dtype. The layer has no weights.

    Args:
        alibi_bias_max (float): $b$, the exponent that sets the slopes (`8` in
            the paper): head $h$'s slope is $2^{-b h / H}$.
        **kwargs (Any): base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        attention_scores (Tensor):
            `(batch, num_heads, query_length, key_length)` scores (before the
            softmax).

    Returns:
        The biased scores, of the same shape and dtype.

    Example:

    ```python
    import numpy as np
    import keras_attention

    scores = np.zeros((2, 4, 5, 5), "float32")  # (batch, heads, Tq, Tk)
    biased = keras_attention.AlibiBias()(scores)
    assert biased.shape == (2, 4, 5, 5)
    # Head 1 of 4: slope 2^(-8/4) = 0.25; the last key gets no bias.
    np.testing.assert_allclose(biased[0, 0, 0], [-1.0, -0.75, -0.5, -0.25, 0.0])
    ```
    """

    def __init__(self, alibi_bias_max=8, **kwargs):
        super().__init__(**kwargs)
        self.alibi_bias_max = check_positive_float(
            self, "alibi_bias_max", alibi_bias_max
        )
        if float(alibi_bias_max).is_integer():
            self.alibi_bias_max = int(alibi_bias_max)
        self.built = True

    def slopes(self, num_heads):
        """The `num_heads` slopes $m_h$, as a Python list of floats."""
        # alibi_slopes has b = 8: each slope is 2^(-8 k / n), so raising it to
        # b / 8 gives 2^(-b k / n), the same sequence for any b.
        return [s ** (self.alibi_bias_max / 8.0) for s in alibi_slopes(num_heads)]

    def _check(self, shape, heads_known=True):
        check_rank(
            self,
            "attention_scores",
            shape,
            (4,),
            "(batch, num_heads, query_length, key_length)",
        )
        if heads_known and shape[1] is None:
            raise ValueError(
                f"{type(self).__name__}: the heads axis (1) of "
                f"`attention_scores` must be known; received shape {shape}."
            )

    def call(self, attention_scores):
        shape = tuple(attention_scores.shape)
        self._check(shape)
        key_length = ops.shape(attention_scores)[-1]
        slopes = ops.convert_to_tensor(self.slopes(shape[1]), "float32")
        distance = ops.cast(ops.arange(key_length) - (key_length - 1), "float32")
        bias = ops.reshape(slopes, (1, -1, 1, 1)) * ops.reshape(distance, (1, 1, 1, -1))
        scores = ops.cast(attention_scores, "float32") + bias
        return ops.cast(scores, attention_scores.dtype)

    def compute_output_shape(self, input_shape):
        self._check(tuple(input_shape), heads_known=False)
        return tuple(input_shape)

    def compute_output_spec(self, attention_scores):
        # The number of heads may be unknown until the layer runs.
        shape = self.compute_output_shape(attention_scores.shape)
        return keras.KerasTensor(shape, dtype=attention_scores.dtype)

    def get_config(self):
        config = super().get_config()
        config.update({"alibi_bias_max": self.alibi_bias_max})
        return config
