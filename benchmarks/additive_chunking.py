"""Benchmark query chunking in `keras_attention.AdditiveAttention`.

Without chunking, the additive score materialises a `(batch, Tq, Tk, units)`
float32 tensor (4 GiB at batch=8, Tq=Tk=1024, units=128); with
`query_chunk_size=c` the queries are processed in chunks of `c`, so only a
`(batch, c, Tk, units)` slice is alive at a time. This script compares
`query_chunk_size=None` against the chunk sizes given by `--chunks`, on each
backend, for the forward pass and for forward+backward (gradients with respect
to the query, the value and the layer's weights).

For every (backend, mode, pass, chunk) configuration it reports:

* time: the median wall time of `--repeats` calls after `--warmup` full-size
  calls;
* peak memory: the increase of the process' peak RSS (`ru_maxrss`) over the
  RSS read right before the first full-size call. Each configuration runs in
  a fresh subprocess, one after the other. Before the baseline is read the
  process has imported everything, built the layer, allocated the inputs and
  run a tiny warm-up call (so that libraries and kernels are loaded); the
  peak-RSS high-water mark is then reset (`/proc/self/clear_refs`) so that
  nothing that happened before the baseline can show up as the peak;
* the ratios, within the one run: time(chunked) / time(unchunked) and
  peak(unchunked) / peak(chunked).

Modes: TensorFlow `eager` and `xla` (`tf.function(jit_compile=True)`; also
`graph` on request), JAX `jit` (`jax.jit` over `layer.stateless_call`, compiled
ahead of time, before the baseline) and PyTorch `eager` (forward under
`torch.no_grad()`). Memory is host memory: the workers hide GPUs.

Run from the repository root:

    python benchmarks/additive_chunking.py                  # target size, all
    python benchmarks/additive_chunking.py --backend jax --chunks 64,128
    python benchmarks/additive_chunking.py --batch 1 --length 128 --chunks 32

It prints a Markdown table and writes the results as JSON to
`benchmarks/results/additive_chunking.json` (see `--output`). A watchdog kills
(and reruns, `--retries`) a configuration when the machine's available memory
falls below `--min-free-gib`; a configuration whose estimated need does not
fit waits up to `--wait-memory` seconds for memory, then is skipped (`--force`
runs it anyway, still under the watchdog). See `benchmarks/README.md`.
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BACKENDS = ("tensorflow", "jax", "torch")
MODES = {"tensorflow": ("eager", "graph", "xla"), "jax": ("jit",), "torch": ("eager",)}
PASSES = {"forward": "forward", "backward": "forward+backward"}
TARGET_MEMORY_REDUCTION = 4.0
TARGET_TIME_RATIO = 1.3
MIB = 1024 * 1024
GIB = 1024 * MIB
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "additive_chunking.json"


# --------------------------------------------------------------------- utils
def _proc_status_kib(field, pid="self"):
    """A `kB` field of `/proc/<pid>/status` (`VmRSS`, `VmHWM`), or `None`."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _mem_available_bytes():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("MemAvailable not found in /proc/meminfo")


def _mem_total_bytes():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return None


def _source_hashes():
    """sha256 of the library files on the benchmarked path (shared checkouts)."""
    import hashlib

    root = Path(__file__).resolve().parent.parent / "keras_attention"
    names = ("core/attend.py", "core/scores.py", "layers/base.py", "layers/additive.py")
    hashes = {}
    for name in names:
        path = root / name
        if path.exists():
            hashes[name] = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return hashes


def _parse_ints(text):
    return [int(x) for x in text.split(",") if x.strip()]


def _chunk_label(chunk):
    return "none" if chunk is None else str(chunk)


# -------------------------------------------------------------------- worker
def _flatten(tree):
    if isinstance(tree, (list, tuple)):
        return [leaf for item in tree for leaf in _flatten(item)]
    if isinstance(tree, dict):
        return [leaf for key in sorted(tree) for leaf in _flatten(tree[key])]
    return [tree]


