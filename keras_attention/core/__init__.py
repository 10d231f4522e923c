"""The functional core every layer calls: masks, scores, attention."""

from keras_attention.core.attend import attend, fused_attention
from keras_attention.core.fused_window import fused_sliding_window_attention
from keras_attention.core.masking import (
    band_mask,
    causal_mask,
    combine_masks,
    compute_attention_mask,
    masked_softmax,
    padding_mask,
)
from keras_attention.core.positions import alibi_bias, alibi_slopes, rotate_half
from keras_attention.core.scores import (
    additive_score,
    dot_score,
    general_score,
    location_score,
    scaled_dot_score,
)
from keras_attention.core.windowed import (
    blocked_window_is_cheaper,
    reference_sliding_window_attention,
    sliding_window_attention,
)

__all__ = [
    "additive_score",
    "alibi_bias",
    "alibi_slopes",
    "attend",
    "band_mask",
    "blocked_window_is_cheaper",
    "causal_mask",
    "combine_masks",
    "compute_attention_mask",
    "dot_score",
    "fused_attention",
    "fused_sliding_window_attention",
    "general_score",
    "location_score",
    "masked_softmax",
    "padding_mask",
    "reference_sliding_window_attention",
    "rotate_half",
    "scaled_dot_score",
    "sliding_window_attention",
]
