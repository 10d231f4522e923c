"""Checks and preparation of the sliding-window kernels' inputs.

`sliding_window_attention` and `reference_sliding_window_attention`
(`keras_attention.core.windowed`) take the same arguments and prepare them
the same way, here: options and shapes are checked, padding is made inert
(zeros), and `alibi_slopes` becomes the `distance_bias` function it is a
case of.
"""

import numbers

from keras import ops

from keras_attention.core.masking import inert_padding
from keras_attention.core.positions import alibi_distance_bias
from keras_attention.core.validation import check_positive_int


def prepare_window_inputs(
    query, key, value, window, causal, scale, masks, alibi_slopes, distance_bias
):
    """Checked, inert `(window, query, key, value, distance_bias)`.

    Args:
        query, key, value (Tensor): as in `sliding_window_attention`.
        window (int): as there.
        causal (bool): as there.
        scale (float | None): as there.
        masks (tuple): `(query_mask, key_mask, dropout_fn)`, as there.
        alibi_slopes (Sequence[float] | Tensor | None): as there.
        distance_bias (Callable | None): as there.

    Returns:
        The window as an int, the inputs with their padding as zeros, and
        the distance bias function (ALiBi's for `alibi_slopes`) or `None`.
    """
    query_mask, key_mask, dropout_fn = masks
    window = _check_options(window, causal, scale, dropout_fn)
    _check_inputs(query, key, value, query_mask, key_mask)
    query = inert_padding(query, query_mask, axis=2)
    key = inert_padding(key, key_mask, axis=2)
    value = inert_padding(value, key_mask, axis=2)
    distance_bias = _distance_bias(alibi_slopes, distance_bias, query.shape[1])
    return window, query, key, value, distance_bias


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


__all__ = ["prepare_window_inputs"]
