"""Blocked sliding-window attention vs full masked attention: time and memory.

For each sequence length `T`, causal self-attention with a window of `w` keys
(default 128) on `(batch=1, heads=4, T, 64)` inputs (256 model dims; float32
by default, `--dtype bfloat16` on a GPU) runs three ways:

- windowed: what `MultiHeadAttention(window=w)` runs on its projected
  `(batch, T, heads, dim)` heads: the fused windowed kernel where one
  applies (GPU), else the blocked
  `keras_attention.core.windowed.sliding_window_attention` (O(T * w)),
  with its two layout transposes;
- fused: the bare fused kernel,
  `keras_attention.core.fused_window.fused_sliding_window_attention`
  (JAX: cuDNN through `jax.nn.dot_product_attention`, causal windows in
  float16/bfloat16; torch: compiled `flex_attention`, CUDA). Where there is
  none (CPU, TensorFlow) it is reported as unavailable, once per backend;
- full: `reference_sliding_window_attention`, i.e. `attend` with a full
  `(T, T)` band mask (O(T^2)).

On a GPU, calls are timed up to `block_until_ready` (JAX) or
`torch.cuda.synchronize()` instead of copying the output to the host, and the
result also records the device's peak memory (`device_peak_mb`: JAX's
`peak_bytes_in_use` of the process, torch's `max_memory_allocated` of the
measured call). The table then shows windowed/fused, whose target is <= 1.3:

    python benchmarks/sliding_window.py --backend jax --dtype bfloat16 \
        --heads 16 --head-dim 64 --window 256 --lengths 4096 16384 65536

Every (backend, T, method) runs in a fresh subprocess with `KERAS_BACKEND`
set before Keras is imported; configurations run one after the other. JAX is
`jax.jit`-compiled, TensorFlow uses `tf.function(jit_compile=True)`, torch
runs eagerly under `torch.no_grad()`.

- time: median of the timed forward calls after two warm-up calls;
- memory: the increase of `getrusage(RUSAGE_SELF).ru_maxrss` during one
  forward call over its value read right before that call, with the
  high-water mark first reset to the current RSS (Linux
  `/proc/self/clear_refs`), so that it means "peak of this call".
  JAX and torch: a call after warm-up and timing (compilation not counted);
  glibc is first told to return freed memory to the OS (`mallopt` mmap
  threshold 64 KiB, `malloc_trim`, one call to flush the heap), so that
  buffers freed by earlier calls are not silently reused. TensorFlow keeps
  freed memory inside the process (its RSS never drops), so a later call
  shows no increase at all: there the measured call is the first one at that
  `T`, after XLA was initialised by a call at a short `T`; it includes the
  compilation of that shape (tens of MB).

The full reference at large `T` needs several `(heads, T, T)` float32 arrays
(4 GiB each at T=16384); a configuration whose estimated peak does not fit in
70% of `MemAvailable` is skipped, and the table says so.

Usage:

    python benchmarks/sliding_window.py --backend all
    python benchmarks/sliding_window.py --backend jax --lengths 1024 2048 4096

Writes `benchmarks/results/sliding_window.json` (merged per backend, so
backends can be run one at a time) and `benchmarks/results/sliding_window.png`.
"""

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time

BACKENDS = ("tensorflow", "jax", "torch")
METHODS = ("windowed", "fused", "full")
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results")
MARKER = "RESULT_JSON "
TARGETS = {"length": 8192, "memory_ratio": 8.0, "time_ratio": 4.0, "exponent": 1.2}
FUSED_TARGET = 1.3  # windowed time / fused kernel time, on a GPU


# --------------------------------------------------------------------------
# Worker: one configuration in a fresh process.
# --------------------------------------------------------------------------


def _reset_peak_rss():
    """Reset the RSS high-water mark to the current RSS; False if impossible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _release_freed_memory():
    """Make glibc return freed memory and mmap every allocation over 64 KiB."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 65536)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 65536)  # M_TRIM_THRESHOLD
        libc.malloc_trim(0)
        return True
    except (OSError, AttributeError):
        return False


def _maxrss_mb():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class _Unavailable(Exception):
    """The fused method has no kernel on this backend and device."""


