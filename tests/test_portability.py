"""Saved models are portable across backends and versions.

`tests/data/portability/v<version>/<backend>.keras` is one small model over
every public layer, saved by that version of the library on that backend;
the `.npz` next to it holds its inputs and predictions (see the README and
`make_fixtures.py` there). Every saved model must load here, on the current
backend, with `safe_mode=True` and no `custom_objects` (our layers resolve
through their registration), and predict what it predicted when it was
saved. CI runs pytest once per backend, so the three runs together check the
full saving-backend x loading-backend matrix, for every version kept.
"""

import importlib.util
import inspect
import pathlib

import keras
import numpy as np
import pytest

import keras_attention

DATA = pathlib.Path(__file__).resolve().parent / "data" / "portability"
FIXTURES = sorted(DATA.glob("v*/*.keras"))
BACKENDS = ("jax", "tensorflow", "torch")
# Float32 through ~30 layers, two recurrent loops and layer norms, computed
# by another backend's kernels (measured max abs diff 1.1e-6, outputs of
# order 1); `atol` covers values near zero, `rtol` the larger ones.
ATOL = RTOL = 1e-5
# Public layers that a version's fixtures cannot hold: {name: the last
# version made before the layer existed}.
ADDED_AFTER = {"AlibiBias": "0.1.0", "RotaryEmbedding": "0.1.0"}


def _version(text):
    return tuple(int(part) for part in text.removeprefix("v").split("."))


def _make_fixtures():
    spec = importlib.util.spec_from_file_location(
        "make_fixtures", DATA / "make_fixtures.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _split(data):
    inputs = {k.removeprefix("input_"): data[k] for k in data if k.startswith("input_")}
    outputs = {
        k.removeprefix("output_"): data[k] for k in data if k.startswith("output_")
    }
    return inputs, outputs


def _predict(model, inputs):
    batch = len(next(iter(inputs.values())))
    outputs = model.predict(inputs, batch_size=batch, verbose=0)
    return {name: np.asarray(value, "float32") for name, value in outputs.items()}


def _public_layer_classes(version=None):
    """The public layer classes (those a fixture of `version` can hold)."""
    names = [
        name
        for name in keras_attention.__all__
        if version is None
        or name not in ADDED_AFTER
        or _version(version) > _version(ADDED_AFTER[name])
    ]
    return {
        obj
        for obj in (getattr(keras_attention, name) for name in names)
        if inspect.isclass(obj) and issubclass(obj, keras.layers.Layer)
    }


def _layer_classes(model):
    # Nested sublayers too: AttentionWrapper is the cell inside AttentionDecoder.
    # A renamed class loads from older files as a subclass under its old name
    # (`_renamed_to` names the class it stands for).
    return {
        getattr(type(layer), "_renamed_to", type(layer))
        for layer in model._flatten_layers(include_self=False)
    }


def test_every_version_has_fixtures_from_every_backend():
    versions = sorted(p for p in DATA.glob("v*") if p.is_dir())
    assert versions, f"no fixtures under {DATA}"
    for version in versions:
        for backend in BACKENDS:
            for suffix in (".keras", ".npz"):
                path = version / f"{backend}{suffix}"
                assert path.exists(), f"missing {path}"
                assert path.stat().st_size < 300_000, f"{path} is too large"


@pytest.mark.parametrize(
    "path", FIXTURES, ids=lambda p: f"{p.parent.name}-saved-on-{p.stem}"
)
def test_saved_model_loads_and_predicts_stored_outputs(path):
    inputs, expected = _split(np.load(path.with_suffix(".npz")))
    model = keras.saving.load_model(path, safe_mode=True)
    assert _public_layer_classes(path.parent.name) <= _layer_classes(model)
    actual = _predict(model, inputs)
    assert set(actual) == set(expected)
    for name in sorted(expected):
        np.testing.assert_allclose(
            actual[name], expected[name], atol=ATOL, rtol=RTOL, err_msg=name
        )


def test_save_and_reload_round_trip(tmp_path):
    fixtures = _make_fixtures()
    keras.utils.set_random_seed(fixtures.SEED)
    model = fixtures.build_model()
    assert _public_layer_classes() <= _layer_classes(model)
    inputs = fixtures.make_inputs()
    expected = _predict(model, inputs)
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    # Same order and values. (Not the same paths: as in Keras' own `RNN`, a
    # recurrent decoder's cell and attention are rebuilt by their configs'
    # `build_config` at load, outside the decoder's name scope.)
    for saved, loaded in zip(model.weights, reloaded.weights, strict=True):
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(loaded), keras.ops.convert_to_numpy(saved)
        )
    actual = _predict(reloaded, inputs)
    assert set(actual) == set(expected)
    for name in sorted(expected):
        np.testing.assert_array_equal(actual[name], expected[name], err_msg=name)
