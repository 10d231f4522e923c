"""The message form every validator uses: "Owner: `argument` ...; received ...".

Private: `keras_attention.core.validation` is the public face.
"""


def owner_name(owner):
    """The name errors give for `owner`: a string as is, else its class name."""
    if owner is None:
        return None
    return owner if isinstance(owner, str) else type(owner).__name__


def _message(owner, text):
    name = owner_name(owner)
    return text if name is None else f"{name}: {text}"


def describe_shape(shape):
    """`(2, None, 8)`-style text of a shape, for error messages."""
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"
