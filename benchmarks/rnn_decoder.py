"""Benchmark `keras_attention.AttentionDecoder`: one decoder step and a full decode.

Two measurements per backend and attention mechanism, at sizes of a real
attention seq2seq model (Bahdanau et al. 2015 / Luong et al. 2015, scaled to
a CPU): batch 32, source length S=50, target length T=30, a bidirectional
encoder's memory of 512 dims, an `LSTMCell(512)` decoder, attention layer
size 512:

1. `step`: one `decoder.step(inputs, state)` (greedy, beam search and
   sampling call this once per generated token), from the state of
   `decoder.get_initial_state(memory, cell_state, memory_mask)`.
2. `decode`: the teacher-forced call over the whole target sequence
   (`decoder(inputs, memory, initial_state=..., memory_mask=...)`, inference),
   which runs `keras.layers.RNN` over the `AttentionWrapper` cell.

Mechanisms: `bahdanau` (`AdditiveAttention(units=512)`, Bahdanau style, whose
key projection `W_k h_s` is a (S x 512) @ (512 x 512) product per sequence)
and `luong` (`LuongAttention(score="general")`, Luong style, no key
projection). The memory mask pads the last fifth of every other source.

Modes: JAX `jit` (`jax.jit`), TensorFlow `xla` (`tf.function(jit_compile=True)`),
PyTorch `eager`.

Before/after comparisons run one library tree after the other in separate
subprocesses (two versions of a package cannot share a process), alternating
`--rounds` times so that a slow spell of a shared machine hits both alike;
each tree's time is the median over its rounds:

    git worktree add /tmp/ka_rnn_before <commit>
    python benchmarks/rnn_decoder.py --backend jax \\
        --tree before=/tmp/ka_rnn_before --tree after=.

Without `--tree` it measures the library that `import keras_attention` finds.
It prints a Markdown table and writes JSON to
`benchmarks/results/rnn_decoder.json` (see `--output`).
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

BACKENDS = ("tensorflow", "jax", "torch")
MODES = {"tensorflow": "xla", "jax": "jit", "torch": "eager"}
MECHANISMS = ("bahdanau", "luong")
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "rnn_decoder.json"
MARKER = "RESULTS-JSON "


def _compile(fn, mode):
    if mode == "jit":
        import jax

        return jax.jit(fn)
    if mode == "xla":
        import tensorflow as tf

        return tf.function(fn, jit_compile=True)
    return fn


def _block(tree):
    import keras

    for leaf in keras.tree.flatten(tree):
        if hasattr(leaf, "block_until_ready"):
            leaf.block_until_ready()
        elif keras.backend.backend() == "tensorflow":
            leaf.numpy()
    if keras.backend.backend() == "torch":
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()


def _median_ms(run, repeats, warmup):
    for _ in range(warmup):
        _block(run())
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        _block(run())
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _decoder(args, mechanism):
    import keras

    import keras_attention

    if mechanism == "bahdanau":
        attention = keras_attention.AdditiveAttention(units=args.units)
        style = "bahdanau"
    else:
        attention = keras_attention.LuongAttention(score="general")
        style = "luong"
    return keras_attention.AttentionDecoder(
        keras.layers.LSTMCell(args.units),
        attention,
        style=style,
        attention_layer_size=args.units,
    )


def _inputs(args):
    import numpy as np
    from keras import ops

    rng = np.random.default_rng(0)
    b, s, t = args.batch, args.source_length, args.target_length
    mask = np.ones((b, s), bool)
    mask[::2, s - s // 5 :] = False

    def tensor(*shape):
        return ops.convert_to_tensor(rng.standard_normal(shape).astype("float32"))

    return {
        "inputs": tensor(b, t, args.input_dim),
        "memory": tensor(b, s, args.memory_dim),
        "cell_state": [tensor(b, args.units), tensor(b, args.units)],
        "memory_mask": ops.convert_to_tensor(mask),
    }


def measure(args, backend, mechanism):
    import keras

    keras.utils.set_random_seed(0)
    mode = MODES[backend]
    data = _inputs(args)
    decoder = _decoder(args, mechanism)
    decoder(data["inputs"], data["memory"], initial_state=data["cell_state"])

    def decode(inputs, memory, cell_state, memory_mask):
        return decoder(
            inputs, memory, initial_state=cell_state, memory_mask=memory_mask
        )

    def step(inputs, state):
        return decoder.step(inputs, state)

    decode_fn, step_fn = _compile(decode, mode), _compile(step, mode)
    state = decoder.get_initial_state(
        data["memory"], cell_state=data["cell_state"], memory_mask=data["memory_mask"]
    )
    state = {key: value for key, value in state.items() if value is not None}
    first = data["inputs"][:, 0]
    return {
        "backend": backend,
        "mode": mode,
        "mechanism": mechanism,
        "step_ms": _median_ms(
            lambda: step_fn(first, state), args.repeats * 5, args.warmup
        ),
        "decode_ms": _median_ms(
            lambda: decode_fn(
                data["inputs"], data["memory"], data["cell_state"], data["memory_mask"]
            ),
            args.repeats,
            args.warmup,
        ),
    }


def worker(args):
    import keras

    import keras_attention

    backend = keras.backend.backend()
    rows = []
    for mechanism in args.mechanisms:
        row = measure(args, backend, mechanism)
        row["library"] = os.path.dirname(keras_attention.__file__)
        print(json.dumps(row), file=sys.stderr, flush=True)
        rows.append(row)
    print(MARKER + json.dumps(rows), flush=True)


def _run_tree(args, backend, label, tree):
    env = dict(os.environ, KERAS_BACKEND=backend)
    if tree is not None:
        env["PYTHONPATH"] = os.pathsep.join(
            [str(Path(tree).resolve())] + [p for p in [env.get("PYTHONPATH")] if p]
        )
    command = [sys.executable, __file__, "--worker", *args.forward]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    lines = [x for x in done.stdout.splitlines() if x.startswith(MARKER)]
    if done.returncode != 0 or not lines:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"{backend} worker for {label} failed ({done.returncode})")
    rows = json.loads(lines[-1][len(MARKER) :])
    for row in rows:
        row["tree"] = label
    return rows


def _summarise(runs, labels):
    """Median over rounds per (backend, mechanism, tree), ratios to the first tree."""
    keys = sorted({(r["backend"], r["mechanism"]) for r in runs})
    summary = []
    for backend, mechanism in keys:
        entry = {"backend": backend, "mechanism": mechanism}
        for label in labels:
            key = (backend, mechanism, label)
            mine = [r for r in runs if (r["backend"], r["mechanism"], r["tree"]) == key]
            if not mine:
                continue
            entry["mode"] = mine[0]["mode"]
            for metric in ("step_ms", "decode_ms"):
                entry[f"{label}_{metric}"] = statistics.median(r[metric] for r in mine)
        base, new = labels[0], labels[-1]
        if len(labels) > 1 and f"{new}_step_ms" in entry:
            for metric in ("step_ms", "decode_ms"):
                entry[f"{metric}_ratio_{new}_over_{base}"] = (
                    entry[f"{new}_{metric}"] / entry[f"{base}_{metric}"]
                )
        summary.append(entry)
    return summary


def _table(summary, labels):
    columns = ["backend", "mode", "mechanism"]
    columns += [f"{label}_{m}" for m in ("step_ms", "decode_ms") for label in labels]
    columns += [c for c in summary[0] if "_ratio_" in c]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for entry in summary:
        cells = [
            f"{entry[c]:.3f}" if isinstance(entry[c], float) else str(entry[c])
            for c in columns
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default=",".join(BACKENDS))
    parser.add_argument("--mechanisms", default=",".join(MECHANISMS))
    parser.add_argument(
        "--tree",
        action="append",
        default=[],
        help="LABEL=PATH of a library tree to measure (repeatable)",
    )
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--source-length", type=int, default=50)
    parser.add_argument("--target-length", type=int, default=30)
    parser.add_argument("--input-dim", type=int, default=256)
    parser.add_argument("--memory-dim", type=int, default=512)
    parser.add_argument("--units", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.mechanisms = [m for m in args.mechanisms.split(",") if m]
    args.forward = [
        a for a in (argv if argv is not None else sys.argv[1:]) if a != "--worker"
    ]
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        worker(args)
        return
    trees = [tuple(t.split("=", 1)) for t in args.tree] or [("current", None)]
    labels = [label for label, _ in trees]
    runs = []
    for backend in [b for b in args.backend.split(",") if b]:
        for _ in range(args.rounds):
            for label, tree in trees:
                runs.extend(_run_tree(args, backend, label, tree))
                # Written after every worker: a long run interrupted keeps
                # what it measured.
                _write(args, trees, labels, runs)
    print(_table(_summarise(runs, labels), labels))


def _write(args, trees, labels, runs):
    import keras

    report = {
        "benchmark": "rnn_decoder",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "keras": keras.__version__,
        "trees": dict(trees),
        "settings": {
            k: getattr(args, k)
            for k in (
                "batch",
                "source_length",
                "target_length",
                "input_dim",
                "memory_dim",
                "units",
                "repeats",
                "warmup",
                "rounds",
            )
        },
        "summary": _summarise(runs, labels),
        "runs": runs,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