def _tensorflow_step(layer, mode, pass_name):
    import tensorflow as tf

    weights = layer.trainable_variables

    def forward(query, value, cotangent):
        return layer(query, value)

    def forward_backward(query, value, cotangent):
        with tf.GradientTape() as tape:
            tape.watch([query, value])
            output = layer(query, value)
            loss = tf.reduce_sum(output * cotangent)
        return tape.gradient(loss, [query, value, *weights])

    fn = forward if pass_name == "forward" else forward_backward
    if mode == "graph":
        fn = tf.function(fn, jit_compile=False)
    elif mode == "xla":
        fn = tf.function(fn, jit_compile=True)

    def block(outputs):
        for tensor in _flatten(outputs):
            tensor.numpy()

    return fn, block, {}


def _jax_step(layer, mode, pass_name, full_args):
    import jax
    import jax.numpy as jnp

    trainable = [v.value for v in layer.trainable_variables]
    non_trainable = [v.value for v in layer.non_trainable_variables]

    def forward(trainable, query, value, cotangent):
        output, _ = layer.stateless_call(trainable, non_trainable, query, value)
        return output

    def loss(trainable, query, value, cotangent):
        return jnp.sum(forward(trainable, query, value, cotangent) * cotangent)

    if pass_name == "forward":
        jitted = jax.jit(forward)
    else:
        jitted = jax.jit(jax.grad(loss, argnums=(0, 1, 2)))
    # Compile the full-size program ahead of time, before the memory baseline,
    # and keep XLA's own estimate of its buffers.
    start = time.perf_counter()
    compiled = jitted.lower(trainable, *full_args).compile()
    extra = {"compile_s": time.perf_counter() - start}
    try:
        analysis = compiled.memory_analysis()
        extra["xla_temp_mib"] = analysis.temp_size_in_bytes / MIB
        extra["xla_output_mib"] = analysis.output_size_in_bytes / MIB
    except Exception as error:  # not every jax/backend exposes it
        extra["xla_memory_analysis_error"] = repr(error)

    def run(*args):
        if all(a.shape == b.shape for a, b in zip(args, full_args, strict=True)):
            return compiled(trainable, *args)
        return jitted(trainable, *args)

    def block(outputs):
        jax.block_until_ready(outputs)

    return run, block, extra


def _torch_step(layer, mode, pass_name):
    import torch

    params = [w.value for w in layer.trainable_variables]

    def forward(query, value, cotangent):
        with torch.no_grad():
            return layer(query, value)

    def forward_backward(query, value, cotangent):
        query = query.detach().requires_grad_(True)
        value = value.detach().requires_grad_(True)
        output = layer(query, value)
        loss = torch.sum(output * cotangent)
        return torch.autograd.grad(loss, [query, value, *params])

    fn = forward if pass_name == "forward" else forward_backward

    def block(outputs):
        del outputs  # CPU torch ops are synchronous

    return fn, block, {}


