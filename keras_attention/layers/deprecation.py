"""Renamed arguments: the old spelling keeps working, with a warning.

A layer that renames a constructor or call argument keeps the new name in its
signature (with the old default) and lets the old one arrive through
`**kwargs`:

    def __init__(self, use_causal_mask=False, **kwargs):
        use_causal_mask = renamed(
            self, kwargs, old="causal", new="use_causal_mask",
            value=use_causal_mask, default=False,
        )
        super().__init__(**kwargs)

`get_config` writes the new key only; a config saved with the old key still
loads, because `from_config(config)` calls the constructor with it. Layers
whose `from_config` should not warn (a saved file is not the user's code)
translate the keys first with `rename_config`.
"""

import warnings

_MISSING = object()


def _owner_name(owner):
    if isinstance(owner, str):
        return owner
    if isinstance(owner, type):
        return owner.__name__
    return type(owner).__name__


def _same(a, b):
    try:
        return bool(a == b)
    except Exception:  # arrays and tensors: compare by identity
        return a is b


def renamed(owner, kwargs, old, new, value=_MISSING, default=_MISSING, warn=True):
    """The value of an argument renamed from `old` to `new`.

    Pops `old` from `kwargs` (a dict of keyword arguments, changed in place)
    if it is there, warns that it is deprecated and returns its value. If the
    new spelling was given too (`value` differs from `default`) with a
    different value, raises a `ValueError`. Without the old spelling, returns
    `value` (or `kwargs[new]` when `value` is not passed).

    Args:
        owner (keras.layers.Layer | type | str): the layer (or its class, or a
            name) for the messages.
        kwargs (dict): the keyword arguments that may hold the old spelling.
        old (str): the deprecated name.
        new (str): the current name.
        value (Any): the value the new spelling received; when omitted, it is
            read (and popped) from `kwargs[new]` if there.
        default (Any): the new argument's default: a `value` equal to it counts
            as "not given" (so the old spelling wins).
        warn (bool): whether to emit the `DeprecationWarning`.

    Returns:
        The argument's value under its new name.

    Example:

    ```python
    import warnings
    from keras_attention.layers.deprecation import renamed

    kwargs = {"causal": True, "name": "block"}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = renamed(
            "SelfAttention", kwargs, "causal", "use_causal_mask", False, False
        )
    assert value is True and kwargs == {"name": "block"}
    assert "`causal` is deprecated; use `use_causal_mask`" in str(caught[0].message)
    ```
    """
    name = _owner_name(owner)
    if not isinstance(kwargs, dict):
        raise TypeError(
            f"renamed: `kwargs` must be a dict of keyword arguments; "
            f"received {type(kwargs).__name__}."
        )
    if value is _MISSING:
        value = kwargs.pop(new, default)
    if old not in kwargs:
        return None if value is _MISSING else value
    old_value = kwargs.pop(old)
    if warn:
        warnings.warn(
            f"{name}: `{old}` is deprecated; use `{new}`.",
            DeprecationWarning,
            stacklevel=3,
        )
    given_new = value is not _MISSING and not (
        default is not _MISSING and _same(value, default)
    )
    if given_new and not _same(value, old_value):
        raise ValueError(
            f"{name}: received both `{new}`={value!r} and its deprecated "
            f"spelling `{old}`={old_value!r}; pass only `{new}`."
        )
    return old_value


def rename_config(owner, config, names):
    """A copy of `config` with the old keys of `names` moved to the new ones.

    For `from_config`: configs saved before a rename carry the old key. No
    warning (a saved file is not the caller's code), but a config holding
    both spellings with different values raises a `ValueError`.

    Args:
        owner (type | str): the layer class (or a name) for the messages.
        config (dict): the saved config (not modified).
        names (dict[str, str]): `{old: new}`.

    Returns:
        A new dict with only the new keys.
    """
    config = dict(config)
    for old, new in names.items():
        if old in config:
            value = config.pop(old)
            if new in config and not _same(config[new], value):
                raise ValueError(
                    f"{_owner_name(owner)}: the config holds both `{new}`="
                    f"{config[new]!r} and its deprecated spelling `{old}`="
                    f"{value!r}."
                )
            config[new] = value
    return config
