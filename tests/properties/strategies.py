"""Strategies and helpers shared by the property tests.

Every example draws its own sizes, masks, configuration and a seed; the data
itself comes from a NumPy generator seeded by that draw (so a falsifying
example prints a seed, not thousands of floats). `example_scope(seed)` seeds
Keras for the layer's initial weights and restores the dtype policy, so that
examples are independent of each other (the autouse fixture of conftest.py
runs once per test, not per example).

Sizes come from small pools rather than ranges: JAX's eager mode compiles
every primitive once per shape, measured here at 3-10 s for the first
forward+backward pass of a `MultiHeadAttention` at a new shape and ~0.05 s at
a shape already seen. A few recurring sizes (length 1, batch 1 and odd
feature sizes included) keep the whole suite within its time budget.
"""

import contextlib
import dataclasses
import os

import keras
import numpy as np
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from keras import ops

import keras_attention as ka

BACKEND = keras.backend.backend()

BATCHES = (1, 2, 3)
LENGTHS = (1, 2, 5, 9)
LONG_LENGTHS = (2, 5, 9)  # where a property needs two positions at least
FEATURES = (3, 8)
HEAD_DIMS = (2, 4)
HEADS = (1, 2, 4)
# What padding may hold. NaN and +-inf are the classic poisons; 1e30 is
# finite but overflows float32 as soon as it is squared or multiplied by a
# weight of order 1e9 (`0 * inf` in a gradient).
POISONS = (float("nan"), float("inf"), float("-inf"), 1e30)

seeds = st.integers(0, 2**31 - 1)
batches = st.sampled_from(BATCHES)
lengths = st.sampled_from(LENGTHS)
long_lengths = st.sampled_from(LONG_LENGTHS)
features = st.sampled_from(FEATURES)
poisons = st.sampled_from(POISONS)


# JAX compiles every example (see `JIT` below), ~1-3 s each on 2 CPU cores
# against ~0.1 s for an eager example on TensorFlow or torch: it runs 40% of
# the examples, which keeps its run of the suite within ~3 minutes (-n 2).
BACKEND_FACTOR = 0.4 if BACKEND == "jax" else 1.0


def examples(fraction=1.0, **overrides):
    """`settings` running `fraction` of the profile's `max_examples` (>= 2).

    Expensive properties (long sequences, recurrent loops) run fewer
    examples, and JAX 40% as many (`BACKEND_FACTOR`); the ratios hold under
    every profile. `overrides` go to `settings`.
    """
    count = settings.default.max_examples * fraction * BACKEND_FACTOR
    return settings(max_examples=max(2, int(round(count))), **overrides)


def bool_masks(shape):
    """Arbitrary boolean masks (all-False rows included)."""
    return hnp.arrays(np.bool_, shape)


@keras.saving.register_keras_serializable(package="keras_attention_properties")
class NumpyInitializer(keras.initializers.Initializer):
    """Glorot-uniform kernels (or small uniform biases) drawn by NumPy.

    Measured on JAX: building 8 `MultiHeadAttention` layers of new shapes
    took 8.4 s with Keras' initializers (a random op compiled per shape)
    and 0.3 s with this one. Values come from the generator that
    `example_scope` seeds, so an example's weights are reproducible.
    """

    def __init__(self, bias=False):
        self.bias = bias

    def __call__(self, shape, dtype=None):
        shape = tuple(shape)
        if self.bias:
            limit = 0.2
        else:
            receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
            fan_in = shape[-2] * receptive if len(shape) > 1 else (shape or (1,))[0]
            fan_out = shape[-1] * receptive if shape else 1
            limit = float(np.sqrt(6.0 / (fan_in + fan_out)))
        return _INIT_RNG[0].uniform(-limit, limit, size=shape).astype("float32")

    def get_config(self):
        return {"bias": self.bias}


_INIT_RNG = [np.random.default_rng(0)]


def init(*names):
    """Constructor arguments giving a layer `NumpyInitializer`s.

    Default names: `kernel_initializer` and `bias_initializer`.
    """
    names = names or ("kernel_initializer", "bias_initializer")
    return {name: NumpyInitializer(bias=name.startswith("bias")) for name in names}


