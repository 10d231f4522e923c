"""Tensor validators: masks, ranks, shapes, feature sizes, caches.

They read static shapes and dtypes only, so they cost nothing at run time
and hold under `jit`. Import them from `keras_attention.core.validation`.
"""

import numbers

import keras
import numpy as np

from keras_attention.core._messages import _message, describe_shape


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


def check_kv_cache(owner, cache, index, query_shape, kv_heads, key_dim, value_dim=None):
    """Raise unless `cache` and `cache_update_index` fit a KV-cached call.

    `cache` is `(batch, 2, max_length, kv_heads, key_dim)` (or `None`, and
    then `index` must be `None` too); a Python `index` must leave room for the
    `query_shape = (batch, Tq)` new steps: `0 <= index <= max_length - Tq`.
    Keys and values share the cache, so `value_dim` must be `key_dim`.
    """
    batch, query_length = query_shape
    if cache is None:
        if index is not None:
            raise ValueError(
                _message(
                    owner,
                    "`cache_update_index` was given without a `cache`; received "
                    f"cache=None, cache_update_index={index!r}.",
                )
            )
        return
    if value_dim is not None and value_dim != key_dim:
        raise ValueError(
            _message(
                owner,
                "a KV `cache` needs `value_dim` == `key_dim`; received "
                f"value_dim={value_dim}, key_dim={key_dim}.",
            )
        )
    shape = tuple(cache.shape)
    expected = (batch, 2, None, kv_heads, key_dim)
    if len(shape) != 5 or not all(
        _fits(s, e) for s, e in zip(shape, expected, strict=True)
    ):
        raise ValueError(
            _message(
                owner,
                f"`cache` must have shape ({batch or 'batch'}, 2, max_length, "
                f"{kv_heads}, {key_dim}); received shape {describe_shape(shape)}.",
            )
        )
    if not isinstance(index, numbers.Integral) or isinstance(index, bool):
        return  # a tensor (or None: read the cache as it is)
    max_length = shape[2]
    if index < 0 or (
        max_length is not None
        and query_length is not None
        and index + query_length > max_length
    ):
        raise ValueError(
            _message(
                owner,
                "`cache_update_index` must be in [0, max_length - Tq] = "
                f"[0, {max_length} - {query_length}] so that the new steps fit "
                f"in the cache; received cache_update_index={index}.",
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
