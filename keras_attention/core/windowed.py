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
blocked weights as it would to the full ones. The blocks, their context and
masks are `keras_attention.core.window_blocks`; the argument checks, shared
with the reference, `keras_attention.core.window_inputs`.

`reference_sliding_window_attention` computes the same thing the plain
`O(T^2)` way (`attend` with a full band mask); `blocked_window_is_cheaper`
tells a caller which of the two to use, and `use_blocked_window` adds the
shape conditions a layer checks first (equal query and key lengths).

On a GPU, `keras_attention.core.fused_window.fused_sliding_window_attention`
computes the same window with a backend's fused kernel (cuDNN in JAX,
`flex_attention` in torch) where one applies; `MultiHeadAttention` tries it
first and falls back to `sliding_window_attention` here.
"""

from keras import ops

from keras_attention.core import _backend
from keras_attention.core.attend import attend
from keras_attention.core.masking import band_mask, combine_masks, padding_mask
from keras_attention.core.positions import query_key_distance
from keras_attention.core.scores import scaled_dot_score
from keras_attention.core.validation import (
    check_non_negative_int,
    check_positive_int,
)
from keras_attention.core.window_blocks import (
    WindowBlocks,
    blocked_attention,
    context_blocks,
)
from keras_attention.core.window_inputs import prepare_window_inputs

# Smallest default block: tiny windows would otherwise give many tiny matmuls.
MIN_BLOCK_SIZE = 32


def window_extent(window, causal=True):
    """How far a window reaches: `(left, right)` as taken by `band_mask`.

    Args:
        window (int): the window size (positive int); see the module docstring.
        causal (bool): causal (`window` keys up to and including the query) or
            symmetric (`window` keys on each side).

    Returns:
        `(left, right)`: `(window - 1, 0)` if causal, else `(window, window)`.
    """
    window = check_positive_int("window_extent", "window", window)
    return (window - 1, 0) if causal else (window, window)


def default_block_size(window, length=None):
    """The block size used when none is given, at most `T`.

    `max(window, 32)`, or `max(window // 8, 32)` on PyTorch, where all blocks
    go to one fused kernel call (`keras_attention.core.strided_blocks`) and
    its time follows the context keys per query, `window + block`: at
    T=8192 with a CPU, window 128 ran 1.4x faster in blocks of 32 than of
    128, and windows 32 to 1024 were fastest near `window // 8`.
    """
    window = check_positive_int("default_block_size", "window", window)
    block = max(window // 8 if _backend.name() == "torch" else window, MIN_BLOCK_SIZE)
    if length is not None:
        block = min(block, check_positive_int("default_block_size", "length", length))
    return block


def blocked_window_is_cheaper(length, window, causal=True, block_size=None):
    """Whether the blocked path scores fewer pairs than full attention.

    The blocked path scores each query against `C * block_size` keys (`C`
    context blocks, 2 for a causal window with `block_size >= window`); full
    attention against all `T`. The blocked path has a small constant
    overhead (padding, concatenating the context), so it is chosen only when
    it scores at most half as many pairs: `C * block_size <= T / 2`.

    Args:
        length (int | None): sequence length `T` (a Python int; `None` when unknown, in
            which case the blocked path is chosen: its cost is bounded; a
            zero length never is).
        window (int): the window size.
        causal (bool): causal or symmetric window.
        block_size (int | None): block size, or `None` for `default_block_size`.

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
    before, after = context_blocks(left, right, block_size, num_blocks)
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
        query_length (int | None): `Tq`, a Python int, or `None` when unknown.
        key_length (int | None): `Tk`, a Python int, or `None` when unknown.
        window (int): the window size.
        causal (bool): causal or symmetric window.
        same_length (bool): the caller knows that `Tq == Tk` (e.g. the query and the
            key are the same tensor) even where a length is `None`.
        block_size (int | None): block size, or `None` for `default_block_size`.

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
    keys `j` of query `i`'s window that are not padding: `i - window < j <=
    i` if `causal` (`band_mask(T, T, window - 1, 0)`), else `|i - j| <=
    window` (`band_mask(T, T, window, window)`). `bias` is ALiBi's `-m_h *
    (i - j)` (`-m_h * |i - j|` symmetric) with `alibi_slopes`, else 0.

    Time and memory are `O(T * C * block_size)`, not `O(T^2)`: `C` key
    blocks per query block (2 causal, 3 symmetric when `block_size >=
    window`); `T` is padded to a multiple of `block_size`. Scores and
    softmax run in float32. Fully masked queries, and masked ones
    (`query_mask`), get zeros, never NaN. The result equals
    `reference_sliding_window_attention` up to float rounding.

    Args:
        query (Tensor): `(batch, heads, T, d)`.
        key (Tensor): `(batch, heads, T, d)`, the same length as `query`.
        value (Tensor): `(batch, heads, T, dv)`.
        window (int): window size, a positive int (see above); `window >= T`
            gives full (causal) attention.
        causal (bool): causal window (default) or symmetric window.
        scale (float | None): multiplier of the scores; default `1 / sqrt(d)`.
        query_mask (Tensor | None): `(batch, T)` boolean padding mask of the queries
            (`True` = real token), or `None`.
        key_mask (Tensor | None): `(batch, T)` boolean padding mask of the keys/values,
            or `None`.
        block_size (int | None): positions per block; default `default_block_size`
            (`max(window, 32)`; `max(window // 8, 32)` on PyTorch), at most `T`.
            Any positive value is correct; `window` or a divisor of it keeps
            the number of context keys per query near the window.
        alibi_slopes (Sequence[float] | Tensor | None): optional ALiBi slopes `m_h`, one
            per head (a list or a `(heads,)` tensor; see
            `keras_attention.core.alibi_slopes`).
        dropout_fn (Callable | None): optional function of the float32 weights before
            they multiply the values (training dropout); it sees the blocked weights
            `(batch, heads, T/b, b, C*b)`, zero outside the window.
        distance_bias (Callable | None): optional `fn(distance, causal) -> (heads, ...,
            Tq, Tk)` float32 bias from the `query - key` position distances (a
            `keras_attention.core.positions` scheme); `alibi_slopes` is its ALiBi case.
            At most one of the two.

    Returns:
        `(batch, heads, T, dv)` in `value`'s dtype.

    Example:

    ```python
    import numpy as np
    from keras_attention import core

    q, k, v = np.random.rand(3, 1, 2, 100, 8).astype("float32")
    output = core.sliding_window_attention(q, k, v, window=16)  # causal
    reference = core.reference_sliding_window_attention(q, k, v, window=16)
    assert tuple(output.shape) == (1, 2, 100, 8)
    assert np.allclose(output, reference, atol=1e-5)
    ```
    """
    masks = (query_mask, key_mask, dropout_fn)
    window, query, key, value, distance_bias = prepare_window_inputs(
        query, key, value, window, causal, scale, masks, alibi_slopes, distance_bias
    )
    blocks = _window_blocks(ops.shape(query)[2], window, causal, block_size)
    return blocked_attention(
        blocks, query, key, value, scale, masks, distance_bias, causal
    )


def _window_blocks(length, window, causal, block_size):
    """The `WindowBlocks` of `length` positions (block size checked)."""
    block_size = check_positive_int(
        "sliding_window_attention", "block_size", block_size, allow_none=True
    )
    if block_size is None:
        static_length = length if isinstance(length, int) else None
        block_size = default_block_size(window, static_length)
    return WindowBlocks(length, *window_extent(window, causal), block_size)


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
        query, key, value (Tensor): as in `sliding_window_attention`.
        window (int): as there.
        causal (bool): as there.
        scale (float | None): as there.
        query_mask, key_mask (Tensor | None): as there.
        alibi_slopes (Sequence[float] | Tensor | None): as there.
        dropout_fn (Callable | None): as there, but it sees the full weights
            `(batch, heads, T, T)`.
        distance_bias (Callable | None): as there.
        return_weights (bool): also return the float32 weights `(batch, heads, T, T)`.

    Returns:
        `(batch, heads, T, dv)` in `value`'s dtype, and the weights if
        `return_weights`.
    """
    masks = (query_mask, key_mask, dropout_fn)
    window, query, key, value, distance_bias = prepare_window_inputs(
        query, key, value, window, causal, scale, masks, alibi_slopes, distance_bias
    )
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
