"""The blocked form of a sliding window: blocks, their context, their masks.

`keras_attention.core.windowed.sliding_window_attention` cuts the sequence
into blocks of `block_size` positions (`WindowBlocks`: the padding to a
multiple of the block, how many neighbouring blocks a window reaches) and
attends each query block to its context, the key blocks around it
(`blocked_attention`):

    scores  = q_blocks @ context_keys^T * scale   # (B, H, T/b, b, C*b) float32
    weights = masked_softmax(scores, band & padding)
    output  = weights @ context_values            # (B, H, T/b, b, dv)

The neighbours are static slices of a block-padded copy (`_with_context`),
and the band, the distance bias and the padding masks have one form for
every block. On PyTorch, without dropout, the context is a set of
overlapping views instead and the blocks go to one fused kernel call
(`keras_attention.core.strided_blocks`); the explicit blocks here are the
fallback everywhere.
"""

import math

from keras import ops

from keras_attention.core import _backend
from keras_attention.core.masking import band_mask, masked_softmax
from keras_attention.core.scores import dot_score
from keras_attention.core.strided_blocks import strided_blocks_attention

# Working set of one group of blocks (float32 scores and weights) on a CPU:
# XLA's CPU code slowed down 2.5x per block once all blocks' scores outgrew
# the cache (32 MiB of L3 here), which made the time superlinear in T.
GROUP_BYTES = 1 * 2**20