def _reset_peak_rss():
    """Reset the peak-RSS high-water mark to the current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _malloc_trim():
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def run_worker(args):
    """Run one configuration in this (fresh) process; return a result dict."""
    os.environ["KERAS_BACKEND"] = args.backend
    import gc
    import resource

    import keras
    import numpy as np

    import keras_attention

    chunk = args.chunk or None
    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    batch, tq, tk, dim = args.batch, args.query_length, args.key_length, args.dim

    def make_inputs(b, q_len, k_len):
        query = rng.standard_normal((b, q_len, dim), dtype=np.float32)
        value = rng.standard_normal((b, k_len, dim), dtype=np.float32)
        cotangent = rng.standard_normal((b, q_len, dim), dtype=np.float32)
        return tuple(keras.ops.convert_to_tensor(x) for x in (query, value, cotangent))

    full_args = make_inputs(batch, tq, tk)
    # The tiny input still runs the chunk loop (two chunks) when chunking.
    tiny_args = make_inputs(1, min(tq, 2 * chunk if chunk else 8), min(tk, 8))

    layer = keras_attention.AdditiveAttention(units=args.units, query_chunk_size=chunk)
    layer.build((batch, tq, dim), (batch, tk, dim))

    if args.backend == "tensorflow":
        step, block, extra = _tensorflow_step(layer, args.mode, args.pass_name)
    elif args.backend == "jax":
        step, block, extra = _jax_step(layer, args.mode, args.pass_name, full_args)
    else:
        step, block, extra = _torch_step(layer, args.mode, args.pass_name)

    for _ in range(2):
        block(step(*tiny_args))
    gc.collect()
    _malloc_trim()
    hwm_reset = _reset_peak_rss()
    rss_before_kib = _proc_status_kib("VmRSS")
    maxrss_before_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    start = time.perf_counter()
    for _ in range(args.warmup):
        block(step(*full_args))
    warmup_s = time.perf_counter() - start
    maxrss_warmup_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    steady_reset = _reset_peak_rss()
    times = []
    outputs = None
    for _ in range(args.repeats):
        outputs = None  # let the previous outputs go before the next call
        start = time.perf_counter()
        outputs = step(*full_args)
        block(outputs)
        times.append(time.perf_counter() - start)
    maxrss_after_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    peak_kib = max(maxrss_warmup_kib, maxrss_after_kib)
    probe_rng = np.random.default_rng(1234)
    fingerprints = []
    for tensor in _flatten(outputs):
        array = np.asarray(keras.ops.convert_to_numpy(tensor), dtype=np.float64)
        probe = probe_rng.standard_normal(array.shape)
        norm, projection = np.linalg.norm(array), np.sum(array * probe)
        fingerprints.append({"norm": float(norm), "probe": float(projection)})

    versions = {"keras": keras.__version__, "numpy": np.__version__}
    backend_module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
    versions[args.backend] = __import__(backend_module[args.backend]).__version__
    return {
        "backend": args.backend,
        "mode": args.mode,
        "pass": PASSES[args.pass_name],
        "chunk": chunk,
        "status": "ok",
        "time_ms": statistics.median(times) * 1000,
        "times_ms": [t * 1000 for t in times],
        "warmup_s": warmup_s,
        "peak_mib": (peak_kib - rss_before_kib) / 1024,
        "peak_steady_mib": (maxrss_after_kib - rss_before_kib) / 1024
        if steady_reset
        else None,
        "rss_before_mib": rss_before_kib / 1024,
        "warmup_slack_mib": (maxrss_before_kib - rss_before_kib) / 1024,
        "hwm_reset": hwm_reset,
        "fingerprints": fingerprints,
        "versions": versions,
        **extra,
    }


# -------------------------------------------------------------------- driver
# Estimated peak memory: (unchunked, in units of the full (batch, Tq, Tk, units)
# float32 tensor; chunked, in units of the full tensor plus units of one chunk's
# (batch, chunk, Tk, units) tensor), measured on CPU at batch=2 and 8 and rounded
# up. Only used to wait for or skip configurations that cannot fit; the
# watchdog in `_run_worker_process` is the real guard.
_ESTIMATE = {
    ("tensorflow", "eager", "forward"): (3.3, 0.0, 4.5),
    ("tensorflow", "graph", "forward"): (3.3, 0.0, 4.5),
    ("tensorflow", "xla", "forward"): (1.2, 1.2, 0.5),
    ("jax", "jit", "forward"): (1.6, 0.0, 4.0),
    ("torch", "eager", "forward"): (3.3, 0.0, 3.5),
    ("tensorflow", "eager", "backward"): (6.5, 3.3, 2.5),
    ("tensorflow", "graph", "backward"): (6.5, 3.3, 2.5),
    ("tensorflow", "xla", "backward"): (2.3, 2.3, 0.5),
    ("jax", "jit", "backward"): (4.2, 3.1, 1.0),
    ("torch", "eager", "backward"): (3.2, 1.1, 3.0),
}
_WORKER_BASELINE_BYTES = 1 * GIB  # imports, libraries (measured 0.75-1 GiB)


def estimate_bytes(args, backend, mode, chunk, pass_name):
    """A rough estimate of a configuration's peak memory, in bytes."""
    per_row = args.batch * args.key_length * args.units * 4
    full = args.query_length * per_row
    unchunked, chunked_full, chunked_live = _ESTIMATE[(backend, mode, pass_name)]
    if chunk is None or chunk >= args.query_length:
        need = unchunked * full
    else:
        need = chunked_full * full + chunked_live * chunk * per_row
    return _WORKER_BASELINE_BYTES + need


