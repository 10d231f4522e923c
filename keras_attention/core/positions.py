"""Relative position schemes applied inside attention: RoPE and ALiBi.

Both take the position of the first query (`offset`, an int or a scalar
tensor) so that cached decoding sees the same positions as a full pass.
"""

import math

from keras import ops


def rotate_half(x, positions, max_wavelength=10000.0, scaling_factor=1.0):
    """Rotary position embedding (Su et al., 2021) of `x` at `positions`.

    Feature pairs `(x_i, x_{i + d/2})` are rotated by the angle
    `p / (scaling_factor * max_wavelength^(2i/d))`, the half-split layout of
    GPT-NeoX, LLaMA and keras-hub. After it, `q_m . k_n` depends on the
    positions only through `m - n`.

    Args:
        x: `(batch, T, heads, d)` with `d` even.
        positions: `(T,)` or `(batch, T)` positions of the `T` steps.
        max_wavelength: the longest wavelength.
        scaling_factor: divides the positions (position interpolation).

    Returns:
        A tensor like `x`, in `x`'s dtype (the rotation runs in float32).
    """
    dim = x.shape[-1]
    if dim is None or dim % 2:
        raise ValueError(
            f"Rotary embeddings need an even feature size; received {dim}."
        )
    half = dim // 2
    exponent = ops.arange(half, dtype="float32") * (2.0 / dim)
    inverse_frequency = 1.0 / (ops.power(float(max_wavelength), exponent))
    positions = ops.cast(positions, "float32") / scaling_factor
    angles = ops.expand_dims(positions, -1) * inverse_frequency  # (..., T, d/2)
    angles = ops.expand_dims(angles, -2)  # (..., T, 1, d/2): broadcast heads
    cos, sin = ops.cos(angles), ops.sin(angles)
    x32 = ops.cast(x, "float32")
    x1, x2 = x32[..., :half], x32[..., half:]
    rotated = ops.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)
    return ops.cast(rotated, x.dtype)


def alibi_slopes(num_heads):
    """The head-specific slopes of ALiBi (Press et al., 2022).

    For a power of two `n`, head `h` (1-based) gets `2^(-8h/n)`; otherwise the
    slopes of the next lower power of two are completed with every other
    slope of the next higher one, as in the paper's reference code.

    Returns:
        A Python list of `num_heads` floats.
    """

    def power_of_two(n):
        start = 2.0 ** (-8.0 / n)
        return [start ** (h + 1) for h in range(n)]

    if math.log2(num_heads).is_integer():
        return power_of_two(num_heads)
    lower = 2 ** math.floor(math.log2(num_heads))
    return power_of_two(lower) + power_of_two(2 * lower)[0::2][: num_heads - lower]


def alibi_bias(num_heads, query_length, key_length, offset=0, causal=True):
    """ALiBi's additive score bias: `-m_h * distance(i, j)`.

    The query at step `i` sits at position `i + offset`. With `causal=True`
    the distance is `i + offset - j` (keys after the query are masked
    anyway); otherwise `|i + offset - j|`.

    Returns:
        float32 `(1, num_heads, query_length, key_length)`.
    """
    rows = ops.arange(query_length, dtype="int32") + ops.cast(offset, "int32")
    cols = ops.arange(key_length, dtype="int32")
    distance = ops.cast(ops.expand_dims(rows, -1) - cols, "float32")
    if not causal:
        distance = ops.abs(distance)
    slopes = ops.reshape(
        ops.convert_to_tensor(alibi_slopes(num_heads), "float32"), (1, -1, 1, 1)
    )
    return -slopes * distance[None, None]
