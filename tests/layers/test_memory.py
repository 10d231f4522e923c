"""The recurrent decoders' memory: prepared once per sequence, keys projected
once, the same numbers as calling the attention layer at every step; attention
dropout inside the loop."""

import keras
import numpy as np
import pytest
from harness import BACKEND, to_numpy
from keras import ops
from recurrent_helpers import small_decoder

from keras_attention import (
    AdditiveAttention,
    AttentionDecoder,
    AttentionWrapper,
    LocalAttention,
    MultiplicativeAttention,
)
from keras_attention.layers.recurrent import AttentionMemory
from keras_attention.layers.recurrent.memory import attend, projects_keys_once

RNG = np.random.default_rng(3)
B, S, T, DM, DX, UNITS = 3, 6, 4, 5, 3, 7

MECHANISMS = {
    "additive": lambda: AdditiveAttention(units=4),
    "additive_normalize_no_bias": lambda: AdditiveAttention(
        units=4, normalize=True, use_bias=False
    ),
    "dot": lambda: MultiplicativeAttention(score="dot"),
    "scaled_dot": lambda: MultiplicativeAttention(score="scaled_dot", use_scale=True),
    "general": lambda: MultiplicativeAttention(score="general"),
    "concat": lambda: MultiplicativeAttention(score="concat", units=4),
    "location": lambda: MultiplicativeAttention(score="location", max_length=S),
}
# dot/scaled_dot need the query (the cell output) as wide as the memory.
CELL_UNITS = {"dot": DM, "scaled_dot": DM}


def data():
    memory = RNG.standard_normal((B, S, DM)).astype("float32")
    mask = np.arange(S)[None] < np.array([[S], [3], [1]])
    memory[~mask] = np.nan  # padding is inert: never reaches an output
    inputs = RNG.standard_normal((B, T, DX)).astype("float32")
    return inputs, memory, mask


def decoder_for(name, style="luong", **kwargs):
    keras.utils.set_random_seed(1)
    units = CELL_UNITS.get(name, UNITS)
    return AttentionDecoder(
        keras.layers.LSTMCell(units),
        MECHANISMS[name](),
        style=style,
        attention_layer_size=5,
        **kwargs,
    )


@pytest.mark.parametrize("name", sorted(MECHANISMS))
def test_one_step_with_projected_keys_equals_the_mechanism_call(name):
    _, memory, mask = data()
    mechanism = MECHANISMS[name]()
    units = CELL_UNITS.get(name, UNITS)
    query = RNG.standard_normal((B, units)).astype("float32")
    expected = mechanism(query, memory, value_mask=mask, return_attention_scores=True)
    wrapper = AttentionWrapper(keras.layers.LSTMCell(units), mechanism)
    wrapper.build_for((B, DX), memory.shape)
    prepared = wrapper.prepare_memory(ops.convert_to_tensor(memory), mask)
    assert projects_keys_once(mechanism, wrapper.dtype_policy)
    assert prepared.keys is not None
    result = attend(mechanism, ops.convert_to_tensor(query), prepared)
    for got, want in zip(result, expected, strict=True):
        got, want = to_numpy(got), to_numpy(want)
        assert np.isfinite(got).all()
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    "name,style", [("additive", "bahdanau"), ("concat", "luong"), ("general", "luong")]
)
def test_decoder_equals_calling_the_mechanism_at_every_step(name, style):
    """The same decoder with the per-step path forced gives the same numbers."""
    inputs, memory, mask = data()
    decoder = decoder_for(name, style)
    fast = decoder(inputs, memory, memory_mask=mask, return_attention_scores=True)
    wrapper = decoder.wrapper
    original = wrapper.prepare_memory

    def unprojected(memory, memory_mask=None):
        prepared = original(memory, memory_mask)
        return AttentionMemory(prepared.values, None, prepared.mask)

    wrapper.prepare_memory = unprojected
    slow = decoder(inputs, memory, memory_mask=mask, return_attention_scores=True)
    for a, b in zip(fast, slow, strict=True):
        a, b = to_numpy(a), to_numpy(b)
        assert np.isfinite(a).all()
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


