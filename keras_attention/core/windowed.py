"""Blocked sliding-window self-attention in O(T * w) time and memory.

Query `i` attends only to the keys in a window around it:

- causal (`causal=True`): the `window` keys `i - window < j <= i`, itself
  included, i.e. `band_mask(T, T, left=window - 1, right=0)`;
- symmetric (`causal=False`): the `2 * window + 1` keys `|i - j| <= window`,
  i.e. `band_mask(T, T, left=window, right=window)`.

Instead of scoring all `T * T` pairs and masking most of them away, the
sequence is cut into blocks of `block_size` positions. Each query block is
scored against its own key block and the few neighbouring blocks its window
reaches (the previous one for causal windows with `block_size >= window`; the
previous and the next one for symmetric windows). The neighbours are gathered
with static slices of a block-padded copy of the keys, so there is no Python
loop over blocks and no dynamic gather, and every shape is static under
`jit`. Inside a block the band is a constant `(block, context)` mask that does
not depend on the block index.

    scores  = q_blocks @ context_keys^T * scale   # (B, H, T/b, b, C*b) float32
    weights = masked_softmax(scores, band & padding)
    output  = weights @ context_values            # (B, H, T/b, b, dv)

Because a query and its context keys always sit at the same distance inside
a block, an ALiBi bias (`alibi_slopes`) is a constant `(heads, block,
context)` tensor too; dropout on the weights (`dropout_fn`) applies to the
blocked weights as it would to the full ones.

`reference_sliding_window_attention` computes the same thing the plain
`O(T^2)` way (`attend` with a full band mask); `blocked_window_is_cheaper`
tells a caller which of the two to use, and `use_blocked_window` adds the
shape conditions a layer checks first (equal query and key lengths).

On a GPU, `keras_attention.core.fused_window.fused_sliding_window_attention`
computes the same window with a backend's fused kernel (cuDNN in JAX,
`flex_attention` in torch) where one applies; `MultiHeadAttention` tries it
first and falls back to `sliding_window_attention` here.
"""

import math
import numbers

from keras import ops

from keras_attention.core import _backend
from keras_attention.core.attend import attend
from keras_attention.core.masking import (
    band_mask,
    combine_masks,
    inert_padding,
    masked_softmax,
    padding_mask,
)
from keras_attention.core.positions import alibi_distance_bias, query_key_distance
from keras_attention.core.scores import dot_score, scaled_dot_score
from keras_attention.core.validation import (
    check_non_negative_int,
    check_positive_int,
)

# Smallest default block: tiny windows would otherwise give many tiny matmuls.
MIN_BLOCK_SIZE = 32


def window_extent(window, causal=True):
    """How far a window reaches: `(left, right)` as taken by `band_mask`.

    Args:
        window: the window size (positive int); see the module docstring.
        causal: causal (`window` keys up to and including the query) or
            symmetric (`window` keys on each side).

    Returns:
        `(left, right)`: `(window - 1, 0)` if causal, else `(window, window)`.
    """
    window = check_positive_int("window_extent", "window", window)
    return (window - 1, 0) if causal else (window, window)


def default_block_size(window, length=None):
    """The block size used when none is given: `max(window, 32)`, at most `T`."""
    block = max(
        check_positive_int("default_block_size", "window", window), MIN_BLOCK_SIZE
    )
    if length is not None:
        block = min(block, check_positive_int("default_block_size", "length", length))
    return block


