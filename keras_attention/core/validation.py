"""The validators every layer and decoder uses: errors that name who, what, and why.

Every message starts with its owner (a layer's class name, or a function's
name), then names the argument, what was expected and what was received:

    MultiHeadAttention: `value_mask` must have shape (2, 7); received (2, 5).

Constructor checks run at construction; tensor checks read static shapes and
dtypes only, so they cost nothing at run time and hold under `jit`.
"""

import difflib
import inspect
import numbers
import re

import keras
import numpy as np


def owner_name(owner):
    """The name errors give for `owner`: a string as is, else its class name."""
    if owner is None:
        return None
    return owner if isinstance(owner, str) else type(owner).__name__


def _message(owner, text):
    name = owner_name(owner)
    return text if name is None else f"{name}: {text}"


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


def describe_shape(shape):
    """`(2, None, 8)`-style text of a shape, for error messages."""
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


# ------------------------------------------------------------ constructors
# What `keras.layers.Layer.__init__` accepts besides its named arguments.
_LAYER_KWARGS = ("input_shape", "batch_input_shape", "batch_size", "input_dim")


def accepted_arguments(cls):
    """Every keyword a layer class's constructor accepts, through its bases."""
    names = set(_LAYER_KWARGS)
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        for parameter in inspect.signature(init).parameters.values():
            if parameter.kind in (
                parameter.POSITIONAL_OR_KEYWORD,
                parameter.KEYWORD_ONLY,
            ):
                names.add(parameter.name)
        if klass is keras.layers.Layer:
            break
    names.discard("self")
    return sorted(names)


def check_layer_kwargs(owner, kwargs):
    """Raise for keywords that no constructor up to `keras.layers.Layer` takes.

    The message names the layer and suggests the closest accepted name, so
    `MultiHeadAttention(num_head=4)` says "did you mean `num_heads`?".
    """
    accepted = accepted_arguments(type(owner))
    unknown = [k for k in kwargs if k not in accepted]
    if not unknown:
        return
    parts = []
    for key in unknown:
        close = difflib.get_close_matches(key, accepted, n=1, cutoff=0.6)
        hint = f" (did you mean `{close[0]}`?)" if close else ""
        parts.append(f"`{key}`{hint}")
    raise ValueError(
        _message(
            owner,
            f"unknown keyword argument{'s' if len(parts) > 1 else ''} "
            f"{', '.join(parts)}; accepted: {', '.join(accepted)}.",
        )
    )


class ValidatedLayerMixin:
    """Checks unknown constructor keywords before `keras.layers.Layer` does.

    Keras raises for them too, but without a suggestion; this mixin sits
    first in a layer's bases and gives the closest accepted name.
    """

    def __init__(self, *args, **kwargs):
        check_layer_kwargs(self, kwargs)
        super().__init__(*args, **kwargs)


# ------------------------------------------------------------------ tensors
def dtype_of(x):
    """The standardized dtype name of a tensor, array or array-like."""
    dtype = getattr(x, "dtype", None)
    if dtype is None:
        dtype = np.asarray(x).dtype
    return keras.backend.standardize_dtype(dtype)


def _shape_of(x):
    shape = getattr(x, "shape", None)
    if shape is None:
        shape = np.shape(x)
    return tuple(None if d is None else int(d) for d in shape)


def _fits(size, expected, broadcast=False):
    if size is None or expected is None:
        return True
    return size == expected or (broadcast and size == 1)


def check_mask_dtype(owner, name, mask):
    """Masks are boolean or integer (non-zero = attend); floats are refused.

    A float mask is ambiguous: a soft 0.5, or an additive mask with 0 to
    attend and -1e9 to block (PyTorch's convention, the opposite meaning of
    a boolean cast). So it raises a `TypeError` pointing to `attention_bias`,
    the argument for additive masks and biases.
    """
    dtype = dtype_of(mask)
    if dtype == "bool" or "int" in dtype:
        return
    raise TypeError(
        _message(
            owner,
            f"`{name}` must be boolean (True = attend) or integer 0/1; received "
            f"dtype {dtype}. A float mask is not read as boolean: pass additive "
            f"masks (0 = attend, -inf or -1e9 = block) and biases as "
            f"`attention_bias` instead, or cast a 0/1 float mask to bool.",
        )
    )


def check_mask(owner, name, mask, expected):
    """A per-token mask: boolean/integer of exactly the `expected` shape."""
    if mask is None:
        return
    check_mask_dtype(owner, name, mask)
    check_shape(owner, name, _shape_of(mask), expected)


