"""Relative position schemes applied inside attention: the positional registry.

A scheme is one of two kinds, and every kernel takes either generically:

- `"rotate"`: rotate queries and keys by their positions before scoring
  (RoPE, `rotate_half`);
- `"bias"`: add a bias computed from query-key distances to the scores
  (ALiBi, `alibi_distance_bias`). The kernels call
  `scheme.distance_bias(num_heads)` with the float32 `(Tq, Tk)` distances
  `query position - key position` of whatever block they score, so the
  blocked sliding window and the full kernels share one formula.

`POSITION_SCHEMES` maps each name to its scheme; `get_position_scheme`
resolves a layer's argument. A new scheme is one entry here. Positions take
the position of the first query (`offset`, an int or a scalar tensor) so
that cached decoding sees the same positions as a full pass.
"""

import collections
import math

from keras import ops

from keras_attention.core._messages import owner_name


def rotate_half(
    x, positions, max_wavelength=10000.0, scaling_factor=1.0, sequence_axis=1
):
    """Rotary position embedding (Su et al., 2021) of `x` at `positions`.

    Feature pairs `(x_i, x_{i + d/2})` are rotated by the angle
    `p / (scaling_factor * max_wavelength^(2i/d))`, the half-split layout of
    GPT-NeoX, LLaMA and keras-hub. After it, `q_m . k_n` depends on the
    positions only through `m - n`.

    Args:
        x (Tensor): `(batch, T, heads, d)` with `d` even (any layout with the steps
            on `sequence_axis` and the features last).
        positions (Tensor): `(T,)` or `(batch, T)` positions of the `T` steps.
        max_wavelength (float): the longest wavelength.
        scaling_factor (float): divides the positions (position interpolation).
        sequence_axis (int): the axis of `x` that holds the steps (1 for
            `(batch, T, heads, d)`, 2 for heads-first `(batch, heads, T, d)`).

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
    rank, sequence_axis = len(x.shape), sequence_axis % len(x.shape)
    for _ in range(rank - 2 - sequence_axis):  # axes between steps and features
        angles = ops.expand_dims(angles, -2)
    for _ in range(sequence_axis - (len(angles.shape) - (rank - sequence_axis))):
        angles = ops.expand_dims(angles, 1 if len(positions.shape) > 1 else 0)
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
    distance = query_key_distance(query_length, key_length, offset)
    slopes = ops.convert_to_tensor(alibi_slopes(num_heads), "float32")
    return alibi_distance_bias(slopes, distance, causal)[None]


def query_key_distance(query_length, key_length, offset=0):
    """float32 `(Tq, Tk)` distances `i + offset - j` of query `i` and key `j`."""
    rows = ops.arange(query_length, dtype="int32") + ops.cast(offset, "int32")
    cols = ops.arange(key_length, dtype="int32")
    return ops.cast(ops.expand_dims(rows, -1) - cols, "float32")


def alibi_distance_bias(slopes, distance, causal=True):
    """ALiBi's bias `-m_h * distance` (`|distance|` for a symmetric window).

    Args:
        slopes (Tensor): float32 `(heads,)` slopes `m_h` (see `alibi_slopes`).
        distance (Tensor): float32 `(..., Tq, Tk)` distances `query - key position`.
        causal (bool): keys after the query are masked anyway; otherwise the
            absolute distance is used.

    Returns:
        float32 `(heads, ..., Tq, Tk)`.
    """
    if not causal:
        distance = ops.abs(distance)
    shape = (-1,) + (1,) * len(distance.shape)
    return -ops.reshape(ops.cast(slopes, "float32"), shape) * distance


class PositionScheme(
    collections.namedtuple(
        "PositionScheme", ["name", "kind", "rotate", "distance_bias"]
    )
):
    """One positional scheme of the registry.

    `kind` is `"rotate"` (`rotate(x, positions, max_wavelength)` turns
    `(batch, T, heads, d)` queries or keys) or `"bias"`
    (`distance_bias(num_heads)` returns `fn(distance, causal) -> (heads, ...,
    Tq, Tk)` float32 scores).
    """

    def check_head_dim(self, owner, argument, dim):
        """Raise unless `dim` fits the scheme (rotations need an even size)."""
        if self.kind == "rotate" and dim % 2:
            raise ValueError(
                f"{owner_name(owner)}: `{argument}` must be even with "
                f"position_embedding={self.name!r}; received {argument}={dim}."
            )

    def rotate_from(self, x, offset, max_wavelength, sequence_axis=2):
        """`x` rotated at positions `offset, offset + 1, ...` along
        `sequence_axis` (heads-first by default); `x` itself for a bias."""
        if self.kind != "rotate":
            return x
        positions = ops.arange(ops.shape(x)[sequence_axis]) + offset
        return self.rotate(x, positions, max_wavelength, sequence_axis=sequence_axis)

    def bias_for(self, num_heads):
        """The `distance_bias` function of `num_heads` heads, or `None`."""
        return self.distance_bias(num_heads) if self.kind == "bias" else None


def _alibi_for_heads(num_heads):
    slopes = alibi_slopes(num_heads)

    def bias(distance, causal=True):
        return alibi_distance_bias(
            ops.convert_to_tensor(slopes, "float32"), distance, causal
        )

    return bias


POSITION_SCHEMES = {
    "rope": PositionScheme("rope", "rotate", rotate_half, None),
    "alibi": PositionScheme("alibi", "bias", None, _alibi_for_heads),
}


def get_position_scheme(name):
    """The registered `PositionScheme` called `name`, or `None` for `None`."""
    if name is None:
        return None
    if name not in POSITION_SCHEMES:
        raise ValueError(
            f"Unknown positional scheme {name!r}; expected one of "
            f"{sorted(POSITION_SCHEMES)} or None."
        )
    return POSITION_SCHEMES[name]