def context_blocks(left, right, block_size, num_blocks=None):
    """Numbers of key blocks before and after a query block that it needs."""
    before = -(-left // block_size)
    after = -(-right // block_size)
    if num_blocks is not None:  # No block reaches further than the sequence.
        before = min(before, num_blocks - 1)
        after = min(after, num_blocks - 1)
    return before, after


def _is_zero(n):
    return isinstance(n, int) and n == 0


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


class WindowBlocks:
    """`length` positions in blocks of `size`, for the window `(left, right)`.

    `length` is a Python int, or a scalar tensor in graph mode with an
    unknown length (then `count`, the number of blocks, is `None`). The
    last block is padded (`pad` positions); each query block sees `before`
    blocks to its left and `after` to its right, `context` key positions.
    """

    def __init__(self, length, left, right, size):
        self.length, self.left, self.right, self.size = length, left, right, size
        if isinstance(length, int):
            self.count = -(-length // size)
            self.pad = self.count * size - length
        else:  # Only in graph mode with an unknown length (e.g. TF, shape None).
            self.count = None
            self.pad = (-length) % size
        self.before, self.after = context_blocks(left, right, size, self.count)
        self.context = (self.before + self.after + 1) * size

    def split(self, x):
        """`(batch, heads, T, d)` as `(batch, heads, T/b, b, d)` blocks."""
        shape = ops.shape(x)
        x = _pad_axis(x, 2, 0, self.pad)
        return ops.reshape(x, (shape[0], shape[1], -1, self.size, shape[3]))

    def with_context(self, blocks, axis=2, fill=0):
        """Each block with its neighbours: `C * b` positions per block."""
        return _with_context(blocks, axis, self.before, self.after, fill)

    def merge(self, output):
        """`(batch, heads, T/b, b, dv)` blocks back as `(batch, heads, T, dv)`."""
        shape = ops.shape(output)
        output = ops.reshape(output, (shape[0], shape[1], -1, shape[4]))
        if _is_zero(self.pad):
            return output
        return output[:, :, : self.length, :]

    def _valid(self, mask):
        """A `(B|1, T)` mask as `(B|1, T/b, b)` blocks, padding `False`."""
        mask = _pad_axis(mask, 1, 0, self.pad, False)
        return ops.reshape(mask, (ops.shape(mask)[0], -1, self.size))

    def mask(self, query_mask=None, key_mask=None):
        """The band and the padding: `(B|1, 1, T/b, b, C*b)`, `True` = attend."""
        if key_mask is None:  # Which keys exist: the real ones, minus padding.
            arange = ops.arange(self.length + self.pad, dtype="int32")
            key_valid = ops.less(arange, self.length)[None]
            key_valid = ops.reshape(key_valid, (1, -1, self.size))
        else:
            key_valid = self._valid(ops.cast(key_mask, "bool"))
        key_valid = self.with_context(key_valid, 1, False)  # (B|1, N, C*b)
        band = band_mask(
            self.size, self.context, self.left, self.right, self.before * self.size
        )
        mask = ops.logical_and(band, key_valid[:, None, :, None, :])
        if query_mask is None:
            return mask
        query_valid = self._valid(ops.cast(query_mask, "bool"))
        return ops.logical_and(mask, query_valid[:, None, :, :, None])

    def bias(self, distance_bias, causal):
        """`distance_bias` as one `(H, 1, b, C*b)` bias for every block.

        Query `p` of a block and context key `c` are `p + before * b - c`
        apart, whichever the block.
        """
        rows = ops.arange(self.size, dtype="int32")[:, None] + self.before * self.size
        columns = ops.arange(self.context, dtype="int32")[None]
        distance = ops.cast(rows - columns, "float32")
        return ops.expand_dims(distance_bias(distance, causal), 1)


def _attend_blocks(query, key, value, mask, bias, dropout_fn, dtype):
    """Scores, masked float32 softmax and weighted values of blocks."""
    scores = dot_score(query, key)  # (B, H, N, b, C*b), float32
    if bias is not None:
        scores = scores + bias
    weights = masked_softmax(scores, mask)
    if dropout_fn is not None:
        weights = dropout_fn(weights)
    return ops.matmul(ops.cast(weights, dtype), value)


def blocked_attention(blocks, query, key, value, scale, masks, distance_bias, causal):
    """Window attention of `(batch, heads, T, d)` inputs through `blocks`.

    Args:
        blocks (WindowBlocks): the `WindowBlocks` of the sequence and the window.
        query, key, value (Tensor): inert inputs (padding as zeros).
        scale (float | None): multiplier of the scores, or `None` for `1 / sqrt(d)`.
        masks (tuple): `(query_mask, key_mask, dropout_fn)`.
        distance_bias (Callable | None): a function of the distances, or `None`.
        causal (bool): passed to `distance_bias`.

    Returns:
        `(batch, heads, T, dv)` in `value`'s dtype.
    """
    query_mask, key_mask, dropout_fn = masks
    if scale is None:
        scale = 1.0 / math.sqrt(query.shape[-1])
    query = ops.cast(query, "float32")
    mask = blocks.mask(query_mask, key_mask)
    bias = None if distance_bias is None else blocks.bias(distance_bias, causal)
    # Without padding masks a real query always sees itself, a padded one
    # (past the end) a real key within `left` positions.
    padded_rows = not isinstance(blocks.pad, int) or blocks.pad > blocks.left
    empty_rows = query_mask is not None or key_mask is not None or padded_rows
    output = strided_blocks_attention(
        blocks, query, key, value, mask, bias, dropout_fn, empty_rows, scale
    )
    if output is not None:  # PyTorch: the context as views, one fused call
        return ops.cast(output, value.dtype)
    # Scaling the (T, d) queries is cheaper than scaling the (T, C*b) scores.
    query = query * scale
    query_blocks = blocks.split(query)
    key_blocks = blocks.with_context(blocks.split(key))
    value_blocks = blocks.with_context(blocks.split(value))

    def attend_blocks(query_blocks, key_blocks, value_blocks, mask):
        return _attend_blocks(
            query_blocks, key_blocks, value_blocks, mask, bias, dropout_fn, value.dtype
        )

    group = _blocks_per_group(
        query, blocks.count, blocks.size, blocks.context, dropout_fn
    )
    if group is None:
        output = attend_blocks(query_blocks, key_blocks, value_blocks, mask)
    else:
        output = _attend_block_groups(
            attend_blocks, query_blocks, key_blocks, value_blocks, mask, group
        )
    return blocks.merge(output)


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


__all__ = ["GROUP_BYTES", "WindowBlocks", "blocked_attention", "context_blocks"]