def _context_blocks(left, right, block_size, num_blocks=None):
    """Numbers of key blocks before and after a query block that it needs."""
    before = -(-left // block_size)
    after = -(-right // block_size)
    if num_blocks is not None:  # No block reaches further than the sequence.
        before = min(before, num_blocks - 1)
        after = min(after, num_blocks - 1)
    return before, after


def blocked_window_is_cheaper(length, window, causal=True, block_size=None):
    """Whether the blocked path scores fewer pairs than full attention.

    The blocked path scores each query against `C * block_size` keys (`C`
    context blocks, 2 for a causal window with `block_size >= window`); full
    attention against all `T`. The blocked path has a small constant
    overhead (padding, concatenating the context), so it is chosen only when
    it scores at most half as many pairs: `C * block_size <= T / 2`.

    Args:
        length: sequence length `T` (a Python int; `None` when unknown, in
            which case the blocked path is chosen: its cost is bounded; a
            zero length never is).
        window: the window size.
        causal: causal or symmetric window.
        block_size: block size, or `None` for `default_block_size`.

    Returns:
        `True` if `sliding_window_attention` should be used rather than
        `reference_sliding_window_attention`.
    """
    left, right = window_extent(window, causal)
    if length is None:
        return True
    length = check_non_negative_int("blocked_window_is_cheaper", "length", length)
    if length == 0:  # nothing to attend over: no blocks to cut
        return False
    if block_size is None:
        block_size = default_block_size(window, length)
    block_size = check_positive_int(
        "blocked_window_is_cheaper", "block_size", block_size
    )
    num_blocks = -(-length // block_size)
    before, after = _context_blocks(left, right, block_size, num_blocks)
    return 2 * (before + after + 1) * block_size <= length


def use_blocked_window(
    query_length, key_length, window, causal=True, same_length=False, block_size=None
):
    """Whether a windowed attention over `Tq` queries and `Tk` keys should be blocked.

    `sliding_window_attention` needs as many queries as keys (the band is
    aligned top-left, query `i` around key `i`); when it applies, it is
    chosen if `blocked_window_is_cheaper`. A layer checks its other
    conditions itself (no weights requested, no explicit `(Tq, Tk)` mask,
    a score the blocked core computes, no KV cache).

    Args:
        query_length: `Tq`, a Python int, or `None` when unknown.
        key_length: `Tk`, a Python int, or `None` when unknown.
        window: the window size.
        causal: causal or symmetric window.
        same_length: the caller knows that `Tq == Tk` (e.g. the query and the
            key are the same tensor) even where a length is `None`.
        block_size: block size, or `None` for `default_block_size`.

    Returns:
        `True` if `sliding_window_attention` should be used.
    """
    if query_length is None or key_length is None:
        if not same_length:
            return False
        length = query_length if key_length is None else key_length
    elif query_length != key_length:
        return False
    else:
        length = query_length
    return blocked_window_is_cheaper(length, window, causal, block_size)


def _inert(query, key, value, query_mask, key_mask):
    """Padded queries, keys and values of `(batch, heads, T, d)` as zeros."""
    return (
        inert_padding(query, query_mask, axis=2),
        inert_padding(key, key_mask, axis=2),
        inert_padding(value, key_mask, axis=2),
    )


def _check_inputs(query, key, value, query_mask, key_mask):
    for name, x in (("query", query), ("key", key), ("value", value)):
        if len(x.shape) != 4:
            raise ValueError(
                f"`{name}` must have rank 4, (batch, heads, length, dim); "
                f"received {name}.shape={tuple(x.shape)}."
            )

    def _clash(a, b):
        return a is not None and b is not None and a != b

    qs, ks, vs = tuple(query.shape), tuple(key.shape), tuple(value.shape)
    for axis, what in ((0, "batch size"), (1, "number of heads"), (2, "length")):
        if _clash(qs[axis], ks[axis]):
            raise ValueError(
                f"`key` must have the {what} of `query` (self-attention); "
                f"received query.shape={qs}, key.shape={ks}."
            )
        if _clash(ks[axis], vs[axis]):
            raise ValueError(
                f"`value` must have the {what} of `key`; "
                f"received key.shape={ks}, value.shape={vs}."
            )
    if _clash(qs[3], ks[3]):
        raise ValueError(
            "`key` must have the feature size of `query`; "
            f"received query.shape={qs}, key.shape={ks}."
        )
    for name, mask in (("query_mask", query_mask), ("key_mask", key_mask)):
        if mask is None:
            continue
        shape = tuple(mask.shape)
        if len(shape) != 2 or _clash(shape[0], qs[0]) or _clash(shape[1], qs[2]):
            raise ValueError(
                f"`{name}` must have shape (batch, length) = ({qs[0]}, {qs[2]}); "
                f"received {name}.shape={shape}."
            )


def _check_options(window, causal, scale, dropout_fn=None):
    window = check_positive_int("sliding_window_attention", "window", window)
    if dropout_fn is not None and not callable(dropout_fn):
        raise ValueError(
            "`dropout_fn` must be callable or None; received "
            f"dropout_fn={dropout_fn!r}."
        )
    if not isinstance(causal, bool):
        raise ValueError(f"`causal` must be a bool; received causal={causal!r}.")
    if scale is not None and (
        isinstance(scale, bool) or not isinstance(scale, numbers.Real)
    ):
        raise ValueError(f"`scale` must be a number or None; received scale={scale!r}.")
    return window


def _distance_bias(alibi_slopes, distance_bias, heads):
    """The score bias as a function of distances, or `None`.

    `alibi_slopes` (one slope per head) is the ALiBi case of `distance_bias`
    (`keras_attention.core.positions`); at most one of the two is given.
    """
    if alibi_slopes is None:
        if distance_bias is not None and not callable(distance_bias):
            raise ValueError(
                "`distance_bias` must be callable or None; received "
                f"distance_bias={distance_bias!r}."
            )
        return distance_bias
    if distance_bias is not None:
        raise ValueError(
            "Pass `alibi_slopes` or `distance_bias`, not both; received both."
        )
    slopes = ops.convert_to_tensor(alibi_slopes, "float32")
    count = slopes.shape[0] if len(slopes.shape) == 1 else -1
    if count is None:
        count = heads
    if heads is not None and count != heads:
        raise ValueError(
            f"`alibi_slopes` must hold one slope per head, shape ({heads},); "
            f"received alibi_slopes with shape {tuple(slopes.shape)}."
        )

    def alibi(distance, causal=True):
        return alibi_distance_bias(slopes, distance, causal)

    return alibi


def _is_zero(n):
    return isinstance(n, int) and n == 0


# Working set of one group of blocks (float32 scores and weights) on a CPU:
# XLA's CPU code slowed down 2.5x per block once all blocks' scores outgrew
# the cache (32 MiB of L3 here), which made the time superlinear in T.
GROUP_BYTES = 1 * 2**20


def _blocks_per_group(query, num_blocks, block_size, context, dropout_fn):
    """Query blocks per step of a sequential loop, or `None` for all at once.

    Only where a compiler runs the program on a CPU (JAX, TensorFlow graphs)
    and all blocks' scores would not fit in `GROUP_BYTES`: there a loop over
    groups of blocks (`ops.map`) keeps each group's scores in the cache.
    Eager backends pay per-op overhead for a loop, GPUs want all blocks at
    once, and dropout's random weights stay outside a loop.
    """
    batch, heads = query.shape[0], query.shape[1]
    if None in (batch, heads, num_blocks) or dropout_fn is not None:
        return None
    per_block = 4 * batch * heads * block_size * context  # float32 bytes
    group = max(1, GROUP_BYTES // per_block)
    if group >= num_blocks or _backend.executing_eagerly(query):
        return None
    if not _backend.default_device_is_cpu():
        return None
    return group


def _attend_block_groups(attend_blocks, query, key, value, mask, group):
    """`attend_blocks` over groups of `group` blocks, one group at a time.

    The block axis (2) is padded to a multiple of `group` (padded blocks are
    fully masked: zero output, dropped by the caller's final slice) and
    split into `(groups, group)`; `ops.map` runs the groups in sequence.
    """
    num_blocks = query.shape[2]
    pad = -num_blocks % group
    mask = ops.broadcast_to(mask, (*mask.shape[:2], num_blocks, *mask.shape[3:]))

    def split(x, fill=0):
        x = _pad_axis(x, 2, 0, pad, fill)
        shape = ops.shape(x)
        x = ops.reshape(x, (shape[0], shape[1], -1, group, shape[3], shape[4]))
        return ops.moveaxis(x, 2, 0)

    groups = (split(query), split(key), split(value), split(mask, False))
    output = ops.map(lambda xs: attend_blocks(*xs), groups)  # (G, B, H, g, b, dv)
    output = ops.moveaxis(output, 0, 2)
    shape = ops.shape(output)
    output = ops.reshape(output, (shape[0], shape[1], -1, shape[4], shape[5]))
    return output[:, :, :num_blocks]


def _pad_axis(x, axis, before, after, value=0):
    if _is_zero(before) and _is_zero(after):
        return x
    pad = [[0, 0]] * len(x.shape)
    pad[axis] = [before, after]
    return ops.pad(x, pad, constant_values=value)


def _with_context(blocks, axis, before, after, fill=0):
    """Concatenate each block with its `before` and `after` neighbours.

    `blocks` has its block index on `axis` and the positions inside a block on
    `axis + 1`. Blocks off either end of the sequence are filled with `fill`.
    The result has the same number of blocks and `before + 1 + after` times
    as many positions per block: previous ones first, in sequence order.
    """
    span = before + after
    if span == 0:
        return blocks
    padded = _pad_axis(blocks, axis, before, after, fill)
    index = [slice(None)] * len(blocks.shape)
    parts = []
    for shift in range(span + 1):
        stop = shift - span
        index[axis] = slice(shift, stop if stop else None)
        parts.append(padded[tuple(index)])
    return ops.concatenate(parts, axis=axis + 1)


def sliding_window_attention(
    query,
    key,
    value,
    window,
    causal=True,
    scale=None,
    query_mask=None,
    key_mask=None,
    block_size=None,
    alibi_slopes=None,
    dropout_fn=None,
    distance_bias=None,
):
    """Scaled dot-product self-attention within a sliding window, blockwise.

    `output_i = sum_j softmax_j(q_i . k_j * scale + bias_ij) v_j` over the
    keys `j` of query `i`'s window that are not padding (`bias` is ALiBi's
    `-m_h * (i - j)`, or `-m_h * |i - j|` for a symmetric window, when
    `alibi_slopes` is given, else 0):

    - `causal=True`: `i - window < j <= i` (`window` keys, the query's own
      included), exactly `band_mask(T, T, left=window - 1, right=0)`;
    - `causal=False`: `|i - j| <= window` (`2 * window + 1` keys), exactly
      `band_mask(T, T, left=window, right=window)`.

    Time and memory are `O(T * (C * block_size))` instead of `O(T^2)`, where
    `C` is the number of key blocks a query block needs (2 for a causal
    window and 3 for a symmetric one when `block_size >= window`). `T` is
    padded up to a multiple of `block_size`; padded keys are masked out and
    padded queries cut off. Scores and softmax run in float32. Queries whose
    keys are all masked (padding) get zeros, never NaN; masked queries
    (`query_mask`) get zeros too. The result equals
    `reference_sliding_window_attention` up to float rounding.

    Args:
        query: `(batch, heads, T, d)`.
        key: `(batch, heads, T, d)`, the same length as `query`.
        value: `(batch, heads, T, dv)`.
        window: window size, a positive int (see above); `window >= T`
            gives full (causal) attention.
        causal: causal window (default) or symmetric window.
        scale: multiplier of the scores; default `1 / sqrt(d)`.
        query_mask: `(batch, T)` boolean padding mask of the queries
            (`True` = real token), or `None`.
        key_mask: `(batch, T)` boolean padding mask of the keys/values, or
            `None`.
        block_size: positions per block; default `max(window, 32)`, at most
            `T`. Any positive value is correct; `window` (or a divisor of it)
            keeps the number of context keys per query near the window.
        alibi_slopes: optional ALiBi slopes `m_h`, one per head (a list or a
            `(heads,)` tensor; see `keras_attention.core.alibi_slopes`).
        dropout_fn: optional function applied to the float32 weights before
            they multiply the values (training dropout); it sees the blocked
            weights `(batch, heads, T/b, b, C*b)`, which are zero outside the
            window.
        distance_bias: optional `fn(distance, causal) -> (heads, ..., Tq,
            Tk)` float32 bias from the `query - key` position distances (a
            `keras_attention.core.positions` scheme); `alibi_slopes` is its
            ALiBi case. At most one of the two.

    Returns:
        `(batch, heads, T, dv)` in `value`'s dtype.

    Example:

    ```python
    import numpy as np
    from keras_attention.core.windowed import (
        reference_sliding_window_attention,
        sliding_window_attention,
    )

    q, k, v = np.random.rand(3, 1, 2, 100, 8).astype("float32")
    output = sliding_window_attention(q, k, v, window=16)  # 16 keys, causal
    reference = reference_sliding_window_attention(q, k, v, window=16)
    assert tuple(output.shape) == (1, 2, 100, 8)
    assert np.allclose(output, reference, atol=1e-5)
    ```
    """
    window = _check_options(window, causal, scale, dropout_fn)
    _check_inputs(query, key, value, query_mask, key_mask)
    query, key, value = _inert(query, key, value, query_mask, key_mask)
    block_size = check_positive_int(
        "sliding_window_attention", "block_size", block_size, allow_none=True
    )
    distance_bias = _distance_bias(alibi_slopes, distance_bias, query.shape[1])
    left, right = window_extent(window, causal)

    shape = ops.shape(query)
    batch, heads, length, depth = shape[0], shape[1], shape[2], shape[3]
    value_depth = ops.shape(value)[3]
    static_length = length if isinstance(length, int) else None
    if block_size is None:
        block_size = default_block_size(window, static_length)
    if static_length is not None:
        num_blocks = -(-static_length // block_size)
        pad = num_blocks * block_size - static_length
    else:  # Only in graph mode with an unknown length (e.g. TF, shape None).
        num_blocks = None
        pad = (-length) % block_size
    before, after = _context_blocks(left, right, block_size, num_blocks)

    def to_blocks(x, dim):
        x = _pad_axis(x, 2, 0, pad)
        return ops.reshape(x, (batch, heads, -1, block_size, dim))

    if scale is None:
        scale = 1.0 / math.sqrt(query.shape[-1])
    # Scaling the (T, d) queries is cheaper than scaling the (T, C*b) scores.
    query_blocks = to_blocks(ops.cast(query, "float32") * scale, depth)
    key_blocks = _with_context(to_blocks(key, depth), 2, before, after)
    value_blocks = _with_context(to_blocks(value, value_depth), 2, before, after)

    # Which keys exist: the real ones, minus padding. (B|1, N, b)
    if key_mask is None:
        key_valid = ops.less(ops.arange(length + pad, dtype="int32"), length)[None]
    else:
        key_valid = _pad_axis(ops.cast(key_mask, "bool"), 1, 0, pad, False)
    key_valid = ops.reshape(key_valid, (ops.shape(key_valid)[0], -1, block_size))
    key_valid = _with_context(key_valid, 1, before, after, False)  # (B|1, N, C*b)
    context = (before + after + 1) * block_size
    band = band_mask(block_size, context, left, right, offset=before * block_size)
    mask = ops.logical_and(band, key_valid[:, None, :, None, :])  # (B|1,1,N,b,Cb)
    if query_mask is not None:
        query_valid = _pad_axis(ops.cast(query_mask, "bool"), 1, 0, pad, False)
        query_valid = ops.reshape(
            query_valid, (ops.shape(query_valid)[0], 1, -1, block_size, 1)
        )
        mask = ops.logical_and(mask, query_valid)

    bias = None
    if distance_bias is not None:
        # Query p of a block and context key c are p + before * b - c apart,
        # whichever the block: one (H, 1, b, C*b) bias serves every block.
        rows = ops.arange(block_size, dtype="int32")[:, None] + before * block_size
        distance = ops.cast(rows - ops.arange(context, dtype="int32")[None], "float32")
        bias = ops.expand_dims(distance_bias(distance, causal), 1)

    def attend_blocks(query_blocks, key_blocks, value_blocks, mask):
        scores = dot_score(query_blocks, key_blocks)  # (B, H, N, b, C*b), float32
        if bias is not None:
            scores = scores + bias
        weights = masked_softmax(scores, mask)
        if dropout_fn is not None:
            weights = dropout_fn(weights)
        return ops.matmul(ops.cast(weights, value.dtype), value_blocks)

    group = _blocks_per_group(query, num_blocks, block_size, context, dropout_fn)
    if group is None:
        output = attend_blocks(query_blocks, key_blocks, value_blocks, mask)
    else:
        output = _attend_block_groups(
            attend_blocks, query_blocks, key_blocks, value_blocks, mask, group
        )
    output = ops.reshape(output, (batch, heads, -1, value_depth))
    if _is_zero(pad):
        return output
    return output[:, :, :length, :]


def reference_sliding_window_attention(
    query,
    key,
    value,
    window,
    causal=True,
    scale=None,
    query_mask=None,
    key_mask=None,
    alibi_slopes=None,
    dropout_fn=None,
    return_weights=False,
    distance_bias=None,
):
    """The same attention as `sliding_window_attention`, the plain `O(T^2)` way.

    Scores every query against every key and masks with the full band mask
    (`band_mask(T, T, left, right)` with `(left, right)` from
    `window_extent`) and the padding masks, through `attend`. Use it for
    short sequences (see `blocked_window_is_cheaper`), when the weights are
    needed, and as the reference in tests.

    Args:
        query, key, value, window, causal, scale, query_mask, key_mask,
            alibi_slopes, dropout_fn, distance_bias: as in
            `sliding_window_attention`
            (`dropout_fn` sees the full weights `(batch, heads, T, T)`).
        return_weights: also return the float32 weights `(batch, heads, T, T)`.

    Returns:
        `(batch, heads, T, dv)` in `value`'s dtype, and the weights if
        `return_weights`.
    """
    window = _check_options(window, causal, scale, dropout_fn)
    _check_inputs(query, key, value, query_mask, key_mask)
    query, key, value = _inert(query, key, value, query_mask, key_mask)
    distance_bias = _distance_bias(alibi_slopes, distance_bias, query.shape[1])
    left, right = window_extent(window, causal)
    length = ops.shape(query)[2]
    padding = padding_mask(query_mask, key_mask)  # (B, T, T) or None
    if padding is not None:
        padding = ops.expand_dims(padding, 1)
    mask = combine_masks(band_mask(length, length, left, right), padding)
    bias = None
    if distance_bias is not None:
        bias = distance_bias(query_key_distance(length, length), causal)

    def score_fn(q, k):
        scores = scaled_dot_score(q, k, scale)
        return scores if bias is None else scores + bias

    return attend(
        query,
        key,
        value,
        score_fn,
        mask=mask,
        dropout_fn=dropout_fn,
        return_weights=return_weights,
    )


__all__ = [
    "MIN_BLOCK_SIZE",
    "blocked_window_is_cheaper",
    "default_block_size",
    "reference_sliding_window_attention",
    "sliding_window_attention",
    "use_blocked_window",
    "window_extent",
]
