"""The one place that chooses how multi-head attention is computed.

`attention` takes projected, heads-first queries, keys and values
(`(batch, heads, T, d)`, the one layout of every kernel), the mask parts
(padding, `attention_mask`, causal with an offset, a window), an additive
bias, a score and dropout, and runs one of three kernels:

- **blocked window**: a sliding window over equal lengths, when scoring
  blocks is cheaper than the full `(Tq, Tk)` scores
  (`core.windowed.use_blocked_window`) and nothing needs those (no weights
  returned, no `attention_mask` or bias, no cache): the backend's fused
  windowed kernel on a GPU (`core.fused_window`), else the blocked
  `keras.ops` form (`core.windowed.sliding_window_attention`), `O(T * w)`;
- **fused**: `keras.ops.dot_product_attention` (`core.attend.fused_attention`)
  for the scaled dot score when no weights are returned, no dropout is
  active and no positional bias is needed, except where the explicit form
  is faster (`core._backend.explicit_beats_fused`: JAX on a CPU, eager
  TensorFlow on a CPU);
- **explicit**: scores, masked float32 softmax, dropout and `weights @ v`
  (`core.attend.attend`), for every score and option.

`choose_kernel` makes the choice and says it; `attention` runs it. All
three give the same numbers up to float rounding (zeros for fully masked
rows), which the tests check path by path.
"""

import collections
import math

from keras import ops

from keras_attention.core import _backend
from keras_attention.core.attend import attend, fused_attention
from keras_attention.core.fused_window import fused_sliding_window_attention
from keras_attention.core.masking import (
    band_mask,
    combine_masks,
    compute_attention_mask,
    zero_rows,
)
from keras_attention.core.positions import query_key_distance
from keras_attention.core.scores import scaled_dot_score
from keras_attention.core.windowed import (
    sliding_window_attention,
    use_blocked_window,
    window_extent,
)

KERNELS = ("blocked_window", "fused", "explicit")


def window_band(window, causal):
    """`(left, right)` key reach of a window (`None`: no window).

    `window` is the library's: the `window` most recent keys with a causal
    mask (`(window - 1, 0)`), `window` keys on each side without
    (`(window, window)`). Keras' `sliding_window=w` is `(w - 1, w - 1)`
    (then cut by the causal mask): see `keras_band`.
    """
    return None if window is None else window_extent(window, causal)


def keras_band(sliding_window, causal):
    """The band of Keras 3.15's `MultiHeadAttention(sliding_window=w)`.

    Keys within `w - 1` positions on either side, then the causal mask: a
    causal `sliding_window=w` is the library's `window=w`.
    """
    if sliding_window is None:
        return None
    reach = sliding_window - 1
    return (reach, 0) if causal else (reach, reach)


def layer_band(window, sliding_window, causal):
    """The band of the library's `window` or Keras' `sliding_window` (one of
    them set, or neither: `None`)."""
    if sliding_window is not None:
        return keras_band(sliding_window, causal)
    return window_band(window, causal)


def _blocked_window(band, causal):
    """The `window` of `sliding_window_attention` for `band`, or `None`."""
    left, right = band
    if causal and right == 0:
        return left + 1
    if not causal and left == right and left >= 1:
        return left
    return None


def choose_kernel(
    query,
    key,
    *,
    scaled_dot=True,
    allow_fused=True,
    band=None,
    causal=False,
    attention_mask=None,
    bias=None,
    distance_bias=None,
    dropout=False,
    return_weights=False,
    cached=False,
    same_length=False,
):
    """The kernel `attention` runs for these arguments: one of `KERNELS`."""
    if (
        band is not None
        and scaled_dot
        and not (return_weights or cached)
        and attention_mask is None
        and bias is None
    ):
        window = _blocked_window(band, causal)
        if window is not None and use_blocked_window(
            query.shape[2],
            key.shape[2],
            window,
            causal=causal,
            same_length=same_length,
        ):
            return "blocked_window"
    if (
        scaled_dot
        and allow_fused
        and not (return_weights or dropout)
        and distance_bias is None
        and not _backend.explicit_beats_fused(query)
    ):
        return "fused"
    return "explicit"


