"""The validators every layer and decoder uses: errors that name who, what, and why.

Every message starts with its owner (a layer's class name, or a function's
name), then names the argument, what was expected and what was received:

    MultiHeadAttention: `value_mask` must have shape (2, 7); received (2, 5).

Constructor checks run at construction; tensor checks read static shapes and
dtypes only, so they cost nothing at run time and hold under `jit`.

This module holds the argument checks and re-exports the tensor checks
(`core.validate_tensors`) and the layer-level tools (`core.validate_layers`:
unknown keywords, errors of composite layers), so every validator is
imported from here.
"""

import difflib
import numbers

import keras

from keras_attention.core._messages import _message, describe_shape, owner_name


def check_positive_int(owner, name, value, allow_none=False):
    """Return `value` if it is an int > 0 (or `None` when allowed), else raise."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        allowed = "a positive integer" + (" or None" if allow_none else "")
        raise ValueError(
            _message(owner, f"`{name}` must be {allowed}; received {name}={value!r}.")
        )
    return int(value)


def check_non_negative_int(owner, name, value):
    """Return `value` if it is an int >= 0, else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(
            _message(
                owner,
                f"`{name}` must be a non-negative integer; received {name}={value!r}.",
            )
        )
    return int(value)


def check_rate(owner, name, value):
    """Return `value` as a float if it is a probability in [0, 1), else raise."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not 0.0 <= value < 1.0
    ):
        raise ValueError(
            _message(
                owner, f"`{name}` must be a float in [0, 1); received {name}={value!r}."
            )
        )
    return float(value)


def check_choice(owner, name, value, choices):
    """Return `value` if it is one of `choices`, else raise (with a suggestion)."""
    try:
        known = value in choices
    except TypeError:  # unhashable
        known = False
    if not known:
        hint = ""
        if isinstance(value, str):
            close = difflib.get_close_matches(
                value, [c for c in choices if isinstance(c, str)], n=1
            )
            hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            _message(
                owner,
                f"`{name}` must be one of {list(choices)}; received "
                f"{name}={value!r}.{hint}",
            )
        )
    return value


def check_positive_float(owner, name, value):
    """Return `value` as a float if it is a real number > 0, else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or value <= 0:
        raise ValueError(
            _message(
                owner, f"`{name}` must be a positive number; received {name}={value!r}."
            )
        )
    return float(value)


def check_int(owner, name, value):
    """Return `value` if it is an int (not a bool), else raise `ValueError`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(
            _message(owner, f"`{name}` must be an int; received {name}={value!r}.")
        )
    return int(value)


def check_seed(owner, seed, allow_generator=False):
    """Return a dropout or sampling `seed`: `None`, an int or, where
    `allow_generator`, a `keras.random.SeedGenerator`; else raise `TypeError`."""
    if seed is None:
        return None
    if allow_generator and isinstance(seed, keras.random.SeedGenerator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        allowed = "None, an int or a `keras.random.SeedGenerator`"
        allowed = allowed if allow_generator else "an int or None"
        raise TypeError(
            _message(
                owner,
                f"`seed` must be {allowed}; received {seed!r} of type "
                f"{type(seed).__name__}.",
            )
        )
    return int(seed)


def check_bool(owner, name, value):
    """Return `value` if it is a Python bool, else raise."""
    if not isinstance(value, bool):
        raise ValueError(
            _message(owner, f"`{name}` must be a bool; received {name}={value!r}.")
        )
    return value


def check_divides(owner, name, value, total, what, hint=""):
    """Raise unless the int `value` divides `total` (`what` names `total`).

    `check_divides(self, "num_key_value_heads", 3, 4, "`num_heads`")` says
    "`num_key_value_heads` must divide `num_heads`; received
    num_key_value_heads=3, and `num_heads` is 4."
    """
    if value is None or total is None or total % value == 0:
        return
    raise ValueError(
        _message(
            owner,
            f"`{name}` must divide {what}; received {name}={value!r}, and {what} "
            f"is {total}.{' ' + hint if hint else ''}",
        )
    )


def check_required_value(owner, name, value, required, condition, why=""):
    """Raise unless `value == required`, which `condition` makes necessary.

    For arguments that only apply to some settings:
    `check_required_value(self, "units", 8, None, "with score='scaled_dot'")`
    says "`units` must be None with score='scaled_dot'; received units=8."
    """
    if value == required:
        return
    raise ValueError(
        _message(
            owner,
            f"`{name}` must be {required!r} {condition}; received "
            f"{name}={value!r}.{' ' + why if why else ''}",
        )
    )


def check_exclusive(owner, **arguments):
    """Raise if more than one of the keyword `arguments` is not `None`."""
    given = [name for name, value in arguments.items() if value is not None]
    if len(given) > 1:
        names = " and ".join(f"`{name}`" for name in arguments)
        raise ValueError(
            _message(
                owner,
                f"pass at most one of {names}; received "
                + ", ".join(f"`{name}`" for name in given)
                + ".",
            )
        )


# The tensor checks and the layer tools, re-exported: import validators from here.
from keras_attention.core.validate_layers import (  # noqa: E402
    ValidatedLayerMixin,
    accepted_arguments,
    check_layer_kwargs,
    errors_as,
    own_message,
    takes_argument,
)
from keras_attention.core.validate_tensors import (  # noqa: E402
    check_attention_bias,
    check_attention_mask,
    check_batch_sizes,
    check_feature_size,
    check_features_known,
    check_integer_dtype,
    check_kv_cache,
    check_mask,
    check_mask_dtype,
    check_query_value_key,
    check_rank,
    check_shape,
    dtype_of,
)

__all__ = [
    "ValidatedLayerMixin",
    "accepted_arguments",
    "check_attention_bias",
    "check_attention_mask",
    "check_batch_sizes",
    "check_bool",
    "check_choice",
    "check_int",
    "check_divides",
    "check_exclusive",
    "check_feature_size",
    "check_features_known",
    "check_integer_dtype",
    "check_kv_cache",
    "check_layer_kwargs",
    "check_mask",
    "check_mask_dtype",
    "check_non_negative_int",
    "check_positive_float",
    "check_positive_int",
    "check_query_value_key",
    "check_rank",
    "check_rate",
    "check_required_value",
    "check_seed",
    "check_shape",
    "describe_shape",
    "dtype_of",
    "errors_as",
    "own_message",
    "takes_argument",
    "owner_name",
]
