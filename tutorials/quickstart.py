# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Quick start: what attention buys you
#
# This tutorial trains small Keras models on one toy problem, with and without
# an attention layer from `keras_attention`, and compares them on examples
# they have never seen. It runs unchanged on TensorFlow, JAX and
# PyTorch: pick the backend before starting Python,
#
# ```bash
# KERAS_BACKEND=jax python tutorials/quickstart.py           # a minute or two
# KERAS_BACKEND=torch python tutorials/quickstart.py --quick # well under a minute
# ```
#
# (`KERAS_ATTENTION_QUICK=1` does the same as `--quick`.) On a busy machine,
# PyTorch on CPU trains a model this small much faster single-threaded:
# prefix the command with `OMP_NUM_THREADS=1`.
#
# ## The task: associative recall
#
# Each example is a small "phone book" of 8 *key: value* pairs, written as one
# sequence of 16 symbols `k1 v1 k2 v2 ... k8 v8`, followed by 4 of its keys as
# questions. The model must answer each question with the value stored next to
# that key:
#
# ```
# context:  c h  f a  k k  ...      questions: f k  ->  answers: a k
# ```
#
# There is nothing to memorise across examples: the pairs are random every
# time, so the only way to answer is to *look the key up* in the context. That
# is exactly what attention does. A query (the question) is compared with every
# position of the context (the keys), the comparison scores become weights
# that sum to one, and the answer is read from the weighted average of the
# context (the values). A model without attention has to squeeze the whole
# phone book into one fixed-size vector before it knows which key will be
# asked for.
#
# Keys and values are drawn from the *same* 16 symbols, so a symbol alone does
# not say whether it is a key or a value: only its position does (keys sit at
# even positions, values at odd ones). Attention by itself treats the context
# as an unordered set, so we will also add a positional encoding.

# %%
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # quieter TensorFlow logs

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_attention  # noqa: E402
from keras_attention.plot import get_pyplot  # noqa: E402

QUICK = "--quick" in sys.argv[1:] or os.environ.get(
    "KERAS_ATTENTION_QUICK", ""
).lower() in ("1", "true", "yes")
SEED = 0
NUM_SYMBOLS = 16  # keys and values both come from these symbols
NUM_PAIRS = 8  # key: value pairs per example
NUM_QUERIES = 4  # questions per example
TRAIN_SIZE = 10_240 if QUICK else 20_480  # whole batches of 128
HELDOUT_SIZE = 2_000
EPOCHS = 6 if QUICK else 15
BATCH_SIZE = 128
DIM = 32

print(
    f"keras {keras.__version__}, backend {keras.backend.backend()}, "
    f"keras_attention {keras_attention.__version__}, "
    f"{'quick' if QUICK else 'full'} mode"
)
start_time = time.perf_counter()

# %% [markdown]
# ## Data
#
# Everything is generated with NumPy from a fixed seed: no downloads. Within an
# example the keys are distinct, the values may repeat, and the 4 questions
# are distinct keys of that example. The held-out set comes from the same
# generator; with more than $10^{18}$ possible phone books, its examples are
# (almost surely) not in the training set.

# %%
SYMBOLS = "abcdefghijklmnop"
rng = np.random.default_rng(SEED)


def make_examples(count):
    """Return `(context, questions)` token arrays and the `answers`."""
    # Distinct keys: the first NUM_PAIRS columns of a random permutation.
    keys = np.argsort(rng.random((count, NUM_SYMBOLS)), axis=1)[:, :NUM_PAIRS]
    values = rng.integers(0, NUM_SYMBOLS, size=(count, NUM_PAIRS))
    context = np.stack([keys, values], axis=2).reshape(count, 2 * NUM_PAIRS)
    asked = np.argsort(rng.random((count, NUM_PAIRS)), axis=1)[:, :NUM_QUERIES]
    questions = np.take_along_axis(keys, asked, axis=1)
    answers = np.take_along_axis(values, asked, axis=1)
    return [context.astype("int32"), questions.astype("int32")], answers.astype("int32")


def spell(tokens):
    return " ".join(SYMBOLS[t] for t in tokens)


x_train, y_train = make_examples(TRAIN_SIZE)
x_heldout, y_heldout = make_examples(HELDOUT_SIZE)

context, questions = x_train[0][0], x_train[1][0]
pairs = [spell(context[i : i + 2]) for i in range(0, 2 * NUM_PAIRS, 2)]
print("context:  ", "  ".join(pairs))
print("questions:", spell(questions), " ->  answers:", spell(y_train[0]))
print(f"{TRAIN_SIZE} training and {HELDOUT_SIZE} held-out examples")