def attention(
    query,
    key,
    value,
    *,
    score_fn=None,
    scale=None,
    query_mask=None,
    key_mask=None,
    attention_mask=None,
    bias=None,
    causal=False,
    causal_offset=0,
    band=None,
    distance_bias=None,
    dropout_fn=None,
    return_weights=False,
    same_length=False,
    allow_fused=True,
):
    """Multi-head attention over projected, heads-first inputs.

    Args:
        query (Tensor): `(batch, heads, Tq, d)`.
        key (Tensor): `(batch, kv_heads, Tk, d)`; `kv_heads` divides `heads`
            (grouped-query attention).
        value (Tensor): `(batch, kv_heads, Tk, dv)`.
        score_fn (Callable | None): `score_fn(query, key) -> (batch, heads, Tq, Tk)`
            float32 scores, or `None` for the scaled dot product (the only score the
            fused kernels compute).
        scale (float | None): the scaled dot product's multiplier (default `1/sqrt(d)`).
        query_mask (Tensor | None): boolean `(batch, Tq)` or `None`.
        key_mask (Tensor | None): boolean `(batch, Tk)` (value and key masks combined).
        attention_mask (Tensor | None): boolean, broadcastable to the scores.
        bias (Tensor | None): float32, broadcastable to the scores, added to them.
        causal (bool): query `i` sees keys `<= i + causal_offset`.
        causal_offset (int | Tensor): position of the first query (cached decoding; a
            nonzero offset means the keys are a cache).
        band (tuple[int, int] | None): `(left, right)`: query `i` sees keys
            `i + offset - left .. i + offset + right` (see `window_band`,
            `keras_band`), or `None`.
        distance_bias (Callable | None): `fn(distance, causal) -> (heads, Tq, Tk)`
            float32 bias from query-key distances (`core.positions`), or `None`.
        dropout_fn (Callable | None): the active dropout of the float32 weights.
        return_weights (bool): also return the weights.
        same_length (bool): the caller knows `Tq == Tk` (self-attention) even
            where a length is unknown.
        allow_fused (bool): `False` keeps the fused kernels out (explicit weights or
            the blocked window only).

    Returns:
        `(output, weights)`: `(batch, heads, Tq, dv)` in `value`'s dtype,
        and float32 `(batch, heads, Tq, Tk)` weights or `None`.
    """
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    keys = _KeyMasks(key_mask, attention_mask, band, causal, causal_offset)
    kernel = choose_kernel(
        query,
        key,
        scaled_dot=score_fn is None,
        allow_fused=allow_fused,
        band=band,
        causal=causal,
        attention_mask=attention_mask,
        bias=bias,
        distance_bias=distance_bias,
        dropout=dropout_fn is not None,
        return_weights=return_weights,
        cached=keys.cached,
        same_length=same_length,
    )
    if kernel == "blocked_window":
        window = _blocked_window(band, causal)
        masks = (query_mask, key_mask, distance_bias, dropout_fn)
        return _blocked(query, key, value, window, causal, scale, masks, allow_fused)
    if kernel == "fused":
        return _fused_masked(query, key, value, keys, bias, scale, query_mask), None
    scoring = (score_fn, scale, bias, distance_bias)
    args = (keys, query_mask, scoring, dropout_fn, return_weights)
    return _explicit(query, key, value, *args)


class _KeyMasks(
    collections.namedtuple(
        "_KeyMasks", "key_mask attention_mask band causal causal_offset"
    )
):
    """What restricts the keys each query sees (all but query padding)."""

    @property
    def cached(self):
        """A nonzero causal offset: the keys are a KV cache."""
        offset = self.causal_offset
        return not (isinstance(offset, int) and offset == 0)

    def mask(self, query, key):
        """One boolean mask, broadcastable to `(batch, heads, Tq, Tk)`."""
        lengths = ops.shape(query)[2], ops.shape(key)[2]
        mask = compute_attention_mask(
            *lengths,
            value_mask=self.key_mask,
            use_causal_mask=self.causal,
            causal_offset=self.causal_offset,
        )
        if mask is not None and len(mask.shape) == 3:
            mask = ops.expand_dims(mask, 1)
        if self.band is not None:
            band = band_mask(*lengths, *self.band, self.causal_offset)
            mask = combine_masks(mask, band)
        return combine_masks(mask, self.attention_mask)


def zero_query_rows(output, query_mask):
    """Heads-first `(batch, heads, Tq, d)` outputs, zero at padded queries."""
    if query_mask is None:
        return output
    return zero_rows(output, ops.cast(query_mask, "bool")[:, None, :, None])


