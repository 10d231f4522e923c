"""Scale-out with Keras' own distribution API (`keras.distribution`, JAX).

A small GPT-like model of our blocks (`TokenAndPositionEmbedding`,
`TransformerEncoderBlock` with a causal mask, `TransformerDecoderBlock`
without an encoder, `Dense`) is trained for a few steps from the same
weights on the same data (a) on one device, (b) under `DataParallel` over 8
devices and (c) under `ModelParallel` on a `(2, 4)` `("batch", "model")`
mesh whose `LayoutMap` (`LAYOUT` below, the one docs/guide/distribution.md
gives) shards our attention and feed-forward weights Megatron-style. The
per-step losses must agree, and the sharding must really have happened.

The pytest process has already initialised JAX with one CPU device, so the
training runs in a subprocess, this file run as a script, with 8 virtual
CPU devices (`XLA_FLAGS=--xla_force_host_platform_device_count=8`); it
also runs the code blocks of docs/guide/distribution.md there, and prints
one JSON line.
"""

import ast
import contextlib
import io
import json
import os
import pathlib
import re
import subprocess
import sys
import time
import traceback

import keras
import numpy as np
import pytest

import keras_attention

ROOT = pathlib.Path(__file__).resolve().parents[1]
DEVICES = 8
MESH = ((2, 4), ("batch", "model"))
STEPS = 6
SEED = 7
BATCH, LENGTH, VOCABULARY, HIDDEN, HEADS, FFN = 16, 16, 32, 32, 4, 64
# Float32 losses of ~3.5: sharding changes only the order of the sums (the
# batch mean over 8 or 2 shards, the head and hidden contractions over 4),
# a relative error of a few float32 ulps (~1e-7) per step, which Adam can
# carry into the next steps. 1e-4 relative leaves a wide margin over that
# yet is far below what a wrong or missing gradient reduction would give
# (the measured differences are in docs/guide/distribution.md).
RTOL = 1e-4

# Variable path (re.fullmatch) -> axes. Heads and the feed-forward hidden
# units are split over "model": column-parallel in, row-parallel out.
LAYOUT = {
    r".*attention/(query|key|value)_kernel": (None, "model", None),
    r".*attention/(query|key|value)_bias": ("model", None),
    r".*attention/output_kernel": ("model", None, None),
    r".*ffn_intermediate/kernel": (None, "model"),
    r".*ffn_intermediate/bias": ("model",),
    r".*ffn_output/kernel": ("model", None),
    r".*token_embedding/embeddings": (None, "model"),
}


# ------------------------------------------------------- the training script
def _data():
    """Counting sequences modulo the vocabulary: predict the next token."""
    rng = np.random.default_rng(SEED)
    start = rng.integers(0, VOCABULARY, (BATCH, 1))
    tokens = (start + np.arange(LENGTH + 1)) % VOCABULARY
    return tokens[:, :-1].astype("int32"), tokens[:, 1:].astype("int32")


def _build_model():
    tokens = keras.Input((LENGTH,), dtype="int32", name="tokens")
    x = keras_attention.TokenAndPositionEmbedding(
        VOCABULARY, LENGTH, HIDDEN, name="embedding"
    )(tokens)
    x = keras_attention.TransformerEncoderBlock(FFN, HEADS, name="encoder")(
        x, use_causal_mask=True
    )
    x = keras_attention.TransformerDecoderBlock(
        FFN, HEADS, norm_first=True, position_embedding="rope", name="decoder"
    )(x)
    logits = keras.layers.Dense(VOCABULARY, name="logits")(x)
    return keras.Model(tokens, logits)


def _distribution(kind):
    devices = keras.distribution.list_devices("cpu")
    assert len(devices) == DEVICES, devices
    if kind == "single_device":
        return None
    if kind == "data_parallel":
        return keras.distribution.DataParallel(devices=devices)
    mesh = keras.distribution.DeviceMesh(*MESH, devices=devices)
    layout_map = keras.distribution.LayoutMap(mesh)
    for pattern, axes in LAYOUT.items():
        layout_map[pattern] = axes
    return keras.distribution.ModelParallel(
        layout_map=layout_map, batch_dim_name="batch"
    )


def _train(kind, initial_weights):
    distribution = _distribution(kind)
    start = time.perf_counter()
    with distribution.scope() if distribution else contextlib.nullcontext():
        keras.utils.set_random_seed(SEED)
        model = _build_model()
        model.set_weights(initial_weights)
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=1e-2),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        x, y = _data()
        losses = [float(model.train_on_batch(x, y)) for _ in range(STEPS)]
    seconds = time.perf_counter() - start
    shardings = {}
    for variable in model.weights:
        sharding = variable.value.sharding
        shardings[variable.path] = {
            "spec": [
                list(a) if isinstance(a, tuple) else a
                for a in getattr(sharding, "spec", ())
            ],
            "replicated": sharding.is_fully_replicated,
            "devices": len(sharding.device_set),
            "shape": list(variable.shape),
            "shard_shape": list(sharding.shard_shape(tuple(variable.shape))),
        }
    weights = [np.asarray(keras.ops.convert_to_numpy(w)) for w in model.weights]
    return losses, seconds, shardings, weights