def _wait_for_memory(args, needed):
    """Wait up to `--wait-memory` s for `needed` bytes; return a reason or None."""
    reserve = args.min_free_gib * GIB
    total = _mem_total_bytes() or 0
    if needed > total - reserve:
        return (
            f"does not fit: estimated {needed / GIB:.1f} GiB > this machine's "
            f"{total / GIB:.1f} GiB - {args.min_free_gib} GiB reserve"
        )
    deadline = time.monotonic() + args.wait_memory
    announced = False
    while True:
        available = _mem_available_bytes()
        if needed <= available - reserve:
            return None
        if time.monotonic() >= deadline:
            return (
                f"estimated need {needed / GIB:.1f} GiB > available "
                f"{available / GIB:.1f} GiB - {args.min_free_gib} GiB reserve "
                f"(waited {args.wait_memory:.0f} s; other processes hold memory)"
            )
        if not announced:
            print(
                f"    waiting for memory: need {needed / GIB:.1f} GiB, available "
                f"{available / GIB:.1f} GiB",
                file=sys.stderr,
                flush=True,
            )
            announced = True
        time.sleep(5)


def run_config(args, backend, mode, pass_name, chunk):
    """Run one configuration in a fresh subprocess, when its memory fits."""
    base = {
        "backend": backend,
        "mode": mode,
        "pass": PASSES[pass_name],
        "chunk": chunk,
    }
    needed = estimate_bytes(args, backend, mode, chunk, pass_name)
    attempts = []
    for _ in range(args.retries + 1):
        if not args.force:
            reason = _wait_for_memory(args, needed)
            if reason:
                return {
                    **base,
                    "status": "skipped",
                    "reason": reason,
                    "attempts": attempts,
                }
        result = _run_worker_process(args, backend, mode, pass_name, chunk)
        result = {**base, **result, "estimated_gib": needed / GIB}
        if not result.get("low_memory_kill"):
            break
        attempts.append(result["reason"])
        print(f"    {result['reason']}; retrying", file=sys.stderr, flush=True)
    result["attempts"] = attempts
    return result


def _run_worker_process(args, backend, mode, pass_name, chunk):
    """Run one configuration in a fresh subprocess under a memory watchdog."""
    min_free = args.min_free_gib * GIB
    available = _mem_available_bytes()
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        "--backend",
        backend,
        "--mode",
        mode,
        "--pass",
        pass_name,
        "--chunk",
        str(chunk or 0),
        "--batch",
        str(args.batch),
        "--query-length",
        str(args.query_length),
        "--key-length",
        str(args.key_length),
        "--units",
        str(args.units),
        "--dim",
        str(args.dim),
        "--repeats",
        str(args.repeats),
        "--warmup",
        str(args.warmup),
        "--seed",
        str(args.seed),
    ]
    env = dict(os.environ)
    env["KERAS_BACKEND"] = backend
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["CUDA_VISIBLE_DEVICES"] = ""  # peak RSS measures host memory only
    env["JAX_PLATFORMS"] = "cpu"
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.monotonic()
        proc = subprocess.Popen(command, stdout=out, stderr=err, env=env)
        killed = None
        low_memory = False
        observed_kib = 0
        lowest_available = available
        while proc.poll() is None:
            rss = _proc_status_kib("VmRSS", proc.pid)
            observed_kib = max(observed_kib, rss or 0)
            free_now = _mem_available_bytes()
            lowest_available = min(lowest_available, free_now)
            if free_now < min_free:
                low_memory = True
                killed = (
                    f"killed: available memory fell to {free_now / GIB:.1f} GiB "
                    f"(< {args.min_free_gib} GiB) at RSS {observed_kib / 1024**2:.1f}"
                    " GiB"
                )
            elif time.monotonic() - start > args.timeout:
                killed = f"killed: timeout after {args.timeout} s"
            if killed:
                proc.kill()
                proc.wait()
                break
            time.sleep(0.05)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    wall = time.monotonic() - start
    lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    if killed or proc.returncode != 0 or not lines:
        reason = killed or f"exit code {proc.returncode}"
        tail = "\n".join(stderr.strip().splitlines()[-15:])
        return {
            "status": "failed",
            "reason": reason,
            "low_memory_kill": low_memory,
            "stderr_tail": tail,
        }
    result = json.loads(lines[-1][len("RESULT ") :])
    result["subprocess_wall_s"] = wall
    result["observed_max_rss_mib"] = observed_kib / 1024
    result["lowest_available_gib"] = lowest_available / GIB
    # Other processes compete for the CPUs on a shared machine: keep the load.
    result["loadavg_1m"] = [load_before, os.getloadavg()[0]]
    return result