@contextlib.contextmanager
def example_scope(seed, policy=None):
    """Seed Keras (and torch's global RNG) and set a dtype policy for one example.

    Yields a NumPy generator for the example's data. The previous policy is
    restored on exit, whatever happens.
    """
    previous = keras.config.dtype_policy()
    keras.utils.set_random_seed(seed % (2**31))
    _INIT_RNG[0] = np.random.default_rng([seed, 1])
    if policy is not None:
        keras.config.set_dtype_policy(policy)
    try:
        yield np.random.default_rng(seed)
    finally:
        keras.config.set_dtype_policy(previous)


def to_np(x):
    if x is None:
        return None
    if hasattr(x, "detach"):  # torch: outputs of differentiated inputs
        x = x.detach()
    return np.asarray(keras.ops.convert_to_numpy(x))


def to_np32(x):
    return to_np(ops.cast(x, "float32"))


def normal(rng, shape, scale=1.0):
    return (scale * rng.normal(size=shape)).astype("float32")


# ------------------------------------------------------- running a layer
# On JAX every example runs as one `jax.jit` program of the layer's
# `stateless_call` (weights passed in as arguments, so the clean and the
# perturbed inputs of an example share one compilation). Eager JAX compiles
# each primitive for each new shape instead: measured here on the causality
# properties, 220 s eager against ~10 s on TensorFlow and torch for the same
# examples; jit compiles an example in ~0.3 s. KA_PROPERTIES_EAGER=1 runs
# JAX eagerly (op by op) instead. TensorFlow and torch always run eagerly.
JIT = BACKEND == "jax" and os.environ.get("KA_PROPERTIES_EAGER", "") != "1"


def jit(fn):
    """`jax.jit(fn)` when `JIT`, else `fn`."""
    if not JIT:
        return fn
    import jax

    return jax.jit(fn)


def build(layer, call, *arrays):
    """Build `layer` by a symbolic `call(layer, *inputs)` (no computation)."""
    if layer.built:
        return layer
    symbolic = [
        keras.KerasTensor(np.shape(a), dtype=np.asarray(a).dtype) for a in arrays
    ]
    call(layer, *symbolic)
    assert layer.built
    return layer


def _tensors(arrays):
    return [ops.convert_to_tensor(a) for a in arrays]


def weight_values(layer):
    """Tensors of the layer's trainable and non-trainable variables (copies)."""
    trainable = [ops.convert_to_tensor(to_np(v)) for v in layer.trainable_variables]
    non_trainable = [v.value for v in layer.non_trainable_variables]
    return trainable, non_trainable


def stateless_runner(layer, trainable, non_trainable):
    """`run(*args, **kwargs)`: `layer(...)` with the given weight values.

    The layer is called through `__call__` (not `stateless_call`, which
    runs `call` directly): inputs are converted to the compute dtype,
    mixed-precision autocasting, Keras masks and `training` work as in a
    user's call. A `StatelessScope` supplies the variables' values, so they
    can be traced (jit) and differentiated, and the seed generators start
    from the same state at every call.
    """
    mapping = list(zip(layer.trainable_variables, trainable, strict=True))
    mapping += list(zip(layer.non_trainable_variables, non_trainable, strict=True))

    def run(*args, **kwargs):
        with keras.StatelessScope(state_mapping=mapping):
            return layer(*args, **kwargs)

    return run


def _numpy_tree(x):
    return keras.tree.map_structure(lambda t: None if t is None else to_np(t), x)


def forward(layer, call, seed=None, mode=None):
    """`fn(*arrays)`: NumPy outputs of `call(run, *tensors)`.

    `mode`: `None` (jit on JAX, eager elsewhere), `"eager"` (eager on every
    backend), or `"xla"` (XLA: `jax.jit`, or `tf.function(jit_compile=True)`
    on TensorFlow; eager on torch, whose `jit_compile` is torch.compile).

    `run` is the (built) layer with its current weights, called
    statelessly: the seed generators start from the same state at every
    call, and `seed` reseeds the global generators first (torch's unseeded
    dropout draws from them), so dropout draws the same mask for inputs of
    the same shapes.
    """
    trainable, non_trainable = weight_values(layer)

    def pure(trainable, non_trainable, *tensors):
        return call(stateless_runner(layer, trainable, non_trainable), *tensors)

    if mode is None:
        pure = jit(pure)
    elif mode == "xla" and BACKEND == "jax":
        import jax

        pure = jax.jit(pure)
    elif mode == "xla" and BACKEND == "tensorflow":
        import tensorflow as tf

        pure = tf.function(pure, jit_compile=True)

    def fn(*arrays, weights=None):
        """`weights`: NumPy values replacing the trainable weights."""
        if seed is not None:
            keras.utils.set_random_seed(seed % (2**31))
        values = trainable if weights is None else _tensors(weights)
        return _numpy_tree(pure(values, non_trainable, *_tensors(arrays)))

    return fn


