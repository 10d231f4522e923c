"""One reusable harness that checks the Keras contract of any layer.

A layer's test file describes the layer once as a `LayerCase` and runs every
check of `CHECKS` on it:

    CASES = [LayerCase(AdditiveAttention, {"units": 4}, {"query": (2, 5, 6), ...})]

    @pytest.mark.parametrize("check", CHECKS)
    @pytest.mark.parametrize("case", CASES, ids=str)
    def test_keras_contract(case, check, tmp_path):
        run_check(case, check, tmp_path)

The checks: eager shapes against `compute_output_shape`, symbolic use in a
functional model (tuple specs with `return_attention_scores=True`),
`get_config`/`from_config`, `.keras` save and reload, a training step that
lowers the loss and moves every weight, Keras mask propagation with padding
invariance, `mixed_float16`/`mixed_bfloat16` policies, and `jit_compile=True`.
"""

import dataclasses
import os

import keras
import numpy as np
import pytest
from keras import ops

BACKEND = keras.backend.backend()
CHECKS = (
    "shapes",
    "symbolic",
    "config",
    "saving",
    "training",
    "masking",
    "mixed_float16",
    "mixed_bfloat16",
    "jit_compile",
)
# Mixed precision tolerances, relative to the float32 output's scale.
MIXED_TOLERANCE = {"mixed_float16": 2e-2, "mixed_bfloat16": 8e-2}


@dataclasses.dataclass
class LayerCase:
    """How to build and call one layer configuration.

    Attributes:
        cls: the layer class.
        init_kwargs: constructor arguments.
        inputs: ordered mapping of call argument name to full input shape
            (batch first); passed positionally in this order.
        call_kwargs: extra keyword arguments for every call.
        scores: whether the layer accepts `return_attention_scores`.
        mask_inputs: inputs that carry a Keras mask in the masking check
            (their last `pad` steps are padding).
        pad: number of padded steps at the end of each masked input.
        id: readable test id suffix.
        integer_inputs: inputs that are token ids, mapped to the vocabulary
            size (ids drawn from 1..size-1; 0 is padding, masked by the layer
            itself rather than by `keras.layers.Masking`).
    """

    cls: type
    init_kwargs: dict
    inputs: dict
    call_kwargs: dict = dataclasses.field(default_factory=dict)
    scores: bool = False
    mask_inputs: tuple = ()
    pad: int = 2
    id: str = ""
    integer_inputs: dict = dataclasses.field(default_factory=dict)

    def __str__(self):
        return f"{self.cls.__name__}-{self.id}" if self.id else self.cls.__name__

    def make_layer(self, **overrides):
        return self.cls(**{**self.init_kwargs, **overrides})

    def make_data(self, seed=0):
        rng = np.random.default_rng(seed)
        return [
            rng.integers(1, self.integer_inputs[name], size=shape).astype("int32")
            if name in self.integer_inputs
            else rng.normal(size=shape).astype("float32")
            for name, shape in self.inputs.items()
        ]

    def make_inputs(self, lengths=True):
        """`keras.Input`s with unknown batch (and unknown lengths if not `lengths`)."""
        inputs = []
        for name, shape in self.inputs.items():
            if name in self.integer_inputs:
                shape = shape[1:] if lengths else (None,) * (len(shape) - 1)
                inputs.append(keras.Input(shape=shape, dtype="int32", name=name))
            else:
                unknown = (None,) * (len(shape) - 2) + tuple(shape[-1:])
                shape = shape[1:] if lengths else unknown
                inputs.append(keras.Input(shape=shape, name=name))
        return inputs


def to_numpy(x):
    return keras.ops.convert_to_numpy(x)


def _flatten(outputs):
    return list(outputs) if isinstance(outputs, (tuple, list)) else [outputs]


def _functional_model(case, layer, **call_overrides):
    inputs = case.make_inputs()
    outputs = layer(*inputs, **{**case.call_kwargs, **call_overrides})
    return keras.Model(inputs, outputs)


def _assert_close(actual, expected, atol=1e-5, rtol=1e-5, what="outputs"):
    for a, e in zip(_flatten(actual), _flatten(expected), strict=True):
        np.testing.assert_allclose(
            to_numpy(a).astype("float32"),
            to_numpy(e).astype("float32"),
            atol=atol,
            rtol=rtol,
            err_msg=what,
        )