def worker(args):
    os.environ["KERAS_BACKEND"] = args.backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.path.insert(0, ROOT)
    import gc

    import keras
    import numpy as np
    from keras import ops

    from keras_attention.core.fused_window import fused_sliding_window_attention
    from keras_attention.core.windowed import (
        reference_sliding_window_attention,
        sliding_window_attention,
    )

    assert keras.backend.backend() == args.backend
    window, scale = args.window, 1.0 / math.sqrt(args.head_dim)
    if args.method == "full":  # (B, H, T, d), the core's layout
        shape = (args.batch, args.heads, args.length, args.head_dim)
    else:  # (B, T, H, d), the layer's layout
        shape = (args.batch, args.length, args.heads, args.head_dim)
    rng = np.random.default_rng(0)
    inputs = [rng.standard_normal(shape).astype("float32") for _ in range(3)]

    def to_heads_first(*xs):
        return [ops.transpose(x, (0, 2, 1, 3)) for x in xs]

    def windowed(q, k, v):  # As MultiHeadAttention._blocked does.
        output = fused_sliding_window_attention(q, k, v, window, True, scale)
        if output is not None:
            return output
        output = sliding_window_attention(
            *to_heads_first(q, k, v), window, causal=True, scale=scale
        )
        return to_heads_first(output)[0]

    def fused(q, k, v):
        output = fused_sliding_window_attention(q, k, v, window, True, scale)
        if output is None:
            raise _Unavailable
        return output

    def full(q, k, v):
        return reference_sliding_window_attention(
            q, k, v, window, causal=True, scale=scale
        )

    forward = {"windowed": windowed, "fused": fused, "full": full}[args.method]
    if args.backend == "jax":
        import jax

        on_gpu = jax.default_backend() == "gpu"
        inputs = [ops.cast(jax.device_put(x), args.dtype) for x in inputs]
        fn = jax.jit(forward)

        def sync(out):
            out.block_until_ready()

        def device_peak_mb():
            stats = jax.devices()[0].memory_stats() or {}
            return stats.get("peak_bytes_in_use", 0) / 2**20

    elif args.backend == "tensorflow":
        import tensorflow as tf

        on_gpu = False  # Timed with the output's host copy, as on CPU.
        inputs = [tf.cast(tf.constant(x), args.dtype) for x in inputs]
        fn = tf.function(forward, jit_compile=True)
    else:
        import torch

        torch.set_grad_enabled(False)
        on_gpu = torch.cuda.is_available()
        # Keras' device: CUDA when there is one.
        inputs = [ops.cast(ops.convert_to_tensor(x), args.dtype) for x in inputs]
        fn = forward

        def sync(out):
            torch.cuda.synchronize()

        def device_peak_mb():
            return torch.cuda.max_memory_allocated() / 2**20

    def to_numpy(out):
        if args.dtype != "float32":
            out = ops.cast(out, "float32")
        return ops.convert_to_numpy(out)

    def call(args=None, check=False):
        out = fn(*(args or inputs))
        if on_gpu and not check:
            sync(out)  # Waits for the kernels; no host copy in the timing.
            return None
        # Converting the small (B, H, T, 64) output also waits for async work.
        return to_numpy(out)

    def measure_peak(release):
        gc.collect()
        released = _release_freed_memory() if release else False
        gc.collect()
        if on_gpu and args.backend == "torch":
            torch.cuda.reset_peak_memory_stats()
        reset = _reset_peak_rss()
        before = _maxrss_mb()
        start = time.perf_counter()
        out = call(check=True)
        seconds = time.perf_counter() - start
        assert np.all(np.isfinite(out))
        return _maxrss_mb() - before, before, seconds, reset, released

    try:
        if args.backend == "tensorflow":
            # TensorFlow keeps freed memory inside the process (RSS never
            # drops), so only the first call at a shape shows its peak.
            # Initialise XLA on a short sequence first, so that only this
            # shape's compilation is in.
            small = min(args.length, 2 * args.window)
            time_axis = 2 if args.method == "full" else 1
            call([x[(slice(None),) * time_axis + (slice(small),)] for x in inputs])
            peak, before, first_s, reset, released = measure_peak(release=False)
            memory_method = "first call at this T (includes its XLA compilation)"
            call()  # Warm-up 2.
        else:
            start = time.perf_counter()
            call()  # Warm-up 1 (compiles).
            first_s = time.perf_counter() - start
            call()  # Warm-up 2.
            memory_method = "call after warm-up, peak RSS reset, freed memory released"
    except _Unavailable:  # Reported, not replaced by another method.
        device = "GPU" if on_gpu else "CPU"
        reason = (
            f"unavailable: no fused windowed kernel on {args.backend} "
            f"({device}, {args.dtype}); fused_sliding_window_attention "
            "returned None"
        )
        result = {"backend": args.backend, "method": args.method}
        result.update({"length": args.length, "unavailable": reason})
        print(MARKER + json.dumps(result), flush=True)
        return

    times = []
    budget_s = args.time_budget
    while len(times) < args.repeats:
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
        if len(times) >= 3 and sum(times) > budget_s:
            break

    if args.backend != "tensorflow":
        # One call with the new malloc settings first: memory freed before
        # them stays in the heap and would be reused by the measured call.
        _release_freed_memory()
        call()
        peak, before, _, reset, released = measure_peak(release=True)
    result = {
        "backend": args.backend,
        "method": args.method,
        "length": args.length,
        "time_s": statistics.median(times),
        "min_time_s": min(times),
        "times_s": times,
        "first_call_s": first_s,
        "peak_mb": peak,
        "maxrss_before_mb": before,
        "maxrss_after_mb": before + peak,
        "memory_method": memory_method,
        "peak_reset": reset,
        "malloc_release": released,
        "dtype": args.dtype,
        "device": "gpu" if on_gpu else "cpu",
    }
    if on_gpu:
        result["device_peak_mb"] = device_peak_mb()
    print(MARKER + json.dumps(result), flush=True)


