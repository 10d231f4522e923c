"""The step-function contract: checking the arguments every decoder takes,
carrying `state` through the loop and validating what `step_fn` returns.

A step function is `logits, new_state = step_fn(tokens, state, index)`; see
`keras_attention.decoding`. `owner` is the public function's name, which
every message starts with: "beam_search: `beam_size` must be ...".
"""

import keras
from keras import ops

from keras_attention.core.validation import (
    check_integer_dtype,
    check_non_negative_int,
    check_positive_int,
    check_rank,
)

# --------------------------------------------------------------------------
# Arguments shared by every decoder.
# --------------------------------------------------------------------------


def _check_step_fn(owner, step_fn):
    if not callable(step_fn):
        raise TypeError(
            f"{owner}: `step_fn` must be a callable `(tokens, state, index) -> "
            f"(logits, new_state)`; received step_fn={step_fn!r}."
        )


def _check_token(owner, name, value, allow_none):
    if value is None and allow_none:
        return None
    return check_non_negative_int(owner, name, value)


class _Decoding:
    """The arguments of `greedy_search` and `sample`, checked in their order."""

    def __init__(self, owner, step_fn, max_length, end_token, pad_token):
        _check_step_fn(owner, step_fn)
        self.owner = owner
        self.step_fn = step_fn
        self.max_length = check_positive_int(owner, "max_length", max_length)
        self.end_token = _check_token(owner, "end_token", end_token, allow_none=True)
        self.pad_token = _check_token(owner, "pad_token", pad_token, allow_none=False)


def _prepare_start(owner, start_tokens):
    start = ops.convert_to_tensor(start_tokens)
    check_rank(owner, "start_tokens", start.shape, (1,), "(batch,) of token ids")
    check_integer_dtype(owner, "start_tokens", start)
    return ops.cast(start, "int32")


def _check_end_token_in_vocab(owner, end_token, vocab):
    if end_token is not None and end_token >= vocab:
        raise ValueError(
            f"{owner}: `end_token` must be smaller than the vocabulary size "
            f"{vocab} (the last axis of `step_fn`'s logits); received "
            f"end_token={end_token}."
        )


# --------------------------------------------------------------------------
# The decoder state: a nested structure carried through the loop as a flat
# tuple of tensors.
# --------------------------------------------------------------------------


class _State:
    """Flattens `state` for the loop and rebuilds it for `step_fn`."""

    def __init__(self, owner, state):
        self.owner = owner
        self.template = () if state is None else state
        flat = keras.tree.flatten(self.template)
        self.present = [leaf is not None for leaf in flat]
        self.leaves = tuple(
            ops.convert_to_tensor(leaf) for leaf in flat if leaf is not None
        )

    def pack(self, leaves):
        leaves = iter(leaves)
        flat = [next(leaves) if present else None for present in self.present]
        return keras.tree.pack_sequence_as(self.template, flat)

    def unpack(self, new_state, old_leaves):
        """Validate `step_fn`'s new state; return its leaves in loop form."""
        new_state = () if new_state is None else new_state
        try:
            keras.tree.assert_same_structure(
                keras.tree.lists_to_tuples(self.template),
                keras.tree.lists_to_tuples(new_state),
            )
        except (ValueError, TypeError) as error:
            raise ValueError(
                f"{self.owner}: `step_fn` must return a new state with the "
                f"structure of `state`; {error}"
            ) from None
        flat = keras.tree.flatten(new_state)
        if [leaf is not None for leaf in flat] != self.present:
            raise ValueError(
                f"{self.owner}: `step_fn` must return a new state with `None` "
                f"exactly where `state` has `None`."
            )
        leaves = []
        for old, new in zip(
            old_leaves, [x for x in flat if x is not None], strict=True
        ):
            new = ops.convert_to_tensor(new)
            if _shape_changed(old.shape, new.shape):
                raise ValueError(
                    f"{self.owner}: `step_fn` must keep the shapes of the state "
                    f"tensors; a state tensor of shape {tuple(old.shape)} came "
                    f"back with shape {tuple(new.shape)}."
                )
            # No gradient flows through decoding: cutting it here keeps eager
            # PyTorch from holding every step's autograd graph (the state of
            # step t would otherwise reference all steps before it).
            leaves.append(ops.stop_gradient(ops.cast(new, old.dtype)))
        return tuple(leaves)


def _shape_changed(old, new):
    if len(old) != len(new):
        return True
    return any(
        a is not None and b is not None and a != b
        for a, b in zip(old, new, strict=True)
    )


def _call_step(step_fn, tokens, state, leaves, index):
    """Run one step; return float32 `(batch, vocab)` logits and new leaves."""
    outputs = step_fn(tokens, state.pack(leaves), index)
    if not isinstance(outputs, (tuple, list)) or len(outputs) != 2:
        raise ValueError(
            f"{state.owner}: `step_fn` must return a pair `(logits, new_state)`; "
            f"received {type(outputs).__name__}."
        )
    logits, new_state = outputs
    logits = ops.stop_gradient(ops.cast(ops.convert_to_tensor(logits), "float32"))
    if len(logits.shape) != 2 or logits.shape[-1] is None:
        raise ValueError(
            f"{state.owner}: `step_fn` must return logits of shape `(batch, "
            f"vocab)` with a known vocabulary size; received shape "
            f"{tuple(logits.shape)}."
        )
    return logits, state.unpack(new_state, leaves)