def value_and_grads(fn, *arrays):
    """`(fn(*arrays), [d fn / d a for a in arrays])` as NumPy, on any backend.

    Like `tests/grad_utils.value_and_grad`, but an argument that does not
    reach the value gets a zero gradient (TensorFlow would give `None`,
    torch raise), the gradients are always a list, and JAX compiles.
    """
    if BACKEND == "jax":
        import jax

        value, grads = jit(jax.value_and_grad(fn, argnums=tuple(range(len(arrays)))))(
            *[jax.numpy.asarray(a) for a in arrays]
        )
    elif BACKEND == "tensorflow":
        import tensorflow as tf

        tensors = [tf.convert_to_tensor(a) for a in arrays]
        with tf.GradientTape() as tape:
            tape.watch(tensors)
            value = fn(*tensors)
        grads = tape.gradient(
            value, tensors, unconnected_gradients=tf.UnconnectedGradients.ZERO
        )
    elif BACKEND == "torch":
        import torch

        tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
        value = fn(*tensors)
        grads = torch.autograd.grad(
            value, tensors, allow_unused=True, materialize_grads=True
        )
        value = value.detach()
    else:  # pragma: no cover
        raise NotImplementedError(BACKEND)
    return to_np(value), [to_np(g) for g in grads]


def gradients(layer, call, loss, seed=None):
    """`g(*arrays) -> (value, outputs, input_grads, weight_grads)`, NumPy.

    The value is `loss(outputs)`, `outputs = call(run, *tensors)` with
    `run` the (built) layer called statelessly; the gradients are taken with
    respect to the arrays (float) and to every trainable weight. The outputs
    come with the gradients (one compilation on JAX serves both, and every
    call of `g` with the same shapes).
    """
    trainable, non_trainable = weight_values(layer)
    default_weights = [to_np(w) for w in trainable]

    def objective(arrays, weight_values):
        run = stateless_runner(layer, weight_values, non_trainable)
        outputs = call(run, *arrays)
        return loss(outputs), outputs

    if BACKEND == "jax":
        import jax

        compiled = jit(jax.value_and_grad(objective, argnums=(0, 1), has_aux=True))

        def raw(arrays, weights):
            (value, outputs), (input_grads, weight_grads) = compiled(
                tuple(jax.numpy.asarray(a) for a in arrays),
                tuple(jax.numpy.asarray(w) for w in weights),
            )
            return value, outputs, list(input_grads), list(weight_grads)

    elif BACKEND == "tensorflow":
        import tensorflow as tf

        def raw(arrays, weights):
            arrays = [tf.convert_to_tensor(a) for a in arrays]
            weights = [tf.convert_to_tensor(w) for w in weights]
            with tf.GradientTape() as tape:
                tape.watch(arrays + weights)
                value, outputs = objective(arrays, weights)
            grads = tape.gradient(
                value,
                arrays + weights,
                unconnected_gradients=tf.UnconnectedGradients.ZERO,
            )
            return value, outputs, grads[: len(arrays)], grads[len(arrays) :]

    elif BACKEND == "torch":
        import torch

        def raw(arrays, weights):
            arrays = [torch.tensor(a, requires_grad=True) for a in arrays]
            weights = [torch.tensor(w, requires_grad=True) for w in weights]
            value, outputs = objective(arrays, weights)
            grads = torch.autograd.grad(
                value, arrays + weights, allow_unused=True, materialize_grads=True
            )
            return value, outputs, grads[: len(arrays)], grads[len(arrays) :]

    else:  # pragma: no cover
        raise NotImplementedError(BACKEND)

    def g(*arrays, weights=None):
        """`weights`: NumPy values replacing the trainable weights."""
        if seed is not None:
            keras.utils.set_random_seed(seed % (2**31))
        value, outputs, input_grads, weight_grads = raw(
            arrays, default_weights if weights is None else weights
        )
        return (
            to_np(value),
            _numpy_tree(outputs),
            [to_np(x) for x in input_grads],
            [to_np(x) for x in weight_grads],
        )

    return g


