"""Keras 3.15 `MultiHeadAttention` arguments that our layer accepts as Keras means them.

`keras_attention.MultiHeadAttention` is a drop-in for
`keras.layers.MultiHeadAttention`: a user swaps the import and nothing else.
The arguments whose Keras form differs from ours are normalised here, once:
`output_shape` (ours: `output_dim`), `attention_axes` (only the sequence
axis), `sliding_window` (Keras' symmetric band of `w - 1`; ours: `window`)
and `flash_attention` (with Keras' constraints).
"""

import numbers

from keras_attention.core.validation import (
    check_bool,
    check_exclusive,
    check_positive_int,
    owner_name,
)


def output_dim_from_shape(owner, output_dim, output_shape):
    """`output_dim` from Keras' `output_shape` (an int or a 1-tuple)."""
    if output_shape is None:
        return output_dim
    shape = output_shape
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)) or len(shape) != 1:
        raise ValueError(
            f"{owner_name(owner)}: `output_shape` must be an int or a 1-tuple "
            "(outputs of rank 3: (batch, T, output_dim)); received "
            f"output_shape={output_shape!r}."
        )
    size = check_positive_int(owner, "output_shape", shape[0])
    if output_dim is not None and output_dim != size:
        raise ValueError(
            f"{owner_name(owner)}: `output_dim` and `output_shape` disagree; "
            f"received output_dim={output_dim!r}, output_shape={output_shape!r}."
        )
    return size


def check_attention_axes(owner, attention_axes):
    """Keras' `attention_axes`: only the sequence axis (`None`, 1, (1,), -2)."""
    axes = attention_axes
    if isinstance(axes, numbers.Integral) and not isinstance(axes, bool):
        axes = (axes,)
    if axes is None or (
        isinstance(axes, (tuple, list)) and tuple(axes) in ((1,), (-2,))
    ):
        return None
    raise ValueError(
        f"{owner_name(owner)}: `attention_axes` other than the sequence axis "
        "is not supported (inputs are (batch, T, dim)); expected None, 1, (1,) "
        f"or (-2,); received attention_axes={attention_axes!r}."
    )


def check_window_arguments(owner, window, sliding_window):
    """Our `window` or Keras' `sliding_window` (positive ints), not both."""
    window = check_positive_int(owner, "window", window, allow_none=True)
    sliding_window = check_positive_int(
        owner, "sliding_window", sliding_window, allow_none=True
    )
    check_exclusive(owner, window=window, sliding_window=sliding_window)
    return window, sliding_window


def check_flash_attention(owner, flash_attention, dropout):
    """Keras' `flash_attention`: `None`, or a bool; `True` excludes dropout."""
    if flash_attention is None:
        return None
    flash_attention = check_bool(owner, "flash_attention", flash_attention)
    if flash_attention and dropout > 0:
        raise ValueError(
            f"{owner_name(owner)}: dropout is not supported with "
            f"`flash_attention=True` (as in Keras); received dropout={dropout}."
        )
    return flash_attention


def check_flash_call(owner, flash_attention, return_attention_scores):
    """`flash_attention=True` cannot return the weights (as in Keras)."""
    if flash_attention and return_attention_scores:
        raise ValueError(
            f"{owner_name(owner)}: `return_attention_scores=True` is not "
            "supported with `flash_attention=True` (as in Keras); received both."
        )