# %% [markdown]
# ## The model
#
# Both inputs share one `Embedding`. On the context side:
#
# 1. `SinusoidalPositionalEncoding(mode="add")` adds the fixed sin/cos encoding
#    of each position to its embedding, so later layers can tell even (key)
#    from odd (value) positions.
# 2. A `Conv1D` with a window of 2 (`padding="causal"`) lets each position see
#    its left neighbour: the vector at a value's position now holds both the
#    value *and* the key stored with it.
#
# Each question goes through a `Dense` layer and becomes an attention query.
# `AdditiveAttention` (Bahdanau) scores each query against every context
# position with a small network, $v^\top \tanh(W_q q + W_k k)$, turns the
# scores into weights with a softmax, and returns the weighted average of the
# context vectors: one vector per question, which a small `Dense` head turns
# into logits over the 16 symbols.
#
# The attention layer takes `(query, value)` like `keras.layers.Attention`:
# here `query` is `(batch, 4, 32)` and `value` is `(batch, 16, 32)`, and the
# output is aligned with the queries, `(batch, 4, 32)`. With
# `return_attention_scores=True` it also returns the `(batch, 4, 16)` weights;
# we keep them in a second model that shares all layers, to look inside later.
#
# The baseline is the same model with the attention layer replaced by a
# fixed-size summary of the context (`Flatten` then `Dense`), repeated for
# each question: every question sees the same vector.