def add_ratios(results):
    """Time ratio and memory reduction of each chunk vs the unchunked run."""
    reference = {}
    for r in results:
        if r["chunk"] is None and r["status"] == "ok":
            reference[(r["backend"], r["mode"], r["pass"])] = r
    for r in results:
        ref = reference.get((r["backend"], r["mode"], r["pass"]))
        r["time_ratio"] = r["memory_reduction"] = r["max_rel_diff"] = None
        r["meets_target"] = None
        if ref is None or r["status"] != "ok":
            continue
        r["time_ratio"] = r["time_ms"] / ref["time_ms"]
        if r["peak_mib"] > 0:
            r["memory_reduction"] = ref["peak_mib"] / r["peak_mib"]
        diffs = [
            abs(a["probe"] - b["probe"]) / max(b["norm"], 1e-30)
            for a, b in zip(r["fingerprints"], ref["fingerprints"], strict=True)
        ]
        r["max_rel_diff"] = max(diffs) if diffs else 0.0
        if r["chunk"] is not None:
            r["meets_target"] = bool(
                r["memory_reduction"] is not None
                and r["memory_reduction"] >= TARGET_MEMORY_REDUCTION
                and r["time_ratio"] <= TARGET_TIME_RATIO
            )


def _fmt(value, spec):
    return "n/a" if value is None else format(value, spec)


