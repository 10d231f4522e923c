"""`MultiHeadAttention(window=w)` against Keras' full causal `MultiHeadAttention`.

The architecture issue's target: at T=8192, w=128 (batch 1, 4 heads x 64,
float32, causal self-attention, forward pass of the whole layer, the four
projections included), our windowed layer should be at least 6x faster than
`keras.layers.MultiHeadAttention(...)(x, x, use_causal_mask=True)` with the
same weights, on every backend. Each backend runs in its own subprocess;
both layers are timed one after the other within it (JAX under `jit`,
TensorFlow under `tf.function(jit_compile=True)` and eagerly, PyTorch
eagerly with `torch.no_grad()`).

    python benchmarks/window_vs_keras.py                 # all backends
    python benchmarks/window_vs_keras.py --backend torch --length 4096

It prints a Markdown table and writes `benchmarks/results/window_vs_keras.json`.
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

MODES = {"jax": ("jit",), "tensorflow": ("xla", "eager"), "torch": ("eager",)}
OUTPUT = Path(__file__).resolve().parent / "results" / "window_vs_keras.json"
MARKER = "RESULT "


def _forward(layer, mode, x):
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        weights = [v.value for v in layer.trainable_variables]
        fn = jax.jit(
            lambda w, x: layer.stateless_call(w, [], x, x, use_causal_mask=True)[0]
        )
        return lambda: fn(weights, x).block_until_ready()
    if backend == "tensorflow":
        import tensorflow as tf

        def call(x):
            return layer(x, x, use_causal_mask=True)

        fn = tf.function(call, jit_compile=True) if mode == "xla" else call
        return lambda: fn(x).numpy()
    import torch

    def run():
        with torch.no_grad():
            return layer(x, x, use_causal_mask=True).numpy(force=True)

    return run


def _worker(args):
    import keras
    import numpy as np

    import keras_attention

    shape = (args.batch, args.length, args.heads * args.head_dim)
    x = np.random.default_rng(0).normal(size=shape).astype("float32")
    x = keras.ops.convert_to_tensor(x)
    keras_layer = keras.layers.MultiHeadAttention(args.heads, args.head_dim)
    ours = keras_attention.MultiHeadAttention(
        args.heads, args.head_dim, window=args.window
    )
    keras_layer(x[:, :8], x[:, :8])
    ours(x[:, :8], x[:, :8])
    ours.set_weights(keras_layer.get_weights())
    for mode in MODES[keras.backend.backend()]:
        runs = {"keras_full": _forward(keras_layer, mode, x)}
        runs["ours_window"] = _forward(ours, mode, x)
        # One layer after the other, not alternately: right after Keras' call
        # (its (T, T) scores are gigabytes) the windowed call ran up to 4x
        # slower on JAX, refilling memory the full call had taken.
        times = {name: [] for name in runs}
        for name, run in runs.items():
            for _ in range(args.warmup):
                run()
            for _ in range(args.repeats):
                start = time.perf_counter()
                run()
                times[name].append((time.perf_counter() - start) * 1000)
        ms = {name: statistics.median(t) for name, t in times.items()}
        fastest = {name: min(t) for name, t in times.items()}
        row = {"backend": keras.backend.backend(), "mode": mode}
        row.update({f"{name}_ms": round(value, 2) for name, value in ms.items()})
        row["speed_up"] = round(ms["keras_full"] / ms["ours_window"], 2)
        # The fastest call of each: what a shared machine's slow spells
        # leave alone (medians of a few calls move by 10-20% there).
        row.update({f"{name}_min_ms": round(v, 2) for name, v in fastest.items()})
        row["speed_up_min"] = round(fastest["keras_full"] / fastest["ours_window"], 2)
        print(MARKER + json.dumps(row), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="jax,tensorflow,torch")
    parser.add_argument("--length", type=int, default=8192)
    parser.add_argument("--window", type=int, default=128)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--head-dim", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return _worker(args)
    rows = []
    for backend in args.backend.split(","):
        command = [sys.executable, __file__, "--worker", *sys.argv[1:]]
        env = dict(os.environ, KERAS_BACKEND=backend)
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        found = [line for line in done.stdout.splitlines() if line.startswith(MARKER)]
        if done.returncode or not found:
            print(done.stderr[-2000:], file=sys.stderr)
            raise SystemExit(f"{backend}: the worker failed")
        rows += [json.loads(line[len(MARKER) :]) for line in found]
    print(
        "| backend | mode | Keras full causal ms | ours window ms | speed-up "
        "| speed-up of the fastest calls |"
    )
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['backend']} | {r['mode']} | {r['keras_full_ms']} | "
            f"{r['ours_window_ms']} | {r['speed_up']} | {r['speed_up_min']} |"
        )
    settings = {k: v for k, v in vars(args).items() if k not in ("worker", "output")}
    result = {
        "benchmark": "window_vs_keras",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "settings": settings,
        "rows": rows,
    }
    args.output.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