def _causal_only(query, key, keys, bias):
    """A plain causal mask over equal, known lengths and nothing else."""
    return (
        keys.causal
        and not keys.cached
        and all(m is None for m in (keys.key_mask, keys.attention_mask, keys.band))
        and bias is None
        and query.shape[2] is not None
        and query.shape[2] == key.shape[2]
    )


def _repeat_kv_heads(query, key, value):
    groups = query.shape[1] // key.shape[1]
    if groups > 1:
        key = ops.repeat(key, groups, axis=1)
        value = ops.repeat(value, groups, axis=1)
    return key, value


def _blocked(query, key, value, window, causal, scale, masks, allow_fused):
    """Sliding-window self-attention: a fused GPU kernel, else blockwise.

    `masks` is `(query_mask, key_mask, distance_bias, dropout_fn)`.
    """
    query_mask, key_mask, distance_bias, dropout_fn = masks
    if query_mask is None and key_mask is None and distance_bias is None:
        if dropout_fn is None and allow_fused:
            keras_layout = [ops.transpose(x, (0, 2, 1, 3)) for x in (query, key, value)]
            output = fused_sliding_window_attention(
                *keras_layout, window, causal=causal, scale=scale
            )
            if output is not None:
                return ops.transpose(output, (0, 2, 1, 3)), None
    key, value = _repeat_kv_heads(query, key, value)
    output = sliding_window_attention(
        query,
        key,
        value,
        window,
        causal=causal,
        scale=scale,
        query_mask=query_mask,
        key_mask=key_mask,
        distance_bias=distance_bias,
        dropout_fn=dropout_fn,
    )
    return output, None


def _fused(query, key, value, mask, bias, scale, is_causal=False, query_mask=None):
    """`fused_attention` in Keras' layout, value heads padded to key heads."""
    key_dim, value_dim = query.shape[-1], value.shape[-1]
    size = max(key_dim, value_dim)

    def keras_layout(x):
        x = ops.transpose(x, (0, 2, 1, 3))
        if x.shape[-1] == size:
            return x
        return ops.pad(x, [[0, 0], [0, 0], [0, 0], [0, size - x.shape[-1]]])

    output = fused_attention(
        *(keras_layout(x) for x in (query, key, value)),
        mask=mask,
        scale=scale,
        is_causal=is_causal,
        bias=bias,
        query_mask=query_mask,
    )
    return ops.transpose(output[..., :value_dim], (0, 2, 1, 3))


def _fused_masked(query, key, value, keys, bias, scale, query_mask):
    """The fused kernel under the key masks; padded queries zeroed after it.

    Query padding is not folded into the kernel's mask: for padding alone it
    stays `(batch, 1, 1, Tk)` (PyTorch makes a float copy of the whole mask).
    The kernel zeroes the padded queries in the `where` of its empty-row guard.
    """
    if _causal_only(query, key, keys, bias):
        # The kernel builds the mask itself (flash-friendly).
        return _fused(
            query, key, value, None, None, scale, is_causal=True, query_mask=query_mask
        )
    mask = keys.mask(query, key)
    return _fused(query, key, value, mask, bias, scale, query_mask=query_mask)


def _explicit(query, key, value, keys, query_mask, scoring, dropout_fn, return_weights):
    """Scores, the masked float32 softmax, dropout and `weights @ v`.

    `scoring` is `(score_fn, scale, bias, distance_bias)`.
    """
    score_fn, scale, bias, distance_bias = scoring
    mask = keys.mask(query, key)
    if query_mask is not None and return_weights:
        # The weights of padded queries are zeros too; without the weights,
        # their outputs are zeroed after (the mask stays `(batch, 1, 1, Tk)`).
        mask = combine_masks(mask, query_mask[:, None, :, None])
    if distance_bias is not None:
        lengths = ops.shape(query)[2], ops.shape(key)[2]
        distance = query_key_distance(*lengths, keys.causal_offset)
        positional = distance_bias(distance, keys.causal)[None]
        bias = positional if bias is None else bias + positional
    key, value = _repeat_kv_heads(query, key, value)

    def scores(q, k):
        if score_fn is None:
            return scaled_dot_score(q, k, scale)
        return score_fn(q, k)

    result = attend(
        query,
        key,
        value,
        scores,
        mask=mask,
        dropout_fn=dropout_fn,
        return_weights=return_weights,
        bias=bias,
    )
    if return_weights:
        return result
    return zero_query_rows(result, query_mask), None
