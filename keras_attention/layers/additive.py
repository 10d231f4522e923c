"""Additive (Bahdanau) attention."""

import keras
from keras import ops

from keras_attention.core.scores import additive_score
from keras_attention.core.validation import check_positive_int
from keras_attention.layers.base import BaseAttention
from keras_attention.layers.shared_docs import fill_docstring


@keras.saving.register_keras_serializable(package="keras_attention")
@fill_docstring
class AdditiveAttention(BaseAttention):
    r"""Additive attention (Bahdanau et al., 2015), also known as `BahdanauAttention`.

    Each query $q_i$ scores each key $k_j$ with a one-hidden-layer network,
    and the output is the weighted average of the values:

    $$e_{ij} = v^\top \tanh(W_q q_i + W_k k_j + b), \qquad
    a_{ij} = \frac{\exp e_{ij}}{\sum_{j'} \exp e_{ij'}}, \qquad
    o_i = \sum_j a_{ij} v_j.$$

    With `normalize=True`, $v$ is weight-normalised as in Salimans & Kingma
    (2016) and TensorFlow Addons: $v \leftarrow g\,v / \lVert v \rVert$ with a
    learned scalar $g$.

    The score materialises a `(batch, Tq, Tk, units)` tensor. For long inputs
    set `query_chunk_size`: queries are then processed in chunks and only one
    chunk's `(batch, query_chunk_size, Tk, units)` tensor is alive at a time.

    Masked keys get zero weight. Rows whose keys are all masked (including
    masked query positions) get all-zero weights and a zero output, where
    `keras.layers.AdditiveAttention` would give uniform weights.

    {{inert_padding}}

    Args:
        units (int): size of the hidden layer ($W_q$, $W_k$ project to `units`).
        use_bias (bool): whether to add the bias $b$ inside the `tanh`.
        normalize (bool): whether to weight-normalise $v$.
        {{dropout_arguments}}
        kernel_initializer (str | keras.initializers.Initializer): initializer
            of $W_q$, $W_k$ and $v$ (default `"glorot_uniform"`);
            `kernel_regularizer` and `kernel_constraint` apply to them too.
        bias_initializer (str | keras.initializers.Initializer): initializer of
            $b$ (default `"zeros"`); `bias_regularizer` and `bias_constraint`
            apply to it too.
        **kwargs (Any): base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        query (Tensor): `(batch, Tq, dq)`, or `(batch, dq)` for a single decoder
            step.
        value (Tensor): `(batch, Tv, dv)`.
        key (Tensor | None): optional `(batch, Tv, dk)`; defaults to `value`.
        query_mask (Tensor | None): optional boolean `(batch, Tq)` (or
            `(batch,)` for a single step); filled from the query's Keras mask.
        {{mask_arguments}}

    {{attention_returns}}

    Example:

    ```python
    import numpy as np
    import keras_attention

    decoder_states = np.random.rand(2, 5, 16).astype("float32")
    encoder_outputs = np.random.rand(2, 7, 32).astype("float32")
    attention = keras_attention.AdditiveAttention(units=8)
    context, weights = attention(
        decoder_states, encoder_outputs, return_attention_scores=True
    )
    assert context.shape == (2, 5, 32) and weights.shape == (2, 5, 7)
    ```
    """

    def __init__(self, units, use_bias=True, normalize=False, **kwargs):
        super().__init__(**kwargs)
        self.units = check_positive_int(self, "units", units)
        self.use_bias = bool(use_bias)
        self.normalize = bool(normalize)

    def build_score(self, query_dim, key_dim, value_dim):
        self.query_kernel = self.add_kernel("query_kernel", (query_dim, self.units))
        self.key_kernel = self.add_kernel("key_kernel", (key_dim, self.units))
        self.attention_v = self.add_kernel("attention_v", (self.units,))
        self.bias = self.add_bias("bias", (self.units,)) if self.use_bias else None
        self.attention_g = None
        if self.normalize:
            self.attention_g = self.add_weight(
                name="attention_g",
                shape=(),
                initializer=keras.initializers.Constant((1.0 / self.units) ** 0.5),
            )

    def project(self, query, key):
        return ops.matmul(query, self.query_kernel), ops.matmul(key, self.key_kernel)

    def score(self, query, key):
        v = ops.cast(self.attention_v, "float32")
        if self.normalize:
            g = ops.cast(self.attention_g, "float32")
            v = g * v / ops.sqrt(ops.sum(ops.square(v)) + 1e-12)
        return additive_score(query, key, v, bias=self.bias)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "use_bias": self.use_bias,
                "normalize": self.normalize,
            }
        )
        return config


BahdanauAttention = AdditiveAttention
