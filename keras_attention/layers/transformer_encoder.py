"""`TransformerEncoder`: self-attention and a feed-forward network, as in keras-hub."""

import keras

from keras_attention.layers.shared_docs import fill_docstring
from keras_attention.layers.transformer_block import BlockBase


@keras.saving.register_keras_serializable(package="keras_attention")
@fill_docstring
class TransformerEncoder(BlockBase):
    r"""A Transformer encoder block: self-attention and a feed-forward network.

    Post-norm (Vaswani et al., 2017), or pre-norm with `normalize_first=True`:

    $$h = \mathrm{LN}(x + \mathrm{MHA}(x, x)), \quad
    y = \mathrm{LN}(h + W_2\,\phi(W_1 h)) \qquad \text{(post-norm)}$$

    $$h = x + \mathrm{MHA}(\mathrm{LN}(x)), \quad
    y = h + W_2\,\phi(W_1\,\mathrm{LN}(h)) \qquad \text{(pre-norm)}$$

    Args:
        {{transformer_arguments}}

    Call arguments:
        inputs (Tensor): `(batch, length, hidden)`.
        padding_mask (Tensor | None): optional boolean `(batch, length)`, `True`
            = token. Filled from the inputs' Keras mask (`mask_zero=True`
            embeddings) when not given.
        attention_mask (Tensor | None): optional boolean `(batch, length,
            length)`; a float mask raises a `TypeError`.
        use_causal_mask (bool): causal self-attention.
        training (bool | None): whether dropout is active.
        return_attention_scores (bool): also return the self-attention weights,
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
        self._build_attention("self_attention", inputs_shape, inputs_shape, hidden)
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

        x, scores = self._residual("self_attention", inputs, attention, training)
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