# --------------------------------------------------------------------------
# Driver.
# --------------------------------------------------------------------------


def _mem_available_mb():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def _estimate_full_mb(args, length, measured):
    """Peak estimate of the full reference: 4x per doubling, or 5 score arrays."""
    smaller = [r for r in measured if r["length"] < length and "peak_mb" in r]
    if smaller:
        base = max(smaller, key=lambda r: r["length"])
        ratio = (length / base["length"]) ** 2
        return max(base["peak_mb"], base["maxrss_after_mb"]) * ratio
    scores = args.batch * args.heads * length * length * 4 / 2**20
    return 5 * scores


def _run_config(args, backend, method, length):
    command = [
        sys.executable,
        os.path.abspath(__file__),
        "--worker",
        "--backend",
        backend,
        "--method",
        method,
        "--length",
        str(length),
        "--window",
        str(args.window),
        "--batch",
        str(args.batch),
        "--heads",
        str(args.heads),
        "--head-dim",
        str(args.head_dim),
        "--dtype",
        args.dtype,
        "--repeats",
        str(args.repeats),
        "--time-budget",
        str(args.time_budget),
    ]
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    try:
        proc = subprocess.run(
            command,
            env=env,
            capture_output=True,
            text=True,
            timeout=args.timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"length": length, "method": method, "error": "timeout"}
    for line in proc.stdout.splitlines():
        if line.startswith(MARKER):
            return json.loads(line[len(MARKER) :])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    return {
        "length": length,
        "method": method,
        "error": f"exit {proc.returncode}: " + " | ".join(tail),
    }


def fit_exponent(lengths, times):
    """Least-squares slope of log(time) against log(T)."""
    if len(lengths) < 2:
        return None
    xs = [math.log(t) for t in lengths]
    ys = [math.log(s) for s in times]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    return sxy / sxx


def run_backend(args, backend):
    print(f"\n## backend: {backend}", flush=True)
    measured = {method: [] for method in METHODS}
    unavailable = None  # The fused kernel's absence, found at the first T.
    for length in args.lengths:
        for method in METHODS:
            if method == "fused" and unavailable:
                measured[method].append(
                    {"length": length, "method": method, "unavailable": unavailable}
                )
                continue
            if method == "full":
                need = _estimate_full_mb(args, length, measured["full"])
                avail = _mem_available_mb()
                if avail is not None and need > 0.7 * avail:
                    reason = (
                        f"skipped: estimated peak {need / 1024:.1f} GiB > 70% of "
                        f"{avail / 1024:.1f} GiB available"
                    )
                    print(f"  T={length:6d} {method:8s} {reason}", flush=True)
                    measured[method].append(
                        {"length": length, "method": method, "skipped": reason}
                    )
                    continue
            result = _run_config(args, backend, method, length)
            measured[method].append(result)
            if "unavailable" in result:
                unavailable = result["unavailable"]
                print(f"  T={length:6d} {method:8s} {unavailable}", flush=True)
            elif "error" in result:
                print(f"  T={length:6d} {method:8s} ERROR {result['error']}")
            else:
                print(
                    f"  T={length:6d} {method:8s} {result['time_s'] * 1e3:10.2f} ms"
                    f" {result['peak_mb']:10.1f} MB",
                    flush=True,
                )
    return summarize(backend, measured)