def markdown_table(results):
    header = (
        "| backend | mode | pass | chunk | time ms | peak MiB | steady MiB "
        "| time ratio | memory reduction × | target met |\n"
        "|---|---|---|---|---:|---:|---:|---:|---:|---|\n"
    )
    rows = []
    for r in results:
        cells = [r["backend"], r["mode"], r["pass"], _chunk_label(r["chunk"])]
        if r["status"] != "ok":
            cells += [r["status"], "", "", "", "", r.get("reason", "")]
        else:
            met = r.get("meets_target")
            cells += [
                _fmt(r["time_ms"], ".0f"),
                _fmt(r["peak_mib"], ".0f"),
                _fmt(r.get("peak_steady_mib"), ".0f"),
                _fmt(r.get("time_ratio"), ".2f"),
                _fmt(r.get("memory_reduction"), ".1f"),
                "" if met is None else ("yes" if met else "no"),
            ]
        rows.append("| " + " | ".join(cells) + " |")
    return header + "\n".join(rows)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--backend", default="all", choices=[*BACKENDS, "all"], help="backend(s)"
    )
    parser.add_argument("--batch", type=int, default=8, help="batch size")
    parser.add_argument(
        "--length", type=int, default=1024, help="Tq and Tk (unless set apart)"
    )
    parser.add_argument("--query-length", type=int, help="Tq (default: --length)")
    parser.add_argument("--key-length", type=int, help="Tk (default: --length)")
    parser.add_argument("--units", type=int, default=128, help="additive units")
    parser.add_argument("--dim", type=int, default=128, help="query/value features")
    parser.add_argument(
        "--chunks", default="64,128", help="comma-separated query_chunk_size values"
    )
    parser.add_argument(
        "--passes",
        default="forward,backward",
        help="comma-separated: forward, backward (= forward+backward)",
    )
    parser.add_argument(
        "--tf-modes", default="eager,xla", help="TensorFlow modes: eager, graph, xla"
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed calls")
    parser.add_argument("--warmup", type=int, default=1, help="untimed full calls")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--min-free-gib",
        type=float,
        default=2.0,
        help="kill a configuration when available memory falls below this",
    )
    parser.add_argument(
        "--timeout", type=float, default=1800, help="seconds per configuration"
    )
    parser.add_argument(
        "--wait-memory",
        type=float,
        default=600,
        help="seconds to wait for enough available memory before skipping",
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=1,
        help="reruns of a configuration killed for low memory",
    )
    parser.add_argument(
        "--force", action="store_true", help="do not wait or skip on the estimate"
    )
    parser.add_argument("--output", default=str(DEFAULT_OUTPUT), help="JSON path")
    # Internal: one configuration in this process.
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    parser.add_argument("--pass", dest="pass_name", help=argparse.SUPPRESS)
    parser.add_argument("--chunk", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.query_length = args.query_length or args.length
    args.key_length = args.key_length or args.length
    if args.repeats < 1 or args.warmup < 0:
        parser.error("--repeats must be >= 1 and --warmup >= 0")
    args.chunk_list = _parse_ints(args.chunks)
    if any(c <= 0 for c in args.chunk_list):
        parser.error("--chunks must be positive integers")
    args.pass_list = [p.strip() for p in args.passes.split(",") if p.strip()]
    if not args.pass_list or any(p not in PASSES for p in args.pass_list):
        parser.error(f"--passes must be a subset of {', '.join(PASSES)}")
    args.tf_mode_list = [m.strip() for m in args.tf_modes.split(",") if m.strip()]
    if any(m not in MODES["tensorflow"] for m in args.tf_mode_list):
        parser.error("--tf-modes must be a subset of eager, graph, xla")
    if args.worker and (args.backend == "all" or args.mode not in MODES[args.backend]):
        parser.error("--worker needs one --backend and a valid --mode")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        result = run_worker(args)
        print("RESULT " + json.dumps(result), flush=True)
        return 0

    backends = BACKENDS if args.backend == "all" else (args.backend,)
    modes = dict(MODES, tensorflow=tuple(args.tf_mode_list))
    configs = [
        (backend, mode, pass_name, chunk)
        for backend in backends
        for mode in modes[backend]
        for pass_name in args.pass_list
        for chunk in [None, *args.chunk_list]
    ]
    print(
        f"AdditiveAttention: batch={args.batch} Tq={args.query_length} "
        f"Tk={args.key_length} units={args.units} dim={args.dim}; "
        f"{len(configs)} configurations, one subprocess each, sequentially; "
        f"available memory {_mem_available_bytes() / GIB:.1f} GiB",
        file=sys.stderr,
    )
    sources = _source_hashes()
    results = []
    for index, (backend, mode, pass_name, chunk) in enumerate(configs, 1):
        label = f"{backend}/{mode}/{PASSES[pass_name]}/chunk={_chunk_label(chunk)}"
        print(f"[{index}/{len(configs)}] {label} ...", file=sys.stderr, flush=True)
        result = run_config(args, backend, mode, pass_name, chunk)
        results.append(result)
        if result["status"] == "ok":
            summary = (
                f"{result['time_ms']:.0f} ms, peak +{result['peak_mib']:.0f} MiB "
                f"({result['subprocess_wall_s']:.0f} s)"
            )
        else:
            summary = f"{result['status']}: {result.get('reason', '')}"
            if result.get("stderr_tail"):
                summary += "\n" + result["stderr_tail"]
        print(f"    {summary}", file=sys.stderr, flush=True)

    add_ratios(results)
    table = markdown_table(results)
    print(table)
    versions = {}
    for r in results:
        versions.update(r.get("versions", {}))
    report = {
        "benchmark": "AdditiveAttention query chunking",
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "settings": {
            "batch": args.batch,
            "query_length": args.query_length,
            "key_length": args.key_length,
            "units": args.units,
            "dim": args.dim,
            "chunks": args.chunk_list,
            "passes": [PASSES[p] for p in args.pass_list],
            "repeats": args.repeats,
            "warmup": args.warmup,
            "seed": args.seed,
        },
        "target": {
            "memory_reduction_at_least": TARGET_MEMORY_REDUCTION,
            "time_ratio_at_most": TARGET_TIME_RATIO,
        },
        "environment": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "mem_total_gib": (_mem_total_bytes() or 0) / GIB,
            "versions": versions,
            "library_sources_sha256": sources,
            "library_sources_changed_during_run": sources != _source_hashes(),
        },
        "definitions": {
            "time_ms": "median wall time of the timed calls",
            "peak_mib": "peak RSS (ru_maxrss) minus the RSS read before the "
            "first full-size call (warm-up included)",
            "peak_steady_mib": "same, high-water mark reset after the warm-up "
            "calls, so over the timed calls only",
            "time_ratio": "time_ms / time_ms of chunk=None, same backend/mode/pass",
            "memory_reduction": "peak_mib of chunk=None / peak_mib",
            "max_rel_diff": "difference of a random projection of the outputs "
            "(or gradients) vs chunk=None, relative to their norm",
        },
        "markdown": table,
        "results": results,
    }
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {output}", file=sys.stderr)
    return 0 if all(r["status"] == "ok" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
