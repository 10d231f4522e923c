"""Attention masks, the NaN-safe masked softmax, and inert padding.

Every mask in this module is boolean with `True` meaning "may attend", the
Keras convention. Masks are built from `arange` comparisons (never `tile`),
so they trace under `jit` on every backend and accept a tensor offset for
cached decoding.

Padding is inert: `inert_padding` replaces what masked positions hold by
zeros before any kernel sees them. A zero weight alone is not enough, since
`0 * NaN` is NaN in `weights @ value` and in every gradient through it.
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
        query_length (int | Tensor): number of queries (int or scalar tensor).
        key_length (int | Tensor): number of keys (int or scalar tensor).
        offset (int | Tensor): position of the first query among the keys.

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
        query_length (int | Tensor): number of queries.
        key_length (int | Tensor): number of keys.
        left (int): how many keys before the aligned position may be seen (>= 0).
        right (int): how many keys after the aligned position may be seen (>= 0).
        offset (int | Tensor): position of the first query among the keys.

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
        query_mask (Tensor | None): `(batch, Tq)` boolean, or `None`.
        value_mask (Tensor | None): `(batch, Tk)` boolean, or `None`.

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


def sequence_mask(lengths, max_length):
    """`(batch, max_length)` mask of the first `lengths[b]` positions.

    As `tf.sequence_mask`: `True` at positions `< lengths` (`(batch,)`
    integers), e.g. TF Addons' `memory_sequence_length`.
    """
    lengths = ops.convert_to_tensor(lengths)
    positions = ops.arange(max_length, dtype=lengths.dtype)
    return ops.less(ops.expand_dims(positions, 0), ops.expand_dims(lengths, 1))


def window_around(centres, key_length, width):
    """The keys within `width` of real-valued query positions (Luong's local window).

    Args:
        centres (Tensor): float32 `(batch, Tq)` positions `p_i` in the keys.
        key_length (int | Tensor): `Tk`.
        width (float): `D`: key `j` is in the window of query `i` when
            `|j - p_i| <= D`.

    Returns:
        `(mask, distance)`: the boolean window `(batch, Tq, Tk)` and the
        float32 distances `j - p_i` of the same shape.
    """
    sources = ops.cast(ops.arange(key_length), "float32")
    distance = sources[None, None, :] - centres[:, :, None]
    return ops.less_equal(ops.abs(distance), width), distance


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
        query_length (int | Tensor): number of queries `Tq`.
        key_length (int | Tensor): number of keys `Tk`.
        query_mask (Tensor | None): `(batch, Tq)` padding mask of the query, or `None`.
        value_mask (Tensor | None): `(batch, Tk)` padding mask of the value, or `None`.
        key_mask (Tensor | None): `(batch, Tk)` padding mask of the key, or `None`.
        attention_mask (Tensor | None): explicit mask of shape `(Tq, Tk)`, `(batch, Tq,
            Tk)` or `(batch, heads, Tq, Tk)`, or `None`.
        use_causal_mask (bool): whether to add a causal mask.
        causal_offset (int | Tensor): position of the first query (cached decoding).

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


def masked_softmax(scores, mask=None, axis=-1, zero_empty_rows=True):
    """Softmax over `axis` in float32 that ignores masked entries.

    Rows in which every entry is masked get all-zero weights (not the uniform
    weights of a plain softmax, and never NaN). Masked entries of the other
    rows are exact zeros anyway, so a caller that zeroes the empty rows'
    outputs itself may skip that pass over the weights (`zero_empty_rows`).

    Args:
        scores (Tensor): float tensor of any float dtype.
        mask (Tensor | None): boolean tensor broadcastable to `scores`, `True` = keep.
        axis (int): the axis to normalise over.
        zero_empty_rows (bool): zero the rows without a kept entry (else they
            hold uniform weights, finite).

    Returns:
        A float32 tensor of `scores`' broadcast shape.
    """
    scores = ops.cast(scores, "float32")
    if mask is None:
        return ops.softmax(scores, axis=axis)
    mask = ops.cast(mask, "bool")
    weights = ops.softmax(ops.where(mask, scores, _MASK_VALUE), axis=axis)
    if not zero_empty_rows:
        return weights
    return weights * ops.cast(mask, "float32")


def pairwise_4d(x):
    """A `(Tq, Tk)` or `(batch, Tq, Tk)` mask or bias as `(b|1, h|1, Tq, Tk)`."""
    if len(x.shape) == 2:
        return x[None, None]
    if len(x.shape) == 3:
        return ops.expand_dims(x, 1)
    return x


def _any_over(attention_mask, axes_by_rank):
    """`any` of `attention_mask` over `axes_by_rank[rank]`, as `(batch | 1, T)`.

    `None` when `attention_mask` is; a `(Tq, Tk)` mask gets a batch axis.
    """
    if attention_mask is None:
        return None
    rank = len(attention_mask.shape)
    reduced = ops.any(ops.cast(attention_mask, "bool"), axis=axes_by_rank[rank])
    return ops.expand_dims(reduced, 0) if rank == 2 else reduced


def key_padding_mask(value_mask=None, key_mask=None, attention_mask=None):
    """`(batch | 1, Tk)` mask of the keys that at least one query may see.

    A key that no query may attend to is padding, whichever argument masks
    it: `value_mask`, `key_mask`, or every row of `attention_mask`
    (`(Tq, Tk)`, `(batch, Tq, Tk)` or `(batch, heads, Tq, Tk)`). Keys seen by
    some query are data and are left alone.

    Returns:
        A boolean tensor, or `None` when nothing masks the keys.
    """
    # Reduce over every axis but batch and keys: (Tq, Tk) -> (1, Tk).
    from_rows = _any_over(attention_mask, {2: (0,), 3: (1,), 4: (1, 2)})
    return combine_masks(value_mask, key_mask, from_rows)


def query_padding_mask(query_mask=None, attention_mask=None):
    """`(batch | 1, Tq)` mask of the queries that may attend to some key.

    Returns:
        A boolean tensor, or `None` when nothing masks the queries.
    """
    # Reduce over every axis but batch and queries: (Tq, Tk) -> (1, Tq).
    from_columns = _any_over(attention_mask, {2: (1,), 3: (2,), 4: (1, 3)})
    return combine_masks(query_mask, from_columns)


def inert_padding(x, mask, axis=1):
    """`x` with the positions that `mask` excludes replaced by zeros.

    Args:
        x (Tensor): a tensor with batch axis 0 and time axis `axis`: `(batch, T, ...)`
            by default, `(batch, heads, T, d)` with `axis=2`.
        mask (Tensor | None): boolean `(batch | 1, T)`, `True` = real data, or `None`.
        axis (int): the time axis of `x`.

    Returns:
        A tensor like `x`; `x` itself when `mask` is `None`. The gradient of
        the masked positions is zero, whatever they held.
    """
    if mask is None:
        return x
    mask = ops.cast(mask, "bool")
    rank = len(x.shape)
    batch, length = ops.shape(mask)
    shape = (batch,) + (1,) * (axis - 1) + (length,) + (1,) * (rank - axis - 1)
    return zero_rows(x, ops.reshape(mask, shape))


def zero_rows(x, keep):
    """`x` with zeros where the boolean `keep` (broadcastable to it) is False.

    The zero is a scalar of `x`'s dtype: no zeros-sized tensor is filled
    (on PyTorch with a CPU, `zeros_like` cost as much as half the `where`).

    Returns:
        A tensor like `x`; `x` itself when `keep` is `None`.
    """
    if keep is None:
        return x
    return ops.where(keep, x, ops.zeros((), x.dtype))


def inert_inputs(
    query,
    value,
    key=None,
    query_mask=None,
    value_mask=None,
    key_mask=None,
    attention_mask=None,
):
    """`query`, `value` and `key` with their padding made inert (zeros).

    The one place every layer calls before projecting or scoring: masked
    query rows (`query_mask`, or rows of `attention_mask` with no key) and
    keys that no query may see (see `key_padding_mask`) are zeroed, so NaN,
    inf or garbage in padding never reaches an unmasked output or gradient.
    `key is value` stays true when it was.

    Returns:
        `(query, value, key)`; `key` is `None` when it was.
    """
    keys = key_padding_mask(value_mask, key_mask, attention_mask)
    same_key = key is None or key is value
    if (
        query is value
        and same_key
        and query_mask is value_mask
        and key_mask is None
        and attention_mask is None
    ):
        # Self-attention under one padding mask (a `mask_zero` embedding's):
        # one `where` serves queries, values and keys.
        new_value = inert_padding(value, keys)
        return new_value, new_value, None if key is None else new_value
    queries = query_padding_mask(query_mask, attention_mask)
    new_value = inert_padding(value, keys)
    new_key = (
        key if key is None else new_value if same_key else inert_padding(key, keys)
    )
    if query is value and queries is None and keys is None:
        return query, value, key
    new_query = inert_padding(query, queries)
    return new_query, new_value, new_key


def split_attention_bias(bias):
    """An additive bias as a finite float32 bias and a mask of its `-inf`s.

    `-inf` entries block their key like a `False` in a mask, so a row whose
    every key is blocked gets zero weights (a plain softmax would give NaN).

    Returns:
        `(bias, keep)`: the bias with `-inf` replaced by 0, and a boolean
        mask of its shape, `True` where the bias was not `-inf`.
    """
    bias = ops.cast(bias, "float32")
    keep = ops.logical_not(ops.logical_and(ops.isinf(bias), ops.less(bias, 0.0)))
    return ops.where(keep, bias, ops.zeros_like(bias)), keep


def attention_mask_and_bias(attention_mask=None, attention_bias=None, heads=True):
    """A layer's `attention_mask` and `attention_bias` as one mask and a bias.

    The mask becomes boolean and the bias finite float32; the bias's `-inf`
    entries join the mask (see `split_attention_bias`). With `heads=True`
    both are `(b|1, h|1, Tq, Tk)` (see `pairwise_4d`); with `heads=False`
    (single-head layers) a `(batch, 1, Tq, Tk)` form loses its heads axis.

    Returns:
        `(mask, bias)`, each `None` when not given.
    """

    def shaped(x):
        if heads:
            return pairwise_4d(x)
        return ops.squeeze(x, 1) if len(x.shape) == 4 else x

    mask = None if attention_mask is None else shaped(ops.cast(attention_mask, "bool"))
    bias = None
    if attention_bias is not None:
        bias, keep = split_attention_bias(shaped(attention_bias))
        mask = combine_masks(mask, keep)
    return mask, bias