class CountingProjection:
    """Counts the keys `project` sees: full memories or none."""

    def __init__(self, mechanism):
        self.project = mechanism.project
        self.full_keys = 0
        self.no_keys = 0

    def __call__(self, query, key):
        if key.shape[1] == 0:
            self.no_keys += 1
        else:
            self.full_keys += 1
        return self.project(query, key)


def test_keys_are_projected_once_per_sequence():
    inputs, memory, mask = data()
    decoder = decoder_for("additive", "bahdanau")
    decoder(inputs, memory, memory_mask=mask)  # builds
    counter = CountingProjection(decoder.attention)
    object.__setattr__(decoder.attention, "project", counter)
    decoder(inputs, memory, memory_mask=mask)
    assert counter.full_keys == 1
    # Each traced or executed step projects its query alone: at least one
    # (a compiled loop traces its body once), at most one per step and one
    # more (torch's loop runs the first step once more to learn its shapes).
    assert 1 <= counter.no_keys <= T + 1

    counter.full_keys = counter.no_keys = 0
    state = decoder.get_initial_state(memory, memory_mask=mask)
    assert counter.full_keys == 1
    for t in range(T):
        _, state = decoder.step(inputs[:, t], state)
    assert counter.full_keys == 1
    assert counter.no_keys == T


def test_step_state_carries_the_prepared_memory():
    inputs, memory, mask = data()
    decoder = decoder_for("additive", "bahdanau")
    decoder(inputs, memory, memory_mask=mask)
    state = decoder.get_initial_state(memory, memory_mask=mask)
    values = to_numpy(state["memory"])
    np.testing.assert_array_equal(values[~mask], 0.0)
    np.testing.assert_array_equal(values[mask], memory[mask])
    assert tuple(state["memory_keys"].shape) == (B, S, 4)
    # A state without the keys (made by hand) projects them at the step.
    outputs, _ = decoder.step(inputs[:, 0], state)
    without = dict(state, memory_keys=None)
    again, _ = decoder.step(inputs[:, 0], without)
    np.testing.assert_allclose(to_numpy(outputs), to_numpy(again), atol=1e-6)

    luong = decoder_for("general")
    luong(inputs, memory, memory_mask=mask)
    state = luong.get_initial_state(memory, memory_mask=mask)
    assert state["memory_keys"] is None  # the keys are the memory itself


@pytest.mark.parametrize(
    "make",
    [
        lambda: AdditiveAttention(units=4, dropout=0.5),
        lambda: LocalAttention(window_width=1),
    ],
    ids=["dropout", "local"],
)
def test_other_mechanisms_are_called_at_every_step(make):
    inputs, memory, mask = data()
    memory = np.nan_to_num(memory)
    decoder = AttentionDecoder(keras.layers.LSTMCell(UNITS), make())
    outputs = decoder(inputs, memory, memory_mask=mask)
    assert not projects_keys_once(decoder.attention, decoder.wrapper.dtype_policy)
    state = decoder.get_initial_state(memory, memory_mask=mask)
    assert state["memory_keys"] is None
    step_output, _ = decoder.step(inputs[:, 0], state)
    np.testing.assert_allclose(
        to_numpy(step_output), to_numpy(outputs)[:, 0], rtol=1e-5, atol=1e-6
    )


def test_wrapper_memory_is_set_restored_and_cleared():
    _, memory, mask = data()
    wrapper = AttentionWrapper(keras.layers.LSTMCell(UNITS), AdditiveAttention(4))
    assert wrapper.memory is None and wrapper.memory_shape is None
    wrapper.setup_memory(memory, memory_mask=mask)
    first = wrapper.memory
    assert isinstance(first, AttentionMemory)
    assert first.keys is None  # not built yet: the keys come at build time
    wrapper.build((B, DX))
    assert tuple(wrapper.memory.keys.shape) == (B, S, 4)
    np.testing.assert_array_equal(to_numpy(wrapper.memory.values)[~mask], 0.0)
    other = np.zeros((B, S, DM), "float32")
    with wrapper.attending(other, alignments=True) as prepared:
        assert wrapper.memory is prepared and prepared.mask is None
    assert wrapper.memory.keys is not None and wrapper.memory.mask is not None
    wrapper.clear_memory()
    assert wrapper.memory is None and wrapper.memory_shape == (B, S, DM)