def _weights_shape(case, layer):
    """The attention weights' shape that the layer's output spec announces."""
    specs = layer.compute_output_spec(
        *[keras.KerasTensor(s) for s in case.inputs.values()],
        return_attention_scores=True,
        **case.call_kwargs,
    )
    return tuple(specs[1].shape)


# ---------------------------------------------------------------------- checks
def check_shapes(case, tmp_path):
    layer = case.make_layer()
    data = case.make_data()
    outputs = layer(*data, **case.call_kwargs)
    expected = layer.compute_output_shape(*case.inputs.values())
    assert tuple(outputs.shape) == tuple(expected)
    assert keras.backend.standardize_dtype(outputs.dtype) == layer.compute_dtype
    if case.scores:
        outputs, weights = layer(
            *data, return_attention_scores=True, **case.call_kwargs
        )
        assert tuple(outputs.shape) == tuple(expected)
        assert tuple(weights.shape) == _weights_shape(case, layer)


def check_symbolic(case, tmp_path):
    layer = case.make_layer()
    model = _functional_model(case, layer)
    expected = layer.compute_output_shape(
        *[(None,) + tuple(s[1:]) for s in case.inputs.values()]
    )
    assert tuple(model.outputs[0].shape) == tuple(expected)
    eager = layer(*case.make_data(), **case.call_kwargs)
    _assert_close(model(case.make_data()), eager, what="functional vs eager")
    # Unknown sequence lengths: every axis but batch and features is None.
    layer = case.make_layer()
    inputs = case.make_inputs(lengths=False)
    outputs = _flatten(layer(*inputs, **case.call_kwargs))
    assert outputs[0].shape[-1] == expected[-1]
    assert all(d is None for d in outputs[0].shape[:-1])
    model = keras.Model(inputs, outputs)
    eager = layer(*case.make_data(), **case.call_kwargs)
    _assert_close(model(case.make_data()), eager, what="unknown lengths vs eager")
    if case.scores:
        layer = case.make_layer()
        spec = layer.compute_output_spec(
            *[keras.KerasTensor((None,) + tuple(s[1:])) for s in case.inputs.values()],
            return_attention_scores=True,
        )
        assert isinstance(spec, tuple) and len(spec) == 2
        model = _functional_model(case, layer, return_attention_scores=True)
        assert len(model.outputs) == 2
        out, weights = model(case.make_data())
        assert tuple(weights.shape) == _weights_shape(case, layer)


def check_config(case, tmp_path):
    layer = case.make_layer()
    data = case.make_data()
    outputs = layer(*data, **case.call_kwargs)
    config = layer.get_config()
    clone = case.cls.from_config(config)
    assert clone.get_config() == config
    clone(*data, **case.call_kwargs)
    clone.set_weights(layer.get_weights())
    _assert_close(clone(*data, **case.call_kwargs), outputs, what="from_config")


def check_saving(case, tmp_path):
    model = _functional_model(case, case.make_layer())
    data = case.make_data()
    expected = model(data)
    path = os.path.join(str(tmp_path), "model.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert type(reloaded.layers[-1]) is case.cls
    _assert_close(reloaded(data), expected, atol=1e-6, rtol=1e-6, what="reloaded")


def _trainable_model(case, layer, jit_compile=False):
    inputs = case.make_inputs()
    hidden = layer(*inputs, **case.call_kwargs)
    outputs = keras.layers.Dense(3)(hidden)
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer=keras.optimizers.Adam(0.01), loss="mse", jit_compile=jit_compile
    )
    return model


def check_training(case, tmp_path):
    keras.utils.set_random_seed(0)
    layer = case.make_layer()
    model = _trainable_model(case, layer)
    data = case.make_data()
    target_shape = model.outputs[0].shape
    target = np.random.default_rng(1).normal(
        size=(list(case.inputs.values())[0][0],) + tuple(target_shape[1:])
    )
    before = [to_numpy(w).copy() for w in layer.trainable_weights]
    first = model.evaluate(data, target, verbose=0)
    model.fit(data, target, epochs=20, batch_size=len(target), verbose=0)
    last = model.evaluate(data, target, verbose=0)
    assert np.isfinite(last) and last < first, (first, last)
    for weight, old in zip(layer.trainable_weights, before, strict=True):
        assert not np.allclose(to_numpy(weight), old), f"{weight.path} did not train"