def coefficients(shape):
    """Fixed pseudo-random loss coefficients: `sin` of the flat index."""
    index = np.arange(int(np.prod(shape)), dtype="float64")
    return np.reshape(np.sin(index * 1.618 + 0.5) + 0.1, shape).astype("float32")


def weighted_sum(rows=None):
    """`loss(outputs) = sum(c * outputs)` over the selected rows.

    The first output if a tuple; `c` is a fixed pseudo-random tensor of the
    output's shape (`sin` of the flat index: every element gets a different,
    non-zero coefficient). `rows`: optional `(batch, T)` boolean of the
    output rows the loss reads; the others are excluded with `where` (not
    multiplied by 0: `0 * NaN` is NaN).
    """

    def loss(outputs):
        if isinstance(outputs, (tuple, list)):
            outputs = outputs[0]
        outputs = ops.cast(outputs, "float32")
        shape = tuple(outputs.shape)
        terms = outputs * ops.convert_to_tensor(coefficients(shape))
        if rows is not None:
            select = np.reshape(rows, rows.shape + (1,) * (len(shape) - 2))
            terms = ops.where(ops.convert_to_tensor(select), terms, 0.0)
        return ops.sum(terms)

    return loss


# -------------------------------------------------------------- assertions
def assert_close(actual, expected, what, rtol=1e-6, atol=1e-6):
    actual = np.asarray(actual, dtype="float64")
    expected = np.asarray(expected, dtype="float64")
    assert actual.shape == expected.shape, (what, actual.shape, expected.shape)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=what)


def assert_finite(x, what):
    x = np.asarray(x, dtype="float64")
    bad = ~np.isfinite(x)
    assert not bad.any(), (
        f"{what}: {bad.sum()} non-finite values at {np.argwhere(bad)[:5].tolist()}"
    )


def assert_grads_equal(got, want, what, rtol=1e-5, atol=1e-6):
    assert len(got) == len(want)
    for index, (g, w) in enumerate(zip(got, want, strict=True)):
        assert_finite(g, f"{what}[{index}]")
        assert_close(g, w, f"{what}[{index}]", rtol=rtol, atol=atol)


# -------------------------------------------------------------- data
def poison_positions(x, padded, value, rng, all_features=True):
    """`x` with `value` at the padded steps (`padded`: `(batch, T)`, True = pad).

    With `all_features=False` only a random non-empty subset of the features
    of each padded step is poisoned (the rest keeps what `x` holds there).
    """
    out = np.array(x, dtype="float32", copy=True)
    padded = np.asarray(padded, bool)
    if all_features:
        out[padded] = value
    else:
        select = rng.random(out.shape) < 0.5
        select[..., 0] = True
        select &= padded[..., None]
        out[select] = value
    return out


def zero_positions(x, padded):
    out = np.array(x, dtype="float32", copy=True)
    out[np.asarray(padded, bool)] = 0.0
    return out