def _check_pairwise(owner, name, x, batch, heads, query_length, key_length, ranks):
    shape = _shape_of(x)
    forms = {2: "(Tq, Tk)", 3: "(batch, Tq, Tk)", 4: "(batch, heads, Tq, Tk)"}
    expected = " or ".join(forms[r] for r in ranks)
    ok = len(shape) in ranks
    if ok:
        ok = _fits(shape[-2], query_length, True) and _fits(shape[-1], key_length, True)
        if len(shape) >= 3:
            ok = ok and _fits(shape[0], batch, True)
        if len(shape) == 4:
            ok = ok and _fits(shape[1], heads, True)
    if not ok:
        sizes = f"batch={batch}, Tq={query_length}, Tk={key_length}" + (
            f", heads={heads}" if 4 in ranks else ""
        )
        raise ValueError(
            _message(
                owner,
                f"`{name}` must have shape {expected} (each axis the size given "
                f"or 1) with {sizes}; received shape {describe_shape(shape)}.",
            )
        )


def check_attention_mask(
    owner, mask, batch, query_length, key_length, heads=None, ranks=(2, 3, 4)
):
    """An `attention_mask`: boolean/integer, `(Tq, Tk)`, `(batch, Tq, Tk)` or
    `(batch, heads, Tq, Tk)`, each axis its size or 1."""
    if mask is None:
        return
    check_mask_dtype(owner, "attention_mask", mask)
    _check_pairwise(
        owner, "attention_mask", mask, batch, heads, query_length, key_length, ranks
    )


def check_attention_bias(
    owner, bias, batch, query_length, key_length, heads=None, ranks=(2, 3, 4)
):
    """An `attention_bias`: a real-valued tensor broadcastable to the scores."""
    if bias is None:
        return
    dtype = dtype_of(bias)
    if dtype == "bool":
        raise TypeError(
            _message(
                owner,
                "`attention_bias` must be a float tensor added to the scores; "
                "received dtype bool. Pass boolean masks as `attention_mask`.",
            )
        )
    _check_pairwise(
        owner, "attention_bias", bias, batch, heads, query_length, key_length, ranks
    )


def check_rank(owner, name, shape, ranks, form):
    """Raise unless `shape` has one of `ranks` axes (`form` says which)."""
    shape = tuple(shape)
    if len(shape) not in ranks:
        raise ValueError(
            _message(
                owner,
                f"`{name}` must have shape {form}; received shape "
                f"{describe_shape(shape)}.",
            )
        )


def check_feature_size(owner, name, shape, built):
    """After build, the last axis must keep the size the layer was built for."""
    size = tuple(shape)[-1] if len(tuple(shape)) else None
    if built is not None and size is not None and size != built:
        raise ValueError(
            _message(
                owner,
                f"`{name}` must have {built} features (last axis), as when the "
                f"layer was built; received shape {describe_shape(tuple(shape))}.",
            )
        )


def check_query_value_key(
    owner, query_shape, value_shape, key_shape=None, single_step=False
):
    """Ranks, lengths and batch sizes of an attention layer's inputs.

    `query` is `(batch, Tq, dim)` (or `(batch, dim)`, one decoder step, when
    `single_step` is allowed); `value` and `key` are `(batch, Tv, dim)` with
    the same length. Known batch sizes must agree.

    Returns:
        `(query_shape, value_shape, key_shape)` as tuples (`key_shape` is
        `value_shape` when no key is given).
    """
    query_shape, value_shape = tuple(query_shape), tuple(value_shape)
    step = ", or (batch, dim) for a single decoder step" if single_step else ""
    check_rank(
        owner,
        "query",
        query_shape,
        (2, 3) if single_step else (3,),
        f"(batch, Tq, dim){step}",
    )
    check_rank(owner, "value", value_shape, (3,), "(batch, Tv, dim)")
    if key_shape is None:
        key_shape = value_shape
    else:
        key_shape = tuple(key_shape)
        check_rank(owner, "key", key_shape, (3,), "(batch, Tv, dim)")
        if not _fits(key_shape[1], value_shape[1]):
            raise ValueError(
                _message(
                    owner,
                    f"`key` and `value` must have the same length (axis 1); "
                    f"received key shape {describe_shape(key_shape)} and value "
                    f"shape {describe_shape(value_shape)}.",
                )
            )
    known = [
        (n, s[0])
        for n, s in (("query", query_shape), ("value", value_shape), ("key", key_shape))
        if s[0] is not None
    ]
    if len({b for _, b in known}) > 1:
        got = ", ".join(f"{n}={b}" for n, b in known)
        raise ValueError(
            _message(
                owner,
                f"`query`, `value` and `key` must have the same batch size; "
                f"received {got}.",
            )
        )
    return query_shape, value_shape, key_shape


def check_features_known(owner, shapes):
    """The feature (last) axis of each `name: shape` must be known to build."""
    for name, shape in shapes.items():
        if shape[-1] is None:
            raise ValueError(
                _message(
                    owner,
                    f"the last axis of `{name}` (features) must be known; "
                    f"received shape {describe_shape(shape)}.",
                )
            )


