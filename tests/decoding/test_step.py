"""The step-function contract (keras_attention.decoding.step): the
arguments every decoder checks, and what `step_fn` must return."""

import numpy as np
import pytest
from decoding_models import bad_argument_params, check_raises_naming
from keras import ops


def _shape_changing_step(tokens, state, index):
    return ops.one_hot(tokens, 3), ops.concatenate([state, state], axis=0)


def _structure_changing_step(tokens, state, index):
    return ops.one_hot(tokens, 3), {"other": state["h"]}


BAD_ARGUMENTS = [
    ("greedy", {"max_length": 0}, ValueError, "max_length"),
    ("greedy", {"max_length": 3.0}, ValueError, "max_length"),
    ("greedy", {"end_token": -1}, ValueError, "end_token"),
    ("greedy", {"end_token": 3}, ValueError, "end_token"),
    ("beam", {"end_token": 5}, ValueError, "end_token"),
    ("greedy", {"pad_token": None}, ValueError, "pad_token"),
    ("sample", {"step_fn": None}, TypeError, "step_fn"),
    ("greedy", {"start_tokens": np.zeros((2, 1), "int32")}, ValueError, "start_tokens"),
    ("greedy", {"start_tokens": np.zeros(2, "float32")}, TypeError, "start_tokens"),
    ("greedy", {"step_fn": _shape_changing_step}, ValueError, "step_fn"),
    (
        "beam",
        {"step_fn": _structure_changing_step, "state": {"h": np.zeros(2, "float32")}},
        ValueError,
        "step_fn",
    ),
]


@pytest.mark.parametrize(
    "decoder, kwargs, error, name", bad_argument_params(BAD_ARGUMENTS)
)
def test_bad_arguments_raise_naming_the_argument(decoder, kwargs, error, name):
    check_raises_naming(decoder, kwargs, error, name)