def test_mixed_precision_step_equals_teacher_forced():
    inputs, memory, mask = data()
    memory = np.nan_to_num(memory)
    keras.utils.set_random_seed(2)
    decoder = AttentionDecoder(
        keras.layers.LSTMCell(UNITS, dtype="mixed_float16"),
        AdditiveAttention(units=4, dtype="mixed_float16"),
        style="bahdanau",
        attention_layer_size=5,
        dtype="mixed_float16",
    )
    outputs = decoder(inputs, memory, memory_mask=mask)
    assert projects_keys_once(decoder.attention, decoder.wrapper.dtype_policy)
    state = decoder.get_initial_state(memory, memory_mask=mask)
    dtypes = {
        keras.backend.standardize_dtype(x.dtype)
        for x in (state["memory_keys"], outputs)
    }
    assert dtypes == {"float16"}
    steps = []
    for t in range(T):
        output, state = decoder.step(inputs[:, t], state)
        steps.append(to_numpy(output))
    np.testing.assert_allclose(
        np.stack(steps, 1).astype("float32"),
        to_numpy(outputs).astype("float32"),
        atol=2e-3,
    )


@pytest.mark.skipif(BACKEND != "jax", reason="the limitation is JAX's lax.scan")
def test_attention_dropout_in_the_loop_is_refused_on_jax():
    decoder = AttentionDecoder(
        keras.layers.LSTMCell(4), AdditiveAttention(units=3, dropout=0.2)
    )
    inputs = np.zeros((2, 3, 3), "float32")
    memory = np.zeros((2, 4, 4), "float32")
    decoder(inputs, memory)  # inference is fine
    with pytest.raises(ValueError, match="dropout"):
        decoder(inputs, memory, training=True)


def _compiled(fn):
    """`fn` traced by the backend's compiler: a TensorFlow graph, JAX jit."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, jit_compile=True)
    if BACKEND == "jax":
        import jax

        return jax.jit(fn)
    return fn


def test_the_decoder_runs_inside_a_compiled_function():
    """The memory is prepared inside the traced function (a TensorFlow graph
    at its root scope, JAX jit; eager torch): its helper layer needs a valid
    TensorFlow root scope name there (once `__under_policy_N`, refused)."""
    rng = np.random.default_rng(0)
    inputs = rng.normal(size=(2, 3, 5)).astype("float32")
    memory = rng.normal(size=(2, 4, 6)).astype("float32")
    mask = np.array([[1, 1, 1, 0], [1, 1, 1, 1]], bool)
    state = [rng.normal(size=(2, 4)).astype("float32") for _ in range(2)]
    decoder = small_decoder(style="bahdanau", attention_layer_size=4)
    decoder(inputs, memory, initial_state=state)  # built eagerly, no mask
    eager = to_numpy(decoder(inputs, memory, initial_state=state, memory_mask=mask))
    compiled = _compiled(
        lambda x, m, s, k: decoder(x, m, initial_state=s, memory_mask=k)
    )
    got = to_numpy(compiled(inputs, memory, state, mask))
    np.testing.assert_allclose(got, eager, rtol=1e-5, atol=1e-6)
    # A step state without its projected keys prepares them inside the step,
    # which is no layer call: at TensorFlow's root name scope.
    step_state = decoder.get_initial_state(memory, cell_state=state, memory_mask=mask)
    step_state = {k: v for k, v in step_state.items() if k != "memory_keys"}
    eager_step = to_numpy(decoder.step(inputs[:, 0], step_state)[0])
    compiled_step = _compiled(lambda x, s: decoder.step(x, s)[0])
    got_step = to_numpy(compiled_step(inputs[:, 0], step_state))
    np.testing.assert_allclose(got_step, eager_step, rtol=1e-5, atol=1e-6)
