# %% [markdown]
# # Benchmarks
#
# Every number on this page is read from the JSON files in
# `benchmarks/results/` when the page is built: nothing is copied by hand.
# They are written by the scripts of `benchmarks/` (see its README for how
# to rerun them); each file records its machine, dtype and shapes, printed
# above each table.

# %%
import json
import pathlib

from keras_attention.plot import get_pyplot

plt = get_pyplot()


def find_results():
    """benchmarks/results of the source tree, above this page or the cwd."""
    here = globals().get("__file__")  # unset when run as a notebook
    starts = [pathlib.Path.cwd()] + ([pathlib.Path(here).resolve()] if here else [])
    for start in starts:
        for folder in (start, *start.parents):
            candidate = folder / "benchmarks" / "results"
            if candidate.is_dir():
                return candidate
    raise FileNotFoundError("benchmarks/results not found above this page")


RESULTS = find_results()


def table(rows, columns):
    """A fixed-width text table of `rows` (dicts) on `columns`."""
    cells = [[str(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += [
        "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells
    ]
    return "\n".join(lines)


# %% [markdown]
# ## MultiHeadAttention against `keras.layers.MultiHeadAttention`
#
# The same arguments and weights in both layers; forward and
# forward+backward times per backend and compilation mode (`xla`: TensorFlow
# with `jit_compile`, `jit`: JAX, `eager`). `ratio` is our time over Keras':
# below 1 is faster.

# %%
runs = [
    json.loads(path.read_text()) for path in sorted(RESULTS.glob("multi_head*.json"))
]
# The newest run that measured the `mha` part.
mha = max(
    (run for run in runs if any(row["part"] == "mha" for row in run["rows"])),
    key=lambda run: run["date"],
)
settings = mha["settings"]
print(f"run of {mha['date'][:10]}, machine: {mha['machine']}")
print(
    f"shapes: batch {settings['batch']}, length {settings['length']}, "
    f"dim {settings['dim']}, heads {settings['heads']}, dtype {settings['dtype']}, "
    f"median of {settings['repeats']} calls"
)
rows = [r for r in mha["rows"] if r["part"] == "mha"]
print(table(rows, ["backend", "mode", "mask", "pass", "keras_ms", "ours_ms", "ratio"]))
assert rows and all(r["ratio"] > 0 for r in rows)

# %%
labels = [
    f"{r['backend']}\n{r['mode']}\n{r['pass'].replace('forward', 'fw')}" for r in rows
]
figure, ax = plt.subplots(figsize=(max(6, 0.7 * len(rows)), 3.5))
ax.bar(range(len(rows)), [r["ratio"] for r in rows])
ax.axhline(1.0, color="black", linewidth=0.8)
ax.set_xticks(range(len(rows)), labels, fontsize=7)
ax.set(ylabel="ours / Keras (time)", title="MultiHeadAttention: time ratio to Keras")
figure.tight_layout()

# %% [markdown]
# ## Sliding-window attention against full attention
#
# `MultiHeadAttention(window=w)` runs the blocked `O(T·w)` form on long
# sequences; the reference is full attention with a band mask.
# `time_ratio` and `memory_ratio` are full attention's time and peak memory
# over the window's: how many times faster and smaller the window is.

# %%
window = json.loads((RESULTS / "sliding_window.json").read_text())
print(f"machine: {window['machine']}")
print(f"settings: {window['config']}")
figure, ax = plt.subplots(figsize=(7, 4))
for backend, result in window["backends"].items():
    rows = result["rows"]
    for method, style in (("windowed", "-"), ("full", ":")):
        points = [
            (r["length"], r[method]["time_s"])
            for r in rows
            if isinstance(r.get(method), dict) and r[method].get("time_s")
        ]
        if points:
            ax.plot(
                *zip(*points, strict=True),
                style,
                marker="o",
                label=f"{backend} {method}",
            )
    print(backend)
    print(
        table(
            [
                {
                    "length": r["length"],
                    "time_ratio": round(r["time_ratio"], 2),
                    "memory_ratio": round(r["memory_ratio"], 2),
                }
                for r in rows
            ],
            ["length", "time_ratio", "memory_ratio"],
        )
    )
ax.set(
    xscale="log",
    yscale="log",
    xlabel="sequence length T",
    ylabel="seconds per call",
    title="sliding window (solid) against full attention (dotted)",
)
ax.legend(fontsize=7)
figure.tight_layout()

# %% [markdown]
# ## Cached generation against recomputing
#
# Greedy generation of a small GPT (`TransformerDecoder` blocks) through
# `keras_attention.decoding.greedy_search`, with the KV cache against
# recomputing the prefix at every step; `ratio` is how many times faster the
# cache is, and `same_tokens` checks that both decode the same sequence.

# %%
generation = max(
    (run for run in runs if any(row["part"] == "generate" for row in run["rows"])),
    key=lambda run: run["date"],
)
settings = generation["settings"]
print(
    f"run of {generation['date'][:10]}: {settings['generate']} tokens, "
    f"{settings['gpt_layers']} blocks of width {settings['dim']}, "
    f"vocabulary {settings['vocab']}, {settings['dtype']}"
)
rows = [r for r in generation["rows"] if r["part"] == "generate"]
print(
    table(
        rows,
        [
            "backend",
            "mode",
            "batch",
            "recompute",
            "cached_ms",
            "recompute_ms",
            "ratio",
            "same_tokens",
        ],
    )
)
assert all(r["same_tokens"] for r in rows)
