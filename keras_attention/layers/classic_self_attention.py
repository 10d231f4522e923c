"""The classic single-head forms of `SelfAttention` (keras-self-attention's).

`score="additive"` (alias `"concat"`), `"general"` (alias `"multiplicative"`)
and `"dot"` score the raw steps and average them without projections, one
head, through `AdditiveAttention` or `MultiplicativeAttention` called on
`(x, x)`. Those layers take no `window`: the band goes in their explicit
mask. `SelfAttention` (`layers/self_attention.py`) calls what is here.
"""

from keras import ops

from keras_attention.core.masking import band_mask, combine_masks
from keras_attention.core.validation import check_attention_mask, check_required_value
from keras_attention.core.windowed import window_extent
from keras_attention.layers.additive import AdditiveAttention
from keras_attention.layers.multiplicative import MultiplicativeAttention

# {argument of the multi-head form only: the value the classic forms need}.
MULTI_HEAD_ONLY = {
    "num_heads": 1,
    "key_dim": None,
    "value_dim": None,
    "num_key_value_heads": None,
    "output_dim": None,
    "position_embedding": None,
}


def check_classic_arguments(layer):
    """Raise unless `layer`'s multi-head arguments are unset (`MULTI_HEAD_ONLY`)."""
    for name, allowed in MULTI_HEAD_ONLY.items():
        check_required_value(
            layer,
            name,
            getattr(layer, name),
            allowed,
            f"with the classic single-head score={layer.score!r} (no projections)",
            "For projected multi-head attention with this score use "
            "MultiHeadAttention(score=...) on (x, x).",
        )


def classic_attention_class(score):
    """The layer that computes the canonical classic `score`."""
    return AdditiveAttention if score == "additive" else MultiplicativeAttention


def classic_attention(score, units, use_bias, **settings):
    """The unbuilt single-head sublayer of the canonical `score`.

    `units` sizes the additive score (`use_bias`: its `tanh` bias).
    """
    if score == "additive":
        return AdditiveAttention(units=units, use_bias=use_bias, **settings)
    return MultiplicativeAttention(score=score, **settings)


def window_mask(owner, inputs, attention_mask, window, causal):
    """The explicit mask of a classic form: `attention_mask` and the band.

    The band of `window` (`causal` or not) over the `(batch, T, dim)`
    `inputs`; `None` means no window. The sublayer checks the mask it
    receives; the one it would receive here is combined with the band, so
    it is checked first (in `owner`'s name).
    """
    if window is None:
        return attention_mask
    batch, length = inputs.shape[0], inputs.shape[1]
    check_attention_mask(owner, attention_mask, batch, length, length, heads=1)
    if attention_mask is not None and len(attention_mask.shape) == 4:
        attention_mask = attention_mask[:, 0]
    length = ops.shape(inputs)[1]
    left, right = window_extent(window, causal)
    return combine_masks(attention_mask, band_mask(length, length, left, right))
