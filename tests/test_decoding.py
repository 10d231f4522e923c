"""Greedy search, beam search and sampling as one package
(keras_attention.decoding): compiled decoding equals eager decoding on every
backend, and the public functions' docstrings are complete and run.

The per-module tests are in tests/decoding/; the toy models and NumPy
references they share are in tests/decoding_models.py.
"""

import inspect
import re

import numpy as np
import pytest
from decoding_models import BACKEND, HistoryModel, log_softmax, to_np
from keras import ops

from keras_attention import decoding
from keras_attention.decoding import beam_search, greedy_search, sample

# --------------------------------------------------------------------------
# Compiled decoding equals eager decoding.
# --------------------------------------------------------------------------


def _decode_all(model, max_length):
    def run(starts, h, enc, count):
        state = {"h": h, "enc": enc, "count": count}
        greedy = greedy_search(model.step_fn, starts, state, max_length, end_token=2)
        beam = beam_search(
            model.step_fn,
            starts,
            state,
            max_length,
            beam_size=3,
            end_token=2,
            length_penalty=0.6,
            return_all_beams=True,
        )
        sampled = sample(
            model.step_fn,
            starts,
            state,
            max_length,
            end_token=2,
            temperature=0.7,
            top_k=4,
            top_p=0.9,
            seed=3,
        )
        return (*greedy, *beam, *sampled)

    return run


def sequence_log_prob(model, item, start, tokens, end_token):
    """The model's log-probability of `tokens` up to the end token."""
    tokens = list(tokens)
    if end_token in tokens:
        tokens = tokens[: tokens.index(end_token) + 1]
    return sum(
        log_softmax(model.logits(item, start, tokens[:i]))[token]
        for i, token in enumerate(tokens)
    )


def _check_compiled(compile_fn, same_random_stream=True):
    """Greedy, beam search and sampling compiled as one function of the
    state tensors give the eager results. TensorFlow's XLA kernel of
    `stateless_categorical` draws a different stream than its eager one:
    there the samples must only be reproducible and scored correctly."""
    vocab, max_length = 5, 6
    model = HistoryModel(vocab, batch=3, seed=8)
    state = model.state()
    starts = np.array([0, 3, 4], "int32")
    args = (
        ops.convert_to_tensor(starts),
        state["h"],
        state["enc"],
        state["count"],
    )
    run = _decode_all(model, max_length)
    eager = [to_np(x) for x in run(*args)]
    compiled_fn = compile_fn(run)
    compiled = [to_np(x) for x in compiled_fn(*args)]
    if not same_random_stream:
        again = [to_np(x) for x in compiled_fn(*args)]
        np.testing.assert_array_equal(compiled[4], again[4])
        for item, start in enumerate(starts):
            expected = sequence_log_prob(model, item, start, compiled[4][item], 2)
            np.testing.assert_allclose(compiled[5][item], expected, rtol=1e-4)
        eager, compiled = eager[:4], compiled[:4]
    for a, b in zip(eager, compiled, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        if a.dtype == np.int32:
            np.testing.assert_array_equal(a, b)
        else:
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(
    BACKEND != "jax",
    reason="checks jax.jit compilation, which exists only on the JAX backend",
)
def test_jax_jit_equals_eager():
    import jax

    _check_compiled(jax.jit)


@pytest.mark.skipif(
    BACKEND != "tensorflow",
    reason="checks tf.function tracing, which exists only on the TensorFlow backend",
)
@pytest.mark.parametrize("jit_compile", [True, False])
def test_tf_function_equals_eager(jit_compile):
    import tensorflow as tf

    _check_compiled(
        lambda fn: tf.function(fn, jit_compile=jit_compile),
        same_random_stream=not jit_compile,
    )


@pytest.mark.skipif(
    BACKEND != "tensorflow",
    reason="checks tf.function tracing, which exists only on the TensorFlow backend",
)
def test_tf_function_with_unknown_batch_size():
    import tensorflow as tf

    model = HistoryModel(4, batch=3, seed=9)
    state = model.state()
    specs = [
        tf.TensorSpec([None], tf.int32),
        tf.TensorSpec([None], tf.int32),
        tf.TensorSpec([None, 3, 4], tf.float32),
        tf.TensorSpec([None], tf.int32),
    ]
    run = _decode_all(model, 5)
    args = (np.array([0, 1, 3], "int32"), state["h"], state["enc"], state["count"])
    eager = [to_np(x) for x in run(*args)]
    graph = [to_np(x) for x in tf.function(run, input_signature=specs)(*args)]
    for a, b in zip(eager, graph, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------
# Documentation.
# --------------------------------------------------------------------------

FENCE = re.compile(r"```python\n(.*?)```", re.DOTALL)


def test_public_functions_have_complete_docstrings():
    for name in decoding.__all__:
        doc = inspect.getdoc(getattr(decoding, name))
        for section in ("Args:", "Returns:", "Example:", "```python"):
            assert section in doc, f"{name}'s docstring lacks {section!r}"


@pytest.mark.parametrize(
    "code",
    [
        pytest.param(block, id=f"{name}-{i}")
        for name in decoding.__all__
        for i, block in enumerate(
            FENCE.findall(inspect.getdoc(getattr(decoding, name)))
        )
    ],
)
def test_docstring_example_runs(code, capsys):
    exec(compile(code, "<docstring example>", "exec"), {})
    assert capsys.readouterr().out
