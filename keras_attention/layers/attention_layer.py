"""`AttentionLayer`: the Keras contract shared by every attention layer.

It validates the masks, `attention_mask` and `attention_bias` of a call,
packs the outputs and their symbolic specs, and passes the query's Keras
mask on. The single-head mechanisms build on it through `BaseAttention`
(`layers/base.py`), `MultiHeadAttention` through `HeadProjections`
(`layers/head_projections.py`).
"""

import keras

from keras_attention.core.validation import (
    ValidatedLayerMixin,
    check_attention_bias,
    check_attention_mask,
    check_mask,
)
from keras_attention.layers.weight_settings import WeightSettingsMixin


def pack(results):
    """A layer's outputs: the output alone, or a tuple with what follows it."""
    results = list(results)
    return results[0] if len(results) == 1 else tuple(results)


class AttentionLayer(ValidatedLayerMixin, WeightSettingsMixin, keras.layers.Layer):
    """The base of every attention layer: call validation, output packing, specs.

    Subclasses call `check_masks` at the start of `call` and `pack` /
    `output_specs` at its end; the output is aligned with the query, so it
    keeps the query's Keras mask.
    """

    def check_masks(self, query, value, key, masks, attention, heads, key_length):
        """Check `(query_mask, value_mask, key_mask)` and `(attention_mask,
        attention_bias)` against `(batch, Tq, dim)` queries and `(batch, Tv,
        dim)` values/keys; `key_length` is what the pairwise ones cover.

        A rank-2 query (one decoder step) takes a `(batch,)` or `(batch, 1)`
        `query_mask`.
        """
        batch = query.shape[0]
        query_length = query.shape[1] if len(query.shape) == 3 else 1
        expected = (batch, query_length)
        if len(query.shape) == 2 and masks[0] is not None and len(masks[0].shape) == 1:
            expected = (batch,)
        check_mask(self, "query_mask", masks[0], expected)
        check_mask(self, "value_mask", masks[1], (batch, value.shape[1]))
        check_mask(self, "key_mask", masks[2], (batch, key.shape[1]))
        checks = (check_attention_mask, check_attention_bias)
        for check, x in zip(checks, attention, strict=True):
            check(self, x, batch, query_length, key_length, heads=heads)

    def output_specs(self, output_shape, *extra_shapes, dtypes=()):
        """`pack`ed `keras.KerasTensor` specs (in the compute dtype unless
        `dtypes` gives one per extra shape)."""
        dtypes = tuple(dtypes) or (self.compute_dtype,) * len(extra_shapes)
        specs = [keras.KerasTensor(output_shape, dtype=self.compute_dtype)]
        for shape, dtype in zip(extra_shapes, dtypes, strict=True):
            specs.append(keras.KerasTensor(shape, dtype=dtype))
        return pack(specs)

    def compute_mask(self, inputs, previous_mask=None):
        # The output is aligned with the query: it keeps the query's mask.
        return previous_mask
