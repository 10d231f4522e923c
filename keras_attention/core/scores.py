"""Score functions: how much each query attends to each key, before the softmax.

This module is the score registry: `SCORES` maps each canonical name to its
`Score` (function, whether a fused kernel can compute it, its equation), and
`SCORE_ALIASES` maps the other names users know (Luong's `"concat"` for
Bahdanau's additive score, `"multiplicative"` for `"general"`) to canonical
ones, in one place. Layers resolve their `score` argument with
`resolve_score` and keep the user's spelling in their config. A new score
is one function and one entry here.

All functions take a query of shape `(..., Tq, dq)` and keys of shape
`(..., Tk, dk)` (any leading batch/head axes, broadcast against each other)
and return float32 scores of shape `(..., Tq, Tk)`. Weights are passed in
explicitly, so the functions are pure and testable against NumPy; the layers
own the weights. Inputs are cast to float32 first, so that score accumulation
stays in float32 under mixed precision policies.
"""

import collections
import math

from keras import ops

from keras_attention.core.validation import check_choice


def _f32(x):
    return ops.cast(x, "float32")


def dot_score(query, key):
    """Luong's dot score: `score(h_t, h_s) = h_t^T h_s`.

    Args:
        query (Tensor): `(..., Tq, d)`.
        key (Tensor): `(..., Tk, d)`.

    Returns:
        float32 scores `(..., Tq, Tk)`.
    """
    return ops.matmul(_f32(query), ops.swapaxes(_f32(key), -1, -2))


def scaled_dot_score(query, key, scale=None):
    """Vaswani's scaled dot score: `score(q, k) = q^T k / sqrt(d)`.

    Args:
        query (Tensor): `(..., Tq, d)`.
        key (Tensor): `(..., Tk, d)`.
        scale (float | None): multiplier of the dot products; defaults to `1 / sqrt(d)`.

    Returns:
        float32 scores `(..., Tq, Tk)`.
    """
    if scale is None:
        scale = 1.0 / math.sqrt(query.shape[-1])
    return dot_score(query, key) * scale


def general_score(query, key, kernel):
    """Luong's general score: `score(h_t, h_s) = h_t^T W_a h_s`.

    Args:
        query (Tensor): `(..., Tq, dq)`.
        key (Tensor): `(..., Tk, dk)`.
        kernel (Tensor): `W_a`, shape `(dq, dk)`.

    Returns:
        float32 scores `(..., Tq, Tk)`.
    """
    query, kernel = _f32(query), _f32(kernel)
    if len(kernel.shape) > 2:
        # Per-head kernels `(..., dq, dk)`: broadcast them to the query's
        # batch axes first. TensorFlow 2.21's oneDNN batch matmul corrupts the
        # heap when it broadcasts ranks itself ((b, h, T, d) @ (h, d, d)
        # aborted the process within a few hundred calls).
        lead = tuple(ops.shape(query)[:-2])
        kernel = ops.broadcast_to(kernel, lead + tuple(ops.shape(kernel)[-2:]))
    return dot_score(ops.matmul(query, kernel), key)


def additive_score(
    query,
    key,
    attention_v,
    query_kernel=None,
    key_kernel=None,
    bias=None,
):
    """Bahdanau's additive score (Luong's "concat"): `v^T tanh(W_q q + W_k k + b)`.

    Luong's concat score `v_a^T tanh(W_a [h_t; h_s])` is the same function with
    `W_a` split into its query and key halves.

    Args:
        query (Tensor): `(..., Tq, dq)`, or already projected `(..., Tq, units)` when
            `query_kernel` is `None`.
        key (Tensor): `(..., Tk, dk)`, or already projected when `key_kernel` is `None`.
        attention_v (Tensor): `v`, shape `(units,)`.
        query_kernel (Tensor | None): `W_q`, shape `(dq, units)`, or `None`.
        key_kernel (Tensor | None): `W_k`, shape `(dk, units)`, or `None`.
        bias (Tensor | None): `b`, shape `(units,)`, or `None`.

    Returns:
        float32 scores `(..., Tq, Tk)`. This materialises a
        `(..., Tq, Tk, units)` intermediate: chunk the query axis to bound it
        (see `keras_attention.core.attend`).
    """
    query, key = _f32(query), _f32(key)
    if query_kernel is not None:
        query = ops.matmul(query, _f32(query_kernel))
    if key_kernel is not None:
        key = ops.matmul(key, _f32(key_kernel))
    hidden = ops.expand_dims(query, -2) + ops.expand_dims(key, -3)
    if bias is not None:
        hidden = hidden + _f32(bias)
    return ops.sum(ops.tanh(hidden) * _f32(attention_v), axis=-1)


def location_score(query, kernel, key_length):
    """Luong's location score (eq. 8): `a_t = softmax(W_a h_t)`, keys unused.

    Args:
        query (Tensor): `(..., Tq, dq)`.
        kernel (Tensor): `W_a`, shape `(dq, max_length)`; its first `key_length`
            columns score the `key_length` source positions.
        key_length (int): number of keys `Tk` (<= `max_length`).

    Returns:
        float32 scores `(..., Tq, Tk)`.
    """
    return ops.matmul(_f32(query), _f32(kernel)[:, :key_length])


Score = collections.namedtuple("Score", ["name", "function", "fusable", "equation"])
Score.__doc__ = """One score of the registry.

`function` computes float32 `(..., Tq, Tk)` scores from its inputs and
weights (its signature is the score's own); `fusable` says whether a fused
scaled-dot kernel computes the same thing (then no weights matrix is
materialised); `equation` is the score in LaTeX, for docs and errors.
"""

SCORES = {
    "dot": Score("dot", dot_score, False, r"q^\top k"),
    "scaled_dot": Score("scaled_dot", scaled_dot_score, True, r"q^\top k / \sqrt{d}"),
    "general": Score("general", general_score, False, r"q^\top W_a k"),
    "additive": Score(
        "additive", additive_score, False, r"v^\top \tanh(W_q q + W_k k + b)"
    ),
    "location": Score("location", location_score, False, r"(W_a q)_j"),
}

# Other names for the same scores, and the canonical name each stands for.
SCORE_ALIASES = {
    "concat": "additive",  # Luong et al. (2015): v^T tanh(W_a [h_t; h_s])
    "multiplicative": "general",
}


def resolve_score(owner, value, allowed):
    """The canonical name of the score `value`, checked against `allowed`.

    Args:
        owner (keras.layers.Layer | str): the layer (or a name) that errors are reported
            for.
        value (str): the `score` argument as the user spelt it (a canonical name
            or an alias from `SCORE_ALIASES`).
        allowed (Sequence[str]): the canonical names the owner computes.

    Returns:
        The canonical name (a key of `SCORES`).

    Raises:
        ValueError: naming the owner, the accepted spellings and `value`.
    """
    spellings = [name for name in SCORES if name in allowed]
    spellings += [alias for alias, name in SCORE_ALIASES.items() if name in allowed]
    check_choice(owner, "score", value, spellings)
    return SCORE_ALIASES.get(value, value)
