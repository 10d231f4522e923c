"""Argument checks shared by every layer: errors that name the argument."""

import numbers


def check_positive_int(name, value, allow_none=False):
    """Return `value` if it is an int > 0 (or `None` when allowed), else raise."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        allowed = "a positive integer" + (" or None" if allow_none else "")
        raise ValueError(f"`{name}` must be {allowed}; received {name}={value!r}.")
    return int(value)


def check_rate(name, value):
    """Return `value` as a float if it is a probability in [0, 1), else raise."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not 0.0 <= value < 1.0
    ):
        raise ValueError(
            f"`{name}` must be a float in [0, 1); received {name}={value!r}."
        )
    return float(value)


def check_choice(name, value, choices):
    """Return `value` if it is one of `choices`, else raise."""
    if value not in choices:
        raise ValueError(
            f"`{name}` must be one of {list(choices)}; received {name}={value!r}."
        )
    return value


def check_positive_float(name, value):
    """Return `value` as a float if it is a real number > 0, else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or value <= 0:
        raise ValueError(
            f"`{name}` must be a positive number; received {name}={value!r}."
        )
    return float(value)


def describe_shape(shape):
    """`(2, None, 8)`-style text of a shape, for error messages."""
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"