# %%
def build_model(use_attention=True, use_positions=True):
    context = keras.Input(shape=(2 * NUM_PAIRS,), dtype="int32", name="context")
    questions = keras.Input(shape=(NUM_QUERIES,), dtype="int32", name="questions")
    # Embeddings start on a scale not too far below the positional encoding
    # (values in [-1, 1]): with Keras' default (uniform in +-0.05) the position
    # drowns the symbol at first and training takes longer to take off.
    embed = keras.layers.Embedding(
        NUM_SYMBOLS,
        DIM,
        embeddings_initializer=keras.initializers.RandomNormal(stddev=0.3),
    )

    x = embed(context)
    if use_positions:
        x = keras_attention.SinusoidalPositionalEncoding(mode="add")(x)
    x = keras.layers.Conv1D(DIM, 2, padding="causal", activation="relu")(x)

    query = keras.layers.Dense(DIM, activation="relu")(embed(questions))
    weights = None
    if use_attention:
        attention = keras_attention.AdditiveAttention(units=DIM, name="attention")
        looked_up, weights = attention(query, x, return_attention_scores=True)
    else:
        summary = keras.layers.Dense(4 * DIM, activation="relu")(
            keras.layers.Flatten()(x)
        )
        summary = keras.layers.Dense(DIM)(summary)
        looked_up = keras.layers.RepeatVector(NUM_QUERIES)(summary)

    h = keras.layers.Concatenate()([looked_up, query])
    h = keras.layers.Dense(2 * DIM, activation="relu")(h)
    logits = keras.layers.Dense(NUM_SYMBOLS, name="logits")(h)

    model = keras.Model([context, questions], logits)
    model.compile(
        optimizer=keras.optimizers.Adam(5e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        # XLA on TensorFlow and JAX; PyTorch keeps its default (eager).
        jit_compile=keras.backend.backend() != "torch",
    )
    inspector = None
    if weights is not None:
        inspector = keras.Model([context, questions], weights)
    return model, inspector


# %% [markdown]
# ## Training
#
# `keras.utils.set_random_seed` fixes Python, NumPy and backend seeds, so a run
# is reproducible on a given backend (the backends draw different initial
# weights, so their numbers differ a little). The held-out set is only used
# at the end. Watch the attention model's `accuracy`: it sits near chance for
# a while, then jumps once the model has learned *where* to look.
#
# In full mode we also train the attention model without the positional
# encoding, to check that it is really needed.

# %%
variants = {"attention": {"use_attention": True}}
if not QUICK:
    variants["attention, no PE"] = {"use_attention": True, "use_positions": False}
variants["no attention"] = {"use_attention": False}

trained = {}
for name, options in variants.items():
    print(f"--- {name}")
    keras.utils.set_random_seed(SEED)
    model, inspector = build_model(**options)
    tic = time.perf_counter()
    model.fit(x_train, y_train, batch_size=BATCH_SIZE, epochs=EPOCHS, verbose=2)
    trained[name] = model, inspector, time.perf_counter() - tic

# %% [markdown]
# ## Results
#
# Two numbers per model on the held-out set: *token accuracy* (the fraction of
# questions answered correctly) and *exact match* (the fraction of examples
# whose 4 answers are all correct). Guessing gives 1/16 token accuracy.


# %%
def evaluate(model):
    logits = model.predict(x_heldout, batch_size=500, verbose=0)
    correct = np.argmax(logits, axis=-1) == y_heldout
    return float(correct.mean()), float(correct.all(axis=1).mean())


scores = {name: evaluate(model) for name, (model, _, _) in trained.items()}

print()
print(f"{'model':<18} {'params':>7} {'token acc':>10} {'exact match':>12} {'time':>7}")
for name, (model, _, seconds) in trained.items():
    token, exact = scores[name]
    print(
        f"{name:<18} {model.count_params():>7,} {token:>10.3f} {exact:>12.3f} "
        f"{seconds:>6.1f}s"
    )
print(f"{'chance':<18} {'':>7} {1 / NUM_SYMBOLS:>10.3f}")
print()

# %% [markdown]
# The model with attention answers (nearly) every question; the same model
# with a fixed-size summary instead stays far below, even though it has more
# parameters. Attention spends its capacity on *how to look things up*, not on
# memorising the phone book.
#
# ## Looking inside
#
# The `inspector` model returns the attention weights. For a held-out example,
# each question should put almost all of its weight on one position: the value
# right after the matching key (thanks to the causal `Conv1D`, that position's
# vector holds the key *and* the value).

# %%
attention_model, inspector, _ = trained["attention"]
example = 0
context, questions = x_heldout[0][example], x_heldout[1][example]
one_example = [x_heldout[0][example : example + 1], x_heldout[1][example : example + 1]]
# Calling a model directly runs it once, eagerly: handy for a single example.
weights = keras.ops.convert_to_numpy(inspector(one_example))[0]
logits = keras.ops.convert_to_numpy(attention_model(one_example))[0]
predicted = np.argmax(logits, axis=-1)
for row, question in enumerate(questions):
    top = int(np.argmax(weights[row]))
    pair = context[top - top % 2 : top - top % 2 + 2]
    print(
        f"question {SYMBOLS[question]}: weight {weights[row, top]:.2f} on position "
        f"{top}, the {'value' if top % 2 else 'key'} of pair '{spell(pair)}'; "
        f"answer {SYMBOLS[predicted[row]]} (true {SYMBOLS[y_heldout[example, row]]})"
    )

# %% [markdown]
# The same weights as a heatmap. The figure is written to the path in the
# `KERAS_ATTENTION_FIGURE` environment variable, or to a new temporary folder.

# %%
# Agg in a script (files, no window), the notebook's backend in a notebook.
plt = get_pyplot()
if plt is None:
    print("matplotlib is not installed: skipping the heatmap")
else:
    figure_path = os.environ.get("KERAS_ATTENTION_FIGURE") or os.path.join(
        tempfile.mkdtemp(prefix="keras_attention_"), "attention.png"
    )
    fig, ax = plt.subplots(figsize=(7, 2.6))
    image = ax.imshow(weights, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(context)), [SYMBOLS[t] for t in context])
    ax.set_yticks(range(len(questions)), [f"{SYMBOLS[q]}?" for q in questions])
    for boundary in np.arange(1.5, len(context) - 1, 2):  # between pairs
        ax.axvline(boundary, color="white", linewidth=0.5)
    ax.set_xlabel("context (key value key value ...)")
    ax.set_ylabel("question")
    ax.set_title("AdditiveAttention weights on a held-out example")
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    fig.savefig(figure_path, dpi=100)
    print(f"attention heatmap written to {figure_path}")

# %% [markdown]
# ## Where to go next
#
# - Run the full mode (no `--quick`) to see the third row of the table: the
#   attention model built with `use_positions=False`. Without the positional
#   encoding it cannot tell a key from a value with the same symbol, and it
#   stalls around 85% token accuracy.
# - Swap in `keras_attention.MultiplicativeAttention(score="general")` (Luong)
#   or `score="scaled_dot"`, which has no weights of its own.
# - Phone books of different sizes: reserve token 0 for padding and tell the
#   attention which context positions are real. `Embedding(mask_zero=True)`
#   makes a Keras mask that the attention layers pick up by themselves, but
#   `Conv1D` does not carry masks, so after it pass the mask explicitly:
#   `attention(query, x, value_mask=context != 0)`. Padded positions then get
#   exactly zero weight.
#
# The last line is for scripts and CI: the attention model's held-out token
# accuracy.

# %%
print(f"total time {time.perf_counter() - start_time:.1f}s")
print(f"RESULT heldout_token_accuracy={scores['attention'][0]:.4f}")
