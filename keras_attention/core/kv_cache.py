"""The KV cache of cached decoding: one tensor, `(batch, 2, max_length, kv_heads, d)`.

Index 0 of axis 1 holds the keys, index 1 the values (keras-hub's layout).
The kernels take heads-first `(batch, kv_heads, T, d)` tensors; these two
functions are the only place that converts between the two layouts.
"""

from keras import ops


def read_kv_cache(cache):
    """Heads-first `(keys, values)` of a whole cache, each `(batch, kv_heads,
    max_length, d)`."""
    keys, values = (ops.transpose(cache[:, i], (0, 2, 1, 3)) for i in (0, 1))
    return keys, values


def update_kv_cache(cache, keys, values, index):
    """Write heads-first `keys` and `values` (`(batch, kv_heads, T, d)`) at
    position `index` of `cache`, in one update of the whole tensor (eager
    backends copy it once).

    Returns:
        `(cache, keys, values)`: the updated cache and its heads-first keys
        and values (every position, written or not).
    """
    new = ops.cast(ops.stack([keys, values], axis=1), cache.dtype)
    new = ops.transpose(new, (0, 1, 3, 2, 4))  # (batch, 2, T, kv_heads, d)
    cache = ops.slice_update(cache, [0, 0, index, 0, 0], new)
    return (cache, *read_kv_cache(cache))
