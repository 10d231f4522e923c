"""Benchmark `keras_attention.MultiHeadAttention` and KV-cached generation.

Three measurements, each backend in its own subprocess, ratios within one run:

1. `mha`: forward and forward+backward time of `keras_attention`'s
   `MultiHeadAttention` against `keras.layers.MultiHeadAttention` with the
   same weights (self-attention, unmasked and causal), at batch 4, T=1024,
   256 dims, 8 heads by default. Ratio = ours / Keras' (target <= 1.0).
   Gradients are taken with respect to the input and every weight.
2. `flops`: the achieved GFLOP/s of our dense (fused) forward and
   forward+backward passes against the machine's measured `matmul` rate
   (a float32 (or `--dtype`) N x N matrix product through `keras.ops`, the
   sgemm rate on a CPU).
3. `generate`: greedy generation of `--generate` tokens with a small GPT
   (embedding, `--gpt-layers` `TransformerDecoderBlock`s, output projection)
   through `keras_attention.decoding.greedy_search`, with the KV cache
   (one new step per call) against recomputing the prefix every step.
   Ratio = recompute / cached (target >= 10), at batch 1 and 8
   (`--generate-batch`): at batch 1 an eager step is mostly framework
   overhead, which the cache cannot remove. Under a compiler (JAX jit,
   TensorFlow XLA) shapes cannot grow, so "recompute" reruns the whole
   `--generate`-long buffer with a causal mask every step; eagerly (torch)
   it reruns the prefix so far, which is half as much work on average.

Modes: JAX `jit` (`jax.jit` over `stateless_call`; JAX's eager mode runs op by
op and is not worth timing), TensorFlow `xla` (`tf.function(jit_compile=True)`)
and `eager`, PyTorch `eager`. On a CUDA machine the same script runs
unchanged; there, use `--backend jax,torch --dtype bfloat16 --batch 8
--length 4096 --heads 16 --dim 1024` (16 heads x 64).

Run from the repository root:

    python benchmarks/multi_head.py                      # CPU defaults, all
    python benchmarks/multi_head.py --backend jax --parts mha,flops

It prints a Markdown table and writes JSON to
`benchmarks/results/multi_head.json` (see `--output`).
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
MODES = {"tensorflow": ("xla", "eager"), "jax": ("jit",), "torch": ("eager",)}
PARTS = ("mha", "flops", "generate")
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "multi_head.json"
MARKER = "RESULTS-JSON "


# -------------------------------------------------------------- backends
def _compile(fn, mode):
    """`fn` as run in `mode`: jitted, XLA-compiled or as is."""
    if mode == "jit":
        import jax

        return jax.jit(fn)
    if mode == "xla":
        import tensorflow as tf

        return tf.function(fn, jit_compile=True)
    return fn


def _block(tree):
    """Wait until every tensor of `tree` is computed."""
    import keras

    backend = keras.backend.backend()
    leaves = tree if isinstance(tree, (list, tuple)) else [tree]
    flat = []
    for leaf in leaves:
        flat.extend(leaf if isinstance(leaf, (list, tuple)) else [leaf])
    if backend == "jax":
        import jax

        jax.block_until_ready(flat)
    elif backend == "torch":
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()
    else:
        for leaf in flat:
            if leaf is not None:
                leaf.numpy()


def _median_ms(runs, repeats, warmup):
    """Median milliseconds of each zero-argument callable in `runs` (a dict).

    The callables take turns, one call each per round, so that a slow spell
    of a shared machine hits them alike.
    """
    for run in runs.values():
        for _ in range(warmup):
            _block(run())
    times = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            _block(run())
            times[name].append((time.perf_counter() - start) * 1000)
    return {name: statistics.median(t) for name, t in times.items()}


def _mask_kwargs(mask, x):
    """Call arguments of a mask setting: none, causal, or padding.

    "padding" pads the last quarter of every other sequence (`query_mask`
    and `value_mask`, as a `mask_zero=True` embedding would give them): it
    measures what making padding inert costs on the masked path.
    """
    import keras
    import numpy as np

    if mask == "causal":
        return {"use_causal_mask": True}
    if mask == "padding":
        batch, length = x.shape[0], x.shape[1]
        valid = np.ones((batch, length), bool)
        valid[::2, length - length // 4 :] = False
        valid = keras.ops.convert_to_tensor(valid)
        return {"query_mask": valid, "value_mask": valid}
    return {}


def _pass_function(layer, pass_name, mask, mode, x, cotangent):
    """A zero-argument callable running the layer's forward or forward+backward."""
    import keras

    backend = keras.backend.backend()
    kwargs = _mask_kwargs(mask, x)
    if backend == "jax":
        import jax

        trainable = [v.value for v in layer.trainable_variables]
        non_trainable = [v.value for v in layer.non_trainable_variables]

        def forward(trainable, x):
            out, _ = layer.stateless_call(trainable, non_trainable, x, x, **kwargs)
            return out

        def loss(trainable, x):
            out = forward(trainable, x).astype("float32")
            return (out * cotangent).sum()

        fn = forward if pass_name == "forward" else jax.grad(loss, argnums=(0, 1))
        fn = _compile(fn, mode)
        return lambda: fn(trainable, x)
    if backend == "tensorflow":
        import tensorflow as tf

        weights = layer.trainable_variables

        def forward(x):
            return layer(x, x, **kwargs)

        def forward_backward(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                out = tf.cast(layer(x, x, **kwargs), "float32")
                total = tf.reduce_sum(out * cotangent)
            return tape.gradient(total, [x, *weights])

        fn = _compile(forward if pass_name == "forward" else forward_backward, mode)
        return lambda: fn(x)
    import torch

    params = [v.value for v in layer.trainable_variables]

    def run():
        if pass_name == "forward":
            with torch.no_grad():
                return layer(x, x, **kwargs)
        leaf = x.detach().requires_grad_(True)
        out = layer(leaf, leaf, **kwargs).float()
        return torch.autograd.grad((out * cotangent).sum(), [leaf, *params])

    return run


# ------------------------------------------------------------------ parts
def _mha_flops(args):
    """Forward FLOPs of self-attention (projections and both products)."""
    b, t, d = args.batch, args.length, args.dim
    projections = 4 * 2 * b * t * d * d
    attention = 2 * 2 * b * t * t * d
    return projections + attention


def _make_layers(args):
    import keras
    import numpy as np

    import keras_attention

    key_dim = args.dim // args.heads
    ours = keras_attention.MultiHeadAttention(
        num_heads=args.heads, key_dim=key_dim, dtype=args.dtype
    )
    theirs = keras.layers.MultiHeadAttention(
        num_heads=args.heads, key_dim=key_dim, dtype=args.dtype
    )
    rng = np.random.default_rng(args.seed)
    x = rng.normal(size=(args.batch, args.length, args.dim)).astype("float32")
    x = keras.ops.cast(keras.ops.convert_to_tensor(x), args.dtype)
    ours(x, x)
    theirs(x, x)
    ours.set_weights(theirs.get_weights())
    difference = float(
        np.max(
            np.abs(
                keras.ops.convert_to_numpy(keras.ops.cast(ours(x, x), "float32"))
                - keras.ops.convert_to_numpy(keras.ops.cast(theirs(x, x), "float32"))
            )
        )
    )
    cotangent = keras.ops.convert_to_tensor(
        rng.normal(size=(args.batch, args.length, args.dim)).astype("float32")
    )
    return ours, theirs, x, cotangent, difference


def part_mha(args, mode):
    ours, theirs, x, cotangent, difference = _make_layers(args)
    rows = []
    for mask in args.masks.split(","):
        for pass_name in ("forward", "forward+backward"):
            runs = {
                name: _pass_function(layer, pass_name, mask, mode, x, cotangent)
                for name, layer in (("keras", theirs), ("ours", ours))
            }
            times = _median_ms(runs, args.repeats, args.warmup)
            rows.append(
                {
                    "part": "mha",
                    "mode": mode,
                    "mask": mask,
                    "pass": pass_name,
                    "keras_ms": round(times["keras"], 3),
                    "ours_ms": round(times["ours"], 3),
                    "ratio": round(times["ours"] / times["keras"], 3),
                    "target": "<= 1.0",
                    "max_abs_difference": difference,
                }
            )
    return rows


def _matmul_gflops(args, mode):
    import keras
    import numpy as np

    n = args.matmul_size
    rng = np.random.default_rng(args.seed)
    a = keras.ops.cast(rng.normal(size=(n, n)).astype("float32"), args.dtype)
    b = keras.ops.cast(rng.normal(size=(n, n)).astype("float32"), args.dtype)
    fn = _compile(keras.ops.matmul, "eager" if mode == "eager" else mode)
    ms = _median_ms({"matmul": lambda: fn(a, b)}, args.repeats, args.warmup)["matmul"]
    return 2 * n**3 / (ms / 1000) / 1e9


def part_flops(args, mode):
    ours, _, x, cotangent, _ = _make_layers(args)
    peak = _matmul_gflops(args, mode)
    rows = []
    forward_flops = _mha_flops(args)
    for pass_name, flops in (
        ("forward", forward_flops),
        ("forward+backward", 3 * forward_flops),
    ):
        run = _pass_function(ours, pass_name, "none", mode, x, cotangent)
        ms = _median_ms({"ours": run}, args.repeats, args.warmup)["ours"]
        achieved = flops / (ms / 1000) / 1e9
        rows.append(
            {
                "part": "flops",
                "mode": mode,
                "pass": pass_name,
                "ours_ms": round(ms, 3),
                "gflops": round(achieved, 1),
                "matmul_gflops": round(peak, 1),
                "fraction_of_matmul": round(achieved / peak, 3),
            }
        )
    return rows


def _gpt(args):
    import keras

    import keras_attention

    vocab, dim = args.vocab, args.dim
    embedding = keras.layers.Embedding(vocab, dim, dtype=args.dtype)
    blocks = [
        keras_attention.TransformerDecoderBlock(
            num_heads=args.heads,
            intermediate_dim=2 * dim,
            dtype=args.dtype,
        )
        for _ in range(args.gpt_layers)
    ]
    head = keras.layers.Dense(vocab, dtype=args.dtype)
    return embedding, blocks, head


def part_generate(args, mode):
    return [_generate(args, mode, batch) for batch in args.generate_batch]


def _generate(args, mode, batch):
    import keras
    from keras import ops

    from keras_attention.decoding import greedy_search

    embedding, blocks, head = _gpt(args)
    length = args.generate
    key_dim = args.dim // args.heads
    x = embedding(ops.zeros((batch, 1), "int32"))
    for block in blocks:
        x = block(x)
    head(x)

    def cached_step(tokens, caches, index):
        h = embedding(tokens[:, None])
        new_caches = []
        for block, cache in zip(blocks, caches, strict=True):
            h, cache = block(
                h, self_attention_cache=cache, self_attention_cache_update_index=index
            )
            new_caches.append(cache)
        return ops.cast(head(h[:, 0]), "float32"), new_caches

    compiled = mode != "eager"

    def recompute_step(tokens, buffer, index):
        buffer = ops.slice_update(buffer, [0, index], tokens[:, None])
        h = embedding(buffer if compiled else buffer[:, : int(index) + 1])
        for block in blocks:
            h = block(h)
        last = ops.take(h, index, axis=1) if compiled else h[:, -1]
        return ops.cast(head(last), "float32"), buffer

    cache_shape = (batch, 2, length, args.heads, key_dim)
    caches = [ops.zeros(cache_shape, args.dtype) for _ in blocks]
    buffer = ops.zeros((batch, length), "int32")
    start = ops.ones((batch,), "int32")

    def generate_cached(start, caches):
        return greedy_search(cached_step, start, caches, max_length=length)[0]

    def generate_recompute(start, buffer):
        return greedy_search(recompute_step, start, buffer, max_length=length)[0]

    cached_fn = _compile(generate_cached, mode)
    recompute_fn = _compile(generate_recompute, mode)
    tokens_cached = cached_fn(start, caches)
    tokens_recompute = recompute_fn(start, buffer)
    same = bool(
        (
            keras.ops.convert_to_numpy(tokens_cached)
            == keras.ops.convert_to_numpy(tokens_recompute)
        ).mean()
        > 0.99
    )
    repeats = max(1, args.repeats // 4)
    times = _median_ms(
        {
            "cached": lambda: cached_fn(start, caches),
            "recompute": lambda: recompute_fn(start, buffer),
        },
        repeats,
        0,
    )
    cached_ms, recompute_ms = times["cached"], times["recompute"]
    return {
        "part": "generate",
        "mode": mode,
        "tokens": length,
        "batch": batch,
        "recompute": "whole buffer" if compiled else "prefix",
        "cached_ms": round(cached_ms, 1),
        "recompute_ms": round(recompute_ms, 1),
        "ratio": round(recompute_ms / cached_ms, 2),
        "target": ">= 10",
        "same_tokens": same,
    }


def worker(args):
    import keras

    backend = keras.backend.backend()
    modes = [m for m in MODES[backend] if m in args.tf_modes or backend != "tensorflow"]
    rows = []
    for mode in modes:
        for part in args.parts:
            if part == "generate" and backend == "tensorflow" and mode == "eager":
                continue  # the XLA row is the TensorFlow generation figure
            for row in globals()[f"part_{part}"](args, mode):
                row["backend"] = backend
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
    print(MARKER + json.dumps(rows), flush=True)


# ------------------------------------------------------------------- main
def _table(rows):
    lines = []
    mha = [r for r in rows if r["part"] == "mha"]
    if mha:
        lines += [
            "| backend | mode | mask | pass | keras ms | ours ms | ours/keras |",
            "|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {r['backend']} | {r['mode']} | {r['mask']} | {r['pass']} | "
            f"{r['keras_ms']} | {r['ours_ms']} | {r['ratio']} |"
            for r in mha
        ]
    flops = [r for r in rows if r["part"] == "flops"]
    if flops:
        lines += [
            "",
            "| backend | mode | pass | ours ms | GFLOP/s | matmul GFLOP/s | fraction |",
            "|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {r['backend']} | {r['mode']} | {r['pass']} | {r['ours_ms']} | "
            f"{r['gflops']} | {r['matmul_gflops']} | {r['fraction_of_matmul']} |"
            for r in flops
        ]
    gen = [r for r in rows if r["part"] == "generate"]
    if gen:
        lines += [
            "",
            "| backend | mode | batch | tokens | recompute | cached ms "
            "| recompute ms | speed-up | same tokens |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {r['backend']} | {r['mode']} | {r['batch']} | {r['tokens']} | "
            f"{r['recompute']} | "
            f"{r['cached_ms']} | {r['recompute_ms']} | {r['ratio']}x | "
            f"{r['same_tokens']} |"
            for r in gen
        ]
    return "\n".join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--backend", default="all", help="all or a comma list")
    parser.add_argument("--parts", default=",".join(PARTS))
    parser.add_argument("--tf-modes", default="xla,eager")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--length", type=int, default=1024)
    parser.add_argument("--dim", type=int, default=256, help="model dimension")
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument(
        "--masks", default="none,causal", help="comma list of none, causal, padding"
    )
    parser.add_argument("--matmul-size", type=int, default=2048)
    parser.add_argument("--generate", type=int, default=512, help="tokens")
    parser.add_argument(
        "--generate-batch", default="1,8", help="comma-separated batch sizes"
    )
    parser.add_argument("--gpt-layers", type=int, default=2)
    parser.add_argument("--vocab", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.parts = [p for p in args.parts.split(",") if p]
    args.tf_modes = [m for m in args.tf_modes.split(",") if m]
    args.generate_batch = [int(b) for b in args.generate_batch.split(",") if b]
    for part in args.parts:
        if part not in PARTS:
            parser.error(f"--parts: unknown part {part!r}; expected {PARTS}")
    if args.dim % args.heads:
        parser.error("--dim must be a multiple of --heads")
    return args, argv


def main(argv=None):
    args, argv = parse_args(argv)
    if args.worker:
        worker(args)
        return
    backends = BACKENDS if args.backend == "all" else args.backend.split(",")
    rows = []
    passthrough = [a for a in (argv or sys.argv[1:])]
    for backend in backends:
        print(f"== {backend}", flush=True)
        env = dict(os.environ, KERAS_BACKEND=backend)
        result = subprocess.run(
            [sys.executable, __file__, "--worker", *passthrough],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        lines = [x for x in result.stdout.splitlines() if x.startswith(MARKER)]
        if result.returncode or not lines:
            print(f"{backend}: worker failed (exit {result.returncode})", flush=True)
            continue
        rows.extend(json.loads(lines[-1][len(MARKER) :]))
    print(_table(rows))
    settings = {k: v for k, v in vars(args).items() if k not in ("output", "worker")}
    report = {
        "benchmark": "multi_head",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        },
        "settings": settings,
        "rows": rows,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=1, default=str) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