def check_masking(case, tmp_path):
    if not case.mask_inputs:
        pytest.skip(f"{case} takes no sequence input that carries a Keras mask")
    names = list(case.inputs)
    layer = case.make_layer()
    inputs = case.make_inputs()
    masked = [
        keras.layers.Masking(0.0)(x)
        if n in case.mask_inputs and n not in case.integer_inputs
        else x
        for n, x in zip(names, inputs, strict=True)
    ]
    output = layer(*masked, **case.call_kwargs)
    model = keras.Model(inputs, output)
    if names[0] in case.mask_inputs:
        mask = getattr(output, "_keras_mask", None)
        assert mask is not None, "the query's mask was not propagated"
        assert tuple(mask.shape) == tuple(output.shape[:-1])

    # Padding invariance: padded data through the masked model gives, on the
    # real steps, what the same layer gives on the unpadded data.
    data = case.make_data()
    padded, truncated = [], []
    for name, x in zip(names, data, strict=True):
        if name in case.mask_inputs:
            p = x.copy()
            p[:, -case.pad :] = 0
            padded.append(p)
            truncated.append(x[:, : -case.pad])
        else:
            padded.append(x)
            truncated.append(x)
    got = to_numpy(model(padded))
    want = to_numpy(layer(*truncated, **case.call_kwargs))
    if names[0] in case.mask_inputs:
        np.testing.assert_allclose(got[:, : -case.pad], want, atol=1e-5, rtol=1e-5)
        np.testing.assert_array_equal(got[:, -case.pad :] * 0, 0)  # finite
    else:
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)


def _check_mixed(case, policy):
    data = case.make_data()
    reference = case.make_layer()
    expected = reference(*data, **case.call_kwargs)
    layer = case.make_layer(dtype=policy)
    outputs = layer(*data, **case.call_kwargs)
    layer.set_weights(reference.get_weights())
    outputs = layer(*data, **case.call_kwargs)
    compute = policy.split("_")[1]
    assert keras.backend.standardize_dtype(outputs.dtype) == compute
    for weight in layer.weights:
        assert keras.backend.standardize_dtype(weight.dtype) == "float32"
    got = to_numpy(ops.cast(outputs, "float32"))
    want = to_numpy(expected)
    assert np.all(np.isfinite(got))
    scale = max(1.0, float(np.max(np.abs(want))))
    np.testing.assert_allclose(got, want, atol=MIXED_TOLERANCE[policy] * scale)
    if case.scores:
        _, weights = layer(*data, return_attention_scores=True, **case.call_kwargs)
        assert keras.backend.standardize_dtype(weights.dtype) == compute


def check_mixed_float16(case, tmp_path):
    _check_mixed(case, "mixed_float16")


def check_mixed_bfloat16(case, tmp_path):
    _check_mixed(case, "mixed_bfloat16")


def check_jit_compile(case, tmp_path):
    if BACKEND == "torch":
        pytest.skip(
            "torch backend: Keras' jit_compile=True means torch.compile "
            "(TorchDynamo + Inductor), which Keras marks experimental and which "
            "recompiles per shape; XLA compilation is checked on TF and JAX"
        )
    if BACKEND == "numpy":
        pytest.skip("numpy backend has no compiler")
    keras.utils.set_random_seed(0)
    layer = case.make_layer()
    model = _trainable_model(case, layer, jit_compile=True)
    data = case.make_data()
    eager = to_numpy(model(data))
    np.testing.assert_allclose(
        model.predict(data, verbose=0), eager, atol=1e-5, rtol=1e-5
    )
    target = np.zeros_like(eager)
    first = model.train_on_batch(data, target)
    for _ in range(5):
        last = model.train_on_batch(data, target)
    assert np.isfinite(last) and last < first


def run_check(case, check, tmp_path):
    """Run one named check of `CHECKS` on `case`."""
    globals()[f"check_{check}"](case, tmp_path)
