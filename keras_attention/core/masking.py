"""Attention masks and the NaN-safe masked softmax.

Every mask in this module is boolean with `True` meaning "may attend", the
Keras convention. Masks are built from `arange` comparisons (never `tile`),
so they trace under `jit` on every backend and accept a tensor offset for
cached decoding.
"""

from keras import ops

# Added to the scores of masked keys before the softmax. Finite, so that a
# fully masked row never computes `-inf - -inf`; its weights are zeroed after.
_MASK_VALUE = -1e30


def causal_mask(query_length, key_length, offset=0):
    """Boolean `(Tq, Tk)` mask letting query `i` see keys `<= i + offset`.

    With `offset=0` the mask is aligned top-left when the lengths differ, as
    in Keras. Cached decoding passes the position of the first query in
    `offset` (a Python int or a scalar tensor).

    Args:
        query_length: number of queries (int or scalar tensor).
        key_length: number of keys (int or scalar tensor).
        offset: position of the first query among the keys.

    Returns:
        A boolean tensor of shape `(query_length, key_length)`.
    """
    rows = ops.expand_dims(ops.arange(query_length, dtype="int32"), -1)
    cols = ops.expand_dims(ops.arange(key_length, dtype="int32"), 0)
    return ops.less_equal(cols, rows + ops.cast(offset, "int32"))


def band_mask(query_length, key_length, left, right=0, offset=0):
    """Boolean `(Tq, Tk)` mask: query `i` sees keys `i + offset - left .. + right`.

    `band_mask(q, k, left=w - 1, right=0)` is a causal sliding window of `w`
    keys; `left=right=w` a symmetric window. Edges are clipped naturally.

    Args:
        query_length: number of queries.
        key_length: number of keys.
        left: how many keys before the aligned position may be seen (>= 0).
        right: how many keys after the aligned position may be seen (>= 0).
        offset: position of the first query among the keys.

    Returns:
        A boolean tensor of shape `(query_length, key_length)`.
    """
    for name, value in (("left", left), ("right", right)):
        if isinstance(value, bool) or (
            isinstance(value, (int, float)) and (value < 0 or value != int(value))
        ):
            raise ValueError(
                f"`{name}` must be a non-negative integer; received {name}={value!r}."
            )
    rows = ops.expand_dims(ops.arange(query_length, dtype="int32"), -1)
    rows = rows + ops.cast(offset, "int32")
    cols = ops.expand_dims(ops.arange(key_length, dtype="int32"), 0)
    return ops.logical_and(
        ops.greater_equal(cols, rows - left), ops.less_equal(cols, rows + right)
    )


def padding_mask(query_mask=None, value_mask=None):
    """Combine per-token padding masks into a `(batch, Tq, Tk)`-broadcastable mask.

    Args:
        query_mask: `(batch, Tq)` boolean, or `None`.
        value_mask: `(batch, Tk)` boolean, or `None`.

    Returns:
        A boolean tensor broadcastable to `(batch, Tq, Tk)`, or `None` when
        both masks are `None`.
    """
    masks = []
    if query_mask is not None:
        masks.append(ops.expand_dims(ops.cast(query_mask, "bool"), -1))
    if value_mask is not None:
        masks.append(ops.expand_dims(ops.cast(value_mask, "bool"), -2))
    return combine_masks(*masks)


def combine_masks(*masks):
    """Logical AND of broadcastable boolean masks, skipping `None`s.

    Returns:
        The combined boolean mask, or `None` when every mask is `None`.
    """
    result = None
    for mask in masks:
        if mask is None:
            continue
        mask = ops.cast(mask, "bool")
        result = mask if result is None else ops.logical_and(result, mask)
    return result


def compute_attention_mask(
    query_length,
    key_length,
    query_mask=None,
    value_mask=None,
    key_mask=None,
    attention_mask=None,
    use_causal_mask=False,
    causal_offset=0,
):
    """The one place where every mask source of a layer call is combined.

    Args:
        query_length: number of queries `Tq`.
        key_length: number of keys `Tk`.
        query_mask: `(batch, Tq)` padding mask of the query, or `None`.
        value_mask: `(batch, Tk)` padding mask of the value, or `None`.
        key_mask: `(batch, Tk)` padding mask of the key, or `None`.
        attention_mask: explicit mask of shape `(Tq, Tk)`, `(batch, Tq, Tk)`
            or `(batch, heads, Tq, Tk)`, or `None`.
        use_causal_mask: whether to add a causal mask.
        causal_offset: position of the first query (cached decoding).

    Returns:
        A boolean mask broadcastable to `(batch, [heads,] Tq, Tk)`, or `None`
        if nothing is masked.
    """
    key_padding = combine_masks(value_mask, key_mask)
    causal = (
        causal_mask(query_length, key_length, causal_offset)
        if use_causal_mask
        else None
    )
    return combine_masks(padding_mask(query_mask, key_padding), attention_mask, causal)


def masked_softmax(scores, mask=None, axis=-1):
    """Softmax over `axis` in float32 that ignores masked entries.

    Rows in which every entry is masked get all-zero weights (not the uniform
    weights of a plain softmax, and never NaN).

    Args:
        scores: float tensor of any float dtype.
        mask: boolean tensor broadcastable to `scores`, `True` = keep.
        axis: the axis to normalise over.

    Returns:
        A float32 tensor of `scores`' broadcast shape.
    """
    scores = ops.cast(scores, "float32")
    if mask is None:
        return ops.softmax(scores, axis=axis)
    mask = ops.cast(mask, "bool")
    weights = ops.softmax(ops.where(mask, scores, _MASK_VALUE), axis=axis)
    return weights * ops.cast(mask, "float32")