# ------------------------------------------------- more argument checks
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


def check_shape(owner, name, shape, expected):
    """Raise unless `shape` has the rank of `expected` and its known sizes."""
    shape = tuple(None if d is None else int(d) for d in shape)
    if len(shape) != len(expected) or not all(
        _fits(a, b) for a, b in zip(shape, expected, strict=True)
    ):
        raise ValueError(
            _message(
                owner,
                f"`{name}` must have shape {describe_shape(expected)}; received "
                f"shape {describe_shape(shape)}.",
            )
        )


def check_integer_dtype(owner, name, x, what="integer token ids"):
    """Raise a `TypeError` unless `x` has an integer dtype (ids, indices)."""
    dtype = dtype_of(x)
    if "int" not in dtype:
        raise TypeError(
            _message(owner, f"`{name}` must hold {what}; received dtype {dtype}.")
        )


def check_batch_sizes(owner, shapes):
    """The known batch sizes (axis 0) of the `name: shape` items must agree."""
    known = {
        name: tuple(s) for name, s in shapes.items() if len(s) and s[0] is not None
    }
    if len({s[0] for s in known.values()}) > 1:
        names = " and ".join(f"`{name}`" for name in shapes)
        got = ", ".join(f"{name} {describe_shape(s)}" for name, s in known.items())
        raise ValueError(
            _message(
                owner, f"{names} must have the same batch size; received shapes {got}."
            )
        )


# ------------------------------------------------------------- composites
_KERAS_FRAME = (
    "Exception encountered when calling",
    "\x1b[1m",
    "\x1b[0m\n\nArguments received by",
)


def own_message(error):
    """An error's own message, without the frame a Keras layer call adds.

    `Layer.__call__` re-raises an error from inside `call` as "Exception
    encountered when calling X.call(). <message> Arguments received by ...".
    """
    text = error.args[0] if error.args and isinstance(error.args[0], str) else ""
    text = text or str(error)
    head, start, end = _KERAS_FRAME
    if text.startswith(head) and start in text and end in text:
        text = text.split(start, 1)[1].rsplit(end, 1)[0]
    return text


class _ErrorsAs:
    """The context manager of `errors_as` (a class: it is on the hot path)."""

    __slots__ = ("owner", "prefixes", "pattern", "arguments")

    def __init__(self, owner, sublayers, arguments):
        if not isinstance(sublayers, (list, tuple)):
            sublayers = (sublayers,)
        self.owner = owner_name(owner)
        self.prefixes = tuple(
            (s.__name__ if isinstance(s, type) else owner_name(s)) + ": "
            for s in sublayers
        )
        self.arguments = dict(arguments or {})
        self.pattern = None
        if self.arguments:
            names = "|".join(
                re.escape(n) for n in sorted(self.arguments, key=len, reverse=True)
            )
            self.pattern = re.compile(rf"`({names})`|(?<![\w`.])({names})(?==)")

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if not isinstance(error, (ValueError, TypeError)):
            return False
        text = own_message(error)
        prefix = next((p for p in self.prefixes if text.startswith(p)), None)
        if prefix is None:
            return False
        text = f"{self.owner}: {text[len(prefix) :]}"
        if self.pattern is not None:

            def rename(match):
                if match.group(1) is not None:
                    return f"`{self.arguments[match.group(1)]}`"
                return self.arguments[match.group(2)]

            text = self.pattern.sub(rename, text)
        renamed = (TypeError if isinstance(error, TypeError) else ValueError)(text)
        raise renamed from error


def errors_as(owner, sublayers, arguments=None):
    """Report a sublayer's argument errors as the composite `owner`'s own.

    A composite layer (`SelfAttention` over `MultiHeadAttention`, the
    Transformer blocks, ...) lets its sublayers validate what they receive,
    rather than checking it twice. Inside the block

        with errors_as(self, self._attention, {"query_mask": "mask"}):
            self._attention(x, x, query_mask=mask)

    a `ValueError` or `TypeError` whose message starts with a sublayer's
    name (`"MultiHeadAttention: "`) is raised again, of the same type, with
    `owner`'s name instead, and each sublayer argument of `arguments` named
    as the composite's (`` `query_mask` `` and `query_mask=` become
    `` `mask` `` and `mask=`). The sublayer's error is its `__cause__`
    (Keras' traceback filtering drops causes of errors raised in a layer
    call, and adds the composite's call arguments instead;
    `keras.config.disable_traceback_filtering()` keeps them). Other errors
    pass unchanged.

    Args:
        owner: the composite (a layer, or a function's name).
        sublayers: a sublayer, a layer class, a name, or a list of them.
        arguments: `{sublayer argument: composite argument}`.
    """
    return _ErrorsAs(owner, sublayers, arguments)