def summarize(backend, measured):
    rows = []
    by_length = {}
    for method in METHODS:
        for r in measured[method]:
            by_length.setdefault(r["length"], {})[method] = r
    for length in sorted(by_length):
        entry = by_length[length]
        row = {"length": length}
        for method in METHODS:
            row[method] = entry.get(method)
        win, full = entry.get("windowed", {}), entry.get("full", {})
        fused = entry.get("fused") or {}
        if "time_s" in win and "time_s" in full:
            row["time_ratio"] = full["time_s"] / win["time_s"]
            row["memory_ratio"] = full["peak_mb"] / max(win["peak_mb"], 1e-3)
        if "time_s" in win and "time_s" in fused:
            row["fused_ratio"] = win["time_s"] / fused["time_s"]
        rows.append(row)
    exponents, tail_exponents = {}, {}
    for method in METHODS:
        ok = [r for r in measured.get(method, []) if "time_s" in r]
        lengths, times = [r["length"] for r in ok], [r["time_s"] for r in ok]
        exponents[method] = fit_exponent(lengths, times)
        # The largest three lengths only: fixed per-call costs weigh less.
        tail_exponents[method] = fit_exponent(lengths[-3:], times[-3:])
    target = next((r for r in rows if r["length"] == TARGETS["length"]), None)
    targets = {
        "memory_ratio_at_8192": target.get("memory_ratio") if target else None,
        "time_ratio_at_8192": target.get("time_ratio") if target else None,
        "windowed_exponent": exponents["windowed"],
    }
    targets["met"] = {
        "memory": targets["memory_ratio_at_8192"] is not None
        and targets["memory_ratio_at_8192"] >= TARGETS["memory_ratio"],
        "time": targets["time_ratio_at_8192"] is not None
        and targets["time_ratio_at_8192"] >= TARGETS["time_ratio"],
        "exponent": exponents["windowed"] is not None
        and exponents["windowed"] <= TARGETS["exponent"],
    }
    fused_ratios = [r["fused_ratio"] for r in rows if "fused_ratio" in r]
    if fused_ratios:  # Only where a fused kernel ran (GPU).
        targets["windowed_over_fused_max"] = max(fused_ratios)
        targets["met"]["fused"] = max(fused_ratios) <= FUSED_TARGET
    unavailable = [
        r["unavailable"] for r in measured.get("fused", []) if "unavailable" in r
    ]
    summary = {
        "rows": rows,
        "exponents": exponents,
        "exponents_largest_three": tail_exponents,
        "targets": targets,
    }
    if unavailable:
        summary["fused_unavailable"] = unavailable[0]
    return summary


def _cell(row, method, key, fmt):
    r = row.get(method) or {}
    if key in r:
        return fmt(r[key])
    if "skipped" in r:
        return "skipped (memory)"
    if "unavailable" in r:
        return "unavailable"
    if "error" in r:
        return "error"
    return "-"


