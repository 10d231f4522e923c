"""Layer-level validation: unknown constructor keywords, errors of composites.

Import these from `keras_attention.core.validation`.
"""

import difflib
import inspect
import re

import keras

from keras_attention.core._messages import _message, owner_name

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


def takes_argument(cls, name):
    """Whether `cls(...)` takes the constructor argument `name` (its own or,
    through `**kwargs`, a base class's)."""
    return name in accepted_arguments(cls)


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
        owner (keras.layers.Layer | str): the composite (a layer, or a function's name).
        sublayers (keras.layers.Layer | type | str | list): a sublayer, a layer class, a
            name, or a list of them.
        arguments (dict[str, str] | None): `{sublayer argument: composite argument}`.
    """
    return _ErrorsAs(owner, sublayers, arguments)