# ------------------------------------------------------------- NumPy maths
def np_masked_softmax(scores, mask=None):
    """Softmax over the last axis, zeros where masked and for empty rows."""
    scores = np.asarray(scores, "float64")
    if mask is None:
        mask = np.ones(scores.shape, bool)
    mask = np.broadcast_to(mask, scores.shape)
    shifted = np.where(mask, scores, -np.inf)
    top = np.max(shifted, axis=-1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    exp = np.where(mask, np.exp(shifted - top), 0.0)
    total = exp.sum(-1, keepdims=True)
    return np.where(total > 0, exp / np.where(total > 0, total, 1.0), 0.0)


def band(length_q, length_k, window, causal, offset=0):
    """NumPy twin of the layers' band: causal `i-w < j <= i`, else `|i-j| <= w`."""
    rows = np.arange(length_q)[:, None] + offset
    cols = np.arange(length_k)[None, :]
    if causal:
        return (cols <= rows) & (cols > rows - window)
    return np.abs(cols - rows) <= window


def causal(length_q, length_k, offset=0):
    return np.arange(length_k)[None, :] <= np.arange(length_q)[:, None] + offset


# ------------------------------------------------------------- layer specs
@dataclasses.dataclass
class Spec:
    """A layer class and its constructor arguments (readable in examples)."""

    cls: type
    kwargs: dict

    def make(self, **overrides):
        return self.cls(**{**init(), **self.kwargs, **overrides})

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        return f"{self.cls.__name__}({args})"

    @property
    def needs_equal_dims(self):
        """Dot scores: query and key must have the same size."""
        return self.kwargs.get("score") in ("dot", "scaled_dot")


SINGLE_HEAD_SCORES = ("additive", "dot", "scaled_dot", "general", "concat", "location")


@st.composite
def single_head_specs(
    draw,
    key_length,
    scores=SINGLE_HEAD_SCORES,
    local=True,
    chunking=True,
    dropout=False,
):
    """An `AdditiveAttention`, `MultiplicativeAttention` or `LocalAttention` spec."""
    kinds = list(scores) + (["local"] if local else [])
    kind = draw(st.sampled_from(kinds), label="kind")
    common = {}
    if chunking and kind != "local":
        chunk = draw(st.sampled_from((None, 1, 2, 4)), label="query_chunk_size")
        if chunk is not None:
            common["query_chunk_size"] = chunk
    if dropout:
        common["dropout"] = 0.5
    if kind == "additive":
        return Spec(
            ka.AdditiveAttention,
            {
                "units": draw(st.sampled_from((2, 5)), label="units"),
                "use_bias": draw(st.booleans(), label="use_bias"),
                "normalize": draw(st.booleans(), label="normalize"),
                **common,
            },
        )
    if kind == "local":
        return Spec(
            ka.LocalAttention,
            {
                "window_width": draw(st.sampled_from((1, 2, 4)), label="window_width"),
                "mode": draw(
                    st.sampled_from(("monotonic", "predictive")), label="mode"
                ),
                "score": draw(
                    st.sampled_from(("dot", "scaled_dot", "general", "concat")),
                    label="local score",
                ),
                "use_scale": draw(st.booleans(), label="use_scale"),
                **common,
            },
        )
    kwargs = {"score": kind, "use_scale": draw(st.booleans(), label="use_scale")}
    if kind == "location":
        kwargs["max_length"] = key_length + draw(st.sampled_from((0, 2)))
    if kind == "concat":
        kwargs["units"] = draw(st.sampled_from((None, 3)), label="units")
    return Spec(ka.MultiplicativeAttention, {**kwargs, **common})


@st.composite
def mha_kwargs(
    draw,
    scores=("scaled_dot", "additive", "general"),
    positions=(None, "rope", "alibi"),
    windows=(None, 1, 2, 4),
    value_dims=(None, 3),
    heads=HEADS,
):
    """Constructor arguments of `MultiHeadAttention`."""
    num_heads = draw(st.sampled_from(heads), label="num_heads")
    kv_choices = [None] + [k for k in (1, 2) if num_heads % k == 0 and k < num_heads]
    kwargs = {
        "num_heads": num_heads,
        "key_dim": draw(st.sampled_from(HEAD_DIMS), label="key_dim"),
        "num_key_value_heads": draw(st.sampled_from(kv_choices), label="kv_heads"),
        "value_dim": draw(st.sampled_from(value_dims), label="value_dim"),
        "score": draw(st.sampled_from(scores), label="score"),
        "position_embedding": draw(st.sampled_from(positions), label="position"),
        "window": draw(st.sampled_from(windows), label="window"),
        "use_bias": draw(st.booleans(), label="use_bias"),
    }
    return {
        k: v for k, v in kwargs.items() if v is not None or k == "position_embedding"
    }


def make_mha(**kwargs):
    """`MultiHeadAttention(**kwargs)` with `NumpyInitializer` weights."""
    return ka.MultiHeadAttention(**{**init(), **kwargs})


def alibi_slopes_or_none(heads):
    return st.one_of(st.none(), st.just(ka.core.alibi_slopes(heads)))


def mha_band(kwargs, length_q, length_k, use_causal_mask, offset=0):
    """The `(Tq, Tk)` mask that `MultiHeadAttention` itself applies."""
    mask = np.ones((length_q, length_k), bool)
    if use_causal_mask:
        mask &= causal(length_q, length_k, offset)
    window = kwargs.get("window")
    if window is not None:
        mask &= band(length_q, length_k, window, use_causal_mask, offset)
    return mask