def _run_page_blocks():
    """Run each ```python block of the page in a fresh namespace."""
    page = (ROOT / "docs" / "guide" / "distribution.md").read_text()
    results = []
    for i, code in enumerate(re.findall(r"```python\n(.*?)```", page, re.DOTALL)):
        output = io.StringIO()
        try:
            with contextlib.redirect_stdout(output):
                exec(compile(code, f"distribution.md block {i}", "exec"), {})
            error = None
        except Exception:
            error = traceback.format_exc()
        results.append({"stdout": output.getvalue(), "error": error})
    return results


def main():
    keras.utils.set_random_seed(SEED)
    initial_weights = _build_model().get_weights()
    results = {"devices": len(keras.distribution.list_devices("cpu"))}
    reference = None
    for kind in ("single_device", "data_parallel", "model_parallel"):
        losses, seconds, shardings, weights = _train(kind, initial_weights)
        if reference is None:
            reference = weights
        results[kind] = {
            "losses": losses,
            "seconds": round(seconds, 2),
            "shardings": shardings,
            "max_abs_weight_diff": max(
                float(np.max(np.abs(w - r)))
                for w, r in zip(weights, reference, strict=True)
            ),
        }
    results["page_blocks"] = _run_page_blocks()
    print(json.dumps(results))


# --------------------------------------------------------------------- tests
@pytest.fixture(scope="module")
def results():
    if keras.backend.backend() != "jax":
        pytest.skip(
            "keras.distribution is implemented for the JAX backend only (Keras 3.15)"
        )
    env = {
        **os.environ,
        "KERAS_BACKEND": "jax",
        "XLA_FLAGS": f"{os.environ.get('XLA_FLAGS', '')} "
        f"--xla_force_host_platform_device_count={DEVICES}".strip(),
        "CUDA_VISIBLE_DEVICES": "",
        "JAX_PLATFORMS": "cpu",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p
        ),
    }
    process = subprocess.run(
        [sys.executable, __file__],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert process.returncode == 0, process.stderr[-4000:]
    return json.loads(process.stdout.strip().splitlines()[-1])


def test_runs_on_eight_virtual_devices(results):
    assert results["devices"] == DEVICES


def test_training_lowers_the_loss(results):
    losses = results["single_device"]["losses"]
    assert len(losses) == STEPS and losses[-1] < 0.9 * losses[0], losses


@pytest.mark.parametrize("kind", ["data_parallel", "model_parallel"])
def test_distributed_losses_match_single_device(results, kind):
    np.testing.assert_allclose(
        results[kind]["losses"], results["single_device"]["losses"], rtol=RTOL
    )


def test_data_parallel_replicates_every_weight(results):
    for path, sharding in results["data_parallel"]["shardings"].items():
        assert sharding["replicated"] and sharding["devices"] == DEVICES, path


def test_model_parallel_shards_our_weights(results):
    shardings = results["model_parallel"]["shardings"]
    model_axis = MESH[0][MESH[1].index("model")]
    for pattern, axes in LAYOUT.items():
        matched = [path for path in shardings if re.fullmatch(pattern, path)]
        assert matched, f"{pattern!r} matches no weight of {sorted(shardings)}"
        for path in matched:
            sharding = shardings[path]
            assert not sharding["replicated"], path
            assert sharding["devices"] == DEVICES, path
            assert sharding["spec"][: len(axes)] == list(axes), (path, sharding)
            axis = axes.index("model")
            expected = list(sharding["shape"])
            expected[axis] //= model_axis
            assert sharding["shard_shape"] == expected, (path, sharding)
    sharded = {p for p, s in shardings.items() if not s["replicated"]}
    # Every attention and feed-forward kernel of both blocks, no other weight.
    for block in ("encoder", "decoder"):
        for kernel in ("query", "key", "value", "output"):
            assert f"{block}/self_attention/{kernel}_kernel" in sharded
        assert f"{block}/ffn_intermediate/kernel" in sharded
        assert f"{block}/ffn_output/kernel" in sharded
    assert all(re.fullmatch("|".join(LAYOUT), path) for path in sharded)


def test_docs_page_code_runs_on_eight_devices(results):
    # tests/test_guide_docs.py leaves this page's blocks to this test: they
    # need the virtual devices of the subprocess.
    blocks = results["page_blocks"]
    assert len(blocks) == 2
    for block in blocks:
        assert block["error"] is None, block["error"]
    assert "'model'" in blocks[1]["stdout"]  # the query kernel's sharding spec


def test_docs_page_gives_the_tested_layout():
    # The page's LayoutMap is the one tested here, line for line.
    page = (ROOT / "docs" / "guide" / "distribution.md").read_text()
    lines = re.findall(r'^layout_map\[r"(.+)"\] = (\(.+\))$', page, re.MULTILINE)
    assert {pattern: ast.literal_eval(axes) for pattern, axes in lines} == LAYOUT


if __name__ == "__main__":
    main()