def markdown(backend, summary):
    lines = [
        f"### {backend}",
        "",
        "| T | windowed ms | full ms | time full/win | windowed MB | full MB "
        "| memory full/win |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in summary["rows"]:
        ms = _cell(row, "windowed", "time_s", lambda v: f"{v * 1e3:.1f}")
        full_ms = _cell(row, "full", "time_s", lambda v: f"{v * 1e3:.1f}")
        mb = _cell(row, "windowed", "peak_mb", lambda v: f"{v:.0f}")
        full_mb = _cell(row, "full", "peak_mb", lambda v: f"{v:.0f}")
        tr = f"{row['time_ratio']:.1f}x" if "time_ratio" in row else "-"
        mr = f"{row['memory_ratio']:.1f}x" if "memory_ratio" in row else "-"
        lines.append(
            f"| {row['length']} | {ms} | {full_ms} | {tr} | {mb} | {full_mb} | {mr} |"
        )
    exp, tail = summary["exponents"], summary["exponents_largest_three"]

    def show(v):
        return "-" if v is None else f"{v:.2f}"

    t = summary["targets"]
    lines += [
        "",
        f"Fitted exponent of time vs T: windowed {show(exp['windowed'])}, "
        f"full {show(exp['full'])} (largest three T only: windowed "
        f"{show(tail['windowed'])}, full {show(tail['full'])}).",
        f"Targets at T=8192: memory >= 8x: {show(t['memory_ratio_at_8192'])}x "
        f"({'met' if t['met']['memory'] else 'NOT met'}); time >= 4x: "
        f"{show(t['time_ratio_at_8192'])}x "
        f"({'met' if t['met']['time'] else 'NOT met'}); windowed exponent <= 1.2: "
        f"{'met' if t['met']['exponent'] else 'NOT met'}.",
    ]
    fused_rows = [r for r in summary["rows"] if "time_s" in (r.get("fused") or {})]
    if fused_rows:
        lines += [
            "",
            "| T | windowed ms | fused ms | time windowed/fused |",
            "|---:|---:|---:|---:|",
        ]
        for row in fused_rows:
            ms = _cell(row, "windowed", "time_s", lambda v: f"{v * 1e3:.2f}")
            fused_ms = _cell(row, "fused", "time_s", lambda v: f"{v * 1e3:.2f}")
            fr = f"{row['fused_ratio']:.2f}" if "fused_ratio" in row else "-"
            lines.append(f"| {row['length']} | {ms} | {fused_ms} | {fr} |")
        worst = t.get("windowed_over_fused_max")
        if worst is not None:
            met = "met" if t["met"].get("fused") else "NOT met"
            lines += [
                "",
                f"Target windowed/fused <= {FUSED_TARGET}: {worst:.2f} ({met}).",
            ]
    if summary.get("fused_unavailable"):
        lines += ["", f"fused: {summary['fused_unavailable']}."]
    return "\n".join(lines)


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_time, ax_mem) = plt.subplots(1, 2, figsize=(11, 4.2))
    styles = {"windowed": "-o", "fused": ":^", "full": "--s"}
    colors = {backend: f"C{i}" for i, backend in enumerate(BACKENDS)}
    for backend, summary in sorted(results["backends"].items()):
        for method in METHODS:
            ok = [
                r[method] for r in summary["rows"] if "time_s" in (r.get(method) or {})
            ]
            if not ok:
                continue
            lengths = [r["length"] for r in ok]
            label = f"{backend} {method}"
            color = colors.get(backend)
            times = [r["time_s"] for r in ok]
            ax_time.plot(lengths, times, styles[method], color=color, label=label)
            ax_mem.plot(
                lengths,
                [max(r["peak_mb"], 1e-1) for r in ok],
                styles[method],
                color=color,
                label=label,
            )
    window = results["config"]["window"]
    for ax, title, unit in (
        (ax_time, "forward time", "seconds"),
        (ax_mem, "peak memory increase", "MB"),
    ):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("sequence length T")
        ax.set_ylabel(unit)
        ax.set_title(f"{title}, causal window w={window}")
        ax.grid(True, which="both", alpha=0.3)
    ax_time.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="all", choices=(*BACKENDS, "all"))
    parser.add_argument(
        "--lengths", type=int, nargs="+", default=[1024, 2048, 4096, 8192, 16384]
    )
    parser.add_argument("--window", type=int, default=128)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--head-dim", type=int, default=64)
    parser.add_argument(
        "--dtype",
        default="float32",
        choices=("float32", "bfloat16", "float16"),
        help="input dtype (bfloat16 for the fused kernels on a GPU)",
    )
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument(
        "--time-budget", type=float, default=20.0, help="seconds of timed calls"
    )
    parser.add_argument(
        "--timeout", type=float, default=900.0, help="seconds per configuration"
    )
    parser.add_argument("--output-dir", default=RESULTS)
    parser.add_argument("--no-save", action="store_true")
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="print the tables and redraw the plot from the saved JSON",
    )
    # Internal: run one configuration.
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--method", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--length", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)

    json_path = os.path.join(args.output_dir, "sliding_window.json")
    png_path = os.path.join(args.output_dir, "sliding_window.png")
    if args.report_only:
        with open(json_path) as f:
            results = json.load(f)
        for backend, summary in results["backends"].items():
            print(markdown(backend, summary) + "\n")
        plot(results, png_path)
        return 0

    backends = BACKENDS if args.backend == "all" else (args.backend,)
    config = {
        "window": args.window,
        "batch": args.batch,
        "heads": args.heads,
        "head_dim": args.head_dim,
        "causal": True,
        "dtype": args.dtype,
    }
    results = {"config": config, "backends": {}}
    if os.path.exists(json_path) and not args.no_save:
        with open(json_path) as f:
            previous = json.load(f)
        if previous.get("config") == config:
            results["backends"] = previous.get("backends", {})
    results["machine"] = {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "mem_available_mb_at_start": _mem_available_mb(),
        "python": platform.python_version(),
    }
    for backend in backends:
        summary = run_backend(args, backend)
        summary["lengths"] = args.lengths
        summary["date"] = time.strftime("%Y-%m-%d %H:%M:%S")
        results["backends"][backend] = summary
        print()
        print(markdown(backend, summary), flush=True)
    if not args.no_save:
        os.makedirs(args.output_dir, exist_ok=True)
        with open(json_path, "w") as f:
            json.dump(results, f, indent=2)
        plot(results, png_path)
        print(f"\nwrote {json_path} and {png_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
