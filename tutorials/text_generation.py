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
# # Text generation with a tiny GPT
#
# This tutorial trains a small decoder-only Transformer (a "GPT", Radford et
# al., 2018) to continue counting in English words,
#
# ```
# forty - one , forty - two , forty - three ,   ->   forty - four , forty - five , ...
# ```
#
# then generates text with it one token at a time through a key/value cache
# (`keras_attention.decoding`), checks that the cache gives the same tokens
# as recomputing the whole prefix at every step (and how much time it
# saves), samples with temperature, top-k and top-p, and looks at what one
# attention head reads. Everything is built from `keras` and
# `keras_attention` and runs unchanged on TensorFlow, JAX and PyTorch; pick
# the backend before starting Python:
#
# ```bash
# KERAS_BACKEND=jax python tutorials/text_generation.py            # full
# KERAS_BACKEND=torch python tutorials/text_generation.py --quick  # small
# ```
#
# (`KERAS_ATTENTION_QUICK=1` does the same as `--quick`.) Quick mode takes
# under a minute on a laptop CPU, full mode a few minutes. On a busy machine,
# PyTorch on CPU trains a model this small faster single-threaded: prefix
# the command with `OMP_NUM_THREADS=1`.
#
# The text is generated offline with the `num2words` package
# (`pip install "keras3-attention[datasets]"`): nothing is downloaded.

# %%
import argparse
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # quieter TensorFlow logs

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402
from num2words import num2words  # noqa: E402

import keras_attention  # noqa: E402
from keras_attention.decoding import greedy_search, sample  # noqa: E402
from keras_attention.plot import get_pyplot, plot_attention  # noqa: E402

parser = argparse.ArgumentParser(description="Counting in words with a tiny GPT.")
parser.add_argument("--quick", action="store_true", help="the small, fast setting")
# parse_known_args: in a notebook, sys.argv holds the kernel's own arguments.
args, _ = parser.parse_known_args()

QUICK = args.quick or os.environ.get("KERAS_ATTENTION_QUICK", "").lower() in (
    "1",
    "true",
    "yes",
)
BACKEND = keras.backend.backend()
SEED = 0
LARGEST = 999  # we count from one to nine hundred and ninety-nine
RUN = 6  # numbers per training sequence
CONTINUE = 3  # numbers to generate after each held-out prompt
TEST_SIZE = 100  # held-out prompts
TRAIN_SIZE = 3_200 if QUICK else 8_000  # training sequences per epoch
EPOCHS = 5 if QUICK else 12
BATCH_SIZE = 32
LEARNING_RATE = 3e-3
DIM = 64  # the width of every token vector
NUM_HEADS = 4
FFN_DIM = 128  # the hidden layer of each block's feed-forward network
NUM_LAYERS = 2

print(
    f"keras {keras.__version__}, backend {BACKEND}, "
    f"keras_attention {keras_attention.__version__}, "
    f"{'quick' if QUICK else 'full'} mode"
)
start_time = time.perf_counter()

# %% [markdown]
# ## Data
#
# A training sequence is a run of `RUN` consecutive numbers written as words,
# each followed by a comma, after a `<start>` token:
#
# ```
# <start> forty - one , forty - two , forty - three , ...
# ```
#
# **Tokens.** We split the text into words, and hyphenated numbers into
# their parts (`"forty-one"` is `forty - one`). The vocabulary is then the 19
# words for 1 to 19, the 8 tens, `hundred`, `and`, `-` and the comma: 30
# words, plus `<pad>` (id 0) and `<start>`. Keeping `forty-one` whole would
# need 72 more words, each of which the model would have to learn the
# successor of separately; split, counting is a few rules over few words
# (copy the hundreds and the tens of the previous number, step the units,
# carry when the units were `nine`), and every rule is seen in thousands of
# places. The comma tells where one number ends, which makes the output easy
# to check.
#
# **Held-out prompts.** We draw `TEST_SIZE` start numbers `s` for
# evaluation; a prompt is `<start>` and 2 or 3 consecutive numbers from `s`
# (each with its comma), and the model must write the next `CONTINUE`
# numbers. No training sequence contains a whole held-out window (prompt and
# continuation): training runs that would are left out. The *numbers* of the
# windows do appear in other training runs, since every number is in some
# run; what is held out is the exact sequence the model is asked to continue.
#
# There are fewer than a thousand distinct runs of `RUN` numbers below 1000,
# so the `TRAIN_SIZE` sequences of an epoch repeat each run several times.


# %%
def words(n):
    """The tokens of one number: `41 -> ['forty', '-', 'one']`."""
    return num2words(n).replace("-", " - ").split()


WORDS = sorted({w for n in range(1, LARGEST + 1) for w in words(n)} | {","})
VOCAB = ["<pad>", "<start>"] + WORDS
TOKEN_ID = {token: i for i, token in enumerate(VOCAB)}
PAD, START, COMMA = 0, TOKEN_ID["<start>"], TOKEN_ID[","]
NUMBER_IDS = {n: [TOKEN_ID[w] for w in words(n)] for n in range(1, LARGEST + 1)}
MAX_NUMBER_TOKENS = max(len(ids) for ids in NUMBER_IDS.values()) + 1  # + comma


def encode(first, count):
    """`<start>` then `count` numbers from `first`, each followed by a comma."""
    ids = [START]
    for n in range(first, first + count):
        ids += NUMBER_IDS[n] + [COMMA]
    return ids


def decode(ids):
    return " ".join(VOCAB[i] for i in ids if i != PAD)


rng = np.random.default_rng(SEED)
test_starts = rng.choice(LARGEST - (3 + CONTINUE) + 1, TEST_SIZE, replace=False) + 1
prompt_counts = rng.integers(2, 4, TEST_SIZE)  # 2 or 3 numbers in the prompt
# Leave out every training run that holds a whole held-out window.
allowed = np.ones(LARGEST + 1, dtype=bool)
allowed[0] = False
allowed[LARGEST - RUN + 2 :] = False  # runs end at LARGEST at the latest
for s, p in zip(test_starts, prompt_counts, strict=True):
    last = s + p + CONTINUE - 1  # the window is s..last
    allowed[max(last - RUN + 1, 0) : s + 1] = False
train_starts = rng.choice(np.flatnonzero(allowed), TRAIN_SIZE)

sequences = [encode(s, RUN) for s in train_starts]
SEQUENCE_LENGTH = max(len(ids) for ids in sequences)
train = np.zeros((TRAIN_SIZE, SEQUENCE_LENGTH), dtype="int32")
for row, ids in zip(train, sequences, strict=True):
    row[: len(ids)] = ids
x_train, y_train = train[:, :-1], train[:, 1:]  # predict the next token

print(f"vocabulary: {len(VOCAB)} tokens")
print(f"{allowed.sum()} distinct training runs, {TRAIN_SIZE} drawn per epoch")
print(f"tokens per training sequence: at most {SEQUENCE_LENGTH}")
print("one training sequence:")
print(" ", decode(train[0]))
print("  input ", x_train[0, :10].tolist(), "...")
print("  target", y_train[0, :10].tolist(), "...")

# %% [markdown]
# ## The model
#
# **Causal self-attention.** A GPT block lets every position attend to
# itself and the positions before it, never after: the *causal mask*. With
# queries $Q$, keys $K$ and values $V$ (one row per position, $d$ the head
# width),
#
# $$\mathrm{Attention}(Q, K, V) = \mathrm{softmax}\!\left(
# \frac{QK^\top}{\sqrt{d}} + M\right) V, \qquad
# M_{ij} = \begin{cases} 0 & j \le i \\ -\infty & j > i \end{cases}$$
#
# so position $i$'s output depends on tokens $1..i$ only. Trained to predict
# token $i+1$ at every position $i$, the model learns all the next-token
# predictions of a sequence in one pass, and none of them can peek at the
# answer. The same mask is what makes generation with a cache possible: the
# keys and values of earlier positions never change when tokens are added.
#
# **Blocks.** `TransformerDecoder` without an encoder sequence is a GPT
# block: causal self-attention and a feed-forward network, each in a
# residual branch. `normalize_first=True` puts the layer normalisation before
# each branch (pre-norm, as GPT-2), which trains stably without a careful
# warm-up; a final `LayerNormalization` then normalises the last block's
# output before the `Dense` layer that gives the logits over the vocabulary.
#
# **Positions: RoPE.** Attention alone is blind to order. Instead of adding
# a position vector to each token (`TokenAndPositionEmbedding`), we let the
# attention layers rotate queries and keys by an angle proportional to their
# position (`position_embedding="rope"`, Su et al., 2021): the score between
# positions $i$ and $j$ then depends on $i - j$ only. That suits counting,
# where the next token is read a few positions back, in the previous number,
# wherever the sequence is; and for generation with a cache nothing more is
# needed: the layer rotates each new key by its cache position.

# %%
keras.utils.set_random_seed(SEED)  # same initial weights on every run
embedding = keras.layers.Embedding(len(VOCAB), DIM, name="token_embedding")
blocks = [
    keras_attention.TransformerDecoder(
        FFN_DIM,
        NUM_HEADS,
        normalize_first=True,
        position_embedding="rope",
        activation="gelu",
        name=f"block_{i}",
    )
    for i in range(NUM_LAYERS)
]
final_norm = keras.layers.LayerNormalization(epsilon=1e-5, name="final_norm")
output_layer = keras.layers.Dense(len(VOCAB), name="logits")

token_ids = keras.Input(shape=(None,), dtype="int32", name="tokens")
x = embedding(token_ids)
for block in blocks:
    x = block(x)  # causal self-attention (the default), then the FFN
logits = output_layer(final_norm(x))
model = keras.Model(token_ids, logits, name="tiny_gpt")
for layer in model.layers:
    if layer.count_params():
        print(f"{layer.name:<16} {type(layer).__name__:<24} {layer.count_params():>7,}")
print(f"{'total':<41} {model.count_params():>7,}")

# %% [markdown]
# ## Training
#
# Next-token prediction: the cross-entropy of each target token given the
# logits, padding left out (`ignore_class=0`). The learning rate warms up for
# the first 5% of the steps, then follows a cosine down to almost zero. The
# training graph is compiled with XLA on TensorFlow and JAX; PyTorch runs
# eagerly.

# %%
steps = EPOCHS * -(-TRAIN_SIZE // BATCH_SIZE)
schedule = keras.optimizers.schedules.CosineDecay(
    0.0,
    decay_steps=steps,
    alpha=0.01,
    warmup_target=LEARNING_RATE,
    warmup_steps=steps // 20,
)
model.compile(
    optimizer=keras.optimizers.Adam(schedule),
    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=0),
    jit_compile=BACKEND != "torch",
)
tic = time.perf_counter()
history = model.fit(
    x_train, y_train, batch_size=BATCH_SIZE, epochs=EPOCHS, shuffle=True, verbose=2
)
train_seconds = time.perf_counter() - tic
print(f"trained in {train_seconds:.0f}s")

# %% [markdown]
# ## Generating with a key/value cache
#
# `keras_attention.decoding` writes one token at a time, in a
# `keras.ops.while_loop` (the same code on every backend), over a *step
# function* `step(tokens, state, index) -> (logits, new_state)` that we write
# for our model. `tokens` holds the previous token of every sequence and
# `index` its position:
#
# - the state holds one key/value cache per block, shaped
#   `(batch, 2, max_length, heads, head_dim)` and zero to start. At step
#   `index` a block computes the key and value of the *new* token only,
#   writes them at `index` (`self_attention_cache_update_index`) and attends
#   over the cache, where the causal mask hides the positions not written
#   yet. No step recomputes an earlier position.
# - The prompt is fed through the same step, one token per step (the
#   *prefill*): while `index + 1` is inside the prompt, the step replaces the
#   model's logits by logits that force the next prompt token, so the search
#   writes the prompt and fills the cache on the way. Prompts of different
#   lengths share one batch; each row switches to the model's own
#   predictions where its prompt ends.
#
# `greedy_search` then keeps the most probable token at each step.

# %%
HEAD_DIM = DIM // NUM_HEADS  # the blocks' default head width
PROMPT_LENGTH = 1 + 3 * MAX_NUMBER_TOKENS  # <start> and three numbers at most
GENERATE = CONTINUE * MAX_NUMBER_TOKENS  # enough tokens for CONTINUE numbers
MAX_LENGTH = PROMPT_LENGTH - 1 + GENERATE  # steps: the longest prompt, then more
VOCAB_SIZE = len(VOCAB)


def prompt_batch(starts, counts):
    """Prompts `(batch, PROMPT_LENGTH)`, 0-padded, and their lengths."""
    prompts = np.zeros((len(starts), PROMPT_LENGTH), dtype="int32")
    lengths = np.zeros(len(starts), dtype="int32")
    for row, (s, p) in enumerate(zip(starts, counts, strict=True)):
        ids = encode(s, p)
        prompts[row, : len(ids)] = ids
        lengths[row] = len(ids)
    return prompts, lengths


def force_prompt(logits, state, index):
    """Where the next position is inside the prompt, force the prompt token."""
    next_index = ops.minimum(index + 1, PROMPT_LENGTH - 1)
    prompt_token = ops.take(state["prompt"], next_index, axis=1)
    forced = (ops.one_hot(prompt_token, VOCAB_SIZE) - 1.0) * 1e9  # 0 or -1e9
    in_prompt = ops.expand_dims(ops.less(index + 1, state["prompt_length"]), 1)
    return ops.where(in_prompt, forced, logits)


def cached_step(tokens, state, index):
    x = embedding(ops.expand_dims(tokens, 1))  # (batch, 1, DIM): one new token
    caches = []
    for block, cache in zip(blocks, state["caches"], strict=True):
        x, cache = block(
            x, self_attention_cache=cache, self_attention_cache_update_index=index
        )
        caches.append(cache)
    logits = output_layer(final_norm(x))[:, 0]  # (batch, vocabulary)
    return force_prompt(logits, state, index), {**state, "caches": caches}


def cached_state(prompts, lengths):
    batch = len(prompts)
    return {
        "prompt": ops.convert_to_tensor(prompts),
        "prompt_length": ops.convert_to_tensor(lengths),
        "caches": [
            ops.zeros((batch, 2, MAX_LENGTH, NUM_HEADS, HEAD_DIM)) for _ in blocks
        ],
    }


def generate(prompts, lengths, step=cached_step, state_fn=cached_state, **sampling):
    """Token ids `(batch, MAX_LENGTH)`: the prompt after `<start>`, then the
    generated tokens; greedy, or `sample(**sampling)` if options are given.
    """
    start = ops.convert_to_tensor(prompts[:, 0])
    state = state_fn(prompts, lengths)
    if sampling:
        tokens, _ = sample(step, start, state, MAX_LENGTH, **sampling)
    else:
        tokens, _ = greedy_search(step, start, state, MAX_LENGTH)
    return ops.convert_to_numpy(tokens)


def continuation(row, prompt_length):
    """The generated part of one row of `generate`'s output."""
    return row[prompt_length - 1 :]


def split_numbers(ids):
    """The numbers (token lists) of a continuation, each ended by a comma."""
    numbers, current = [], []
    for i in ids:
        if i == COMMA:
            numbers.append(current)
            current = []
        else:
            current.append(int(i))
    return numbers  # an unfinished last number is dropped


test_prompts, test_lengths = prompt_batch(test_starts, prompt_counts)
tic = time.perf_counter()
generated = generate(test_prompts, test_lengths)
greedy_seconds = time.perf_counter() - tic  # the first call: tracing included

right = np.zeros((TEST_SIZE, CONTINUE), dtype=bool)
for row, (s, p) in enumerate(zip(test_starts, prompt_counts, strict=True)):
    numbers = split_numbers(continuation(generated[row], test_lengths[row]))
    for k in range(CONTINUE):
        expected = NUMBER_IDS.get(s + p + k)
        right[row, k] = k < len(numbers) and numbers[k] == expected
accuracy = float(right.mean())

for row in range(3):
    prompt_text = decode(test_prompts[row, 1 : test_lengths[row]])
    generated_text = decode(continuation(generated[row], test_lengths[row]))
    print(f"{prompt_text}\n  -> {generated_text}")
print(f"continuation accuracy {accuracy:.3f} ({right.sum()} of {right.size} numbers)")

# %% [markdown]
# ## The cache against recomputing
#
# Without a cache, every step runs the whole model over the whole prefix
# again: `recompute_step` writes the new token into a buffer of
# `MAX_LENGTH` tokens and runs the full causal model over it, reading the
# logits at `index` (the positions after it hold padding, which the causal
# mask keeps out of position `index`). A compiled loop needs that fixed
# shape; the work per step grows with the whole buffer instead of one token.
# Both must give the same tokens. We time each a second time, after a first
# call that pays for tracing and compilation.


# %%
def recompute_step(tokens, state, index):
    buffer = ops.slice_update(state["buffer"], [0, index], ops.expand_dims(tokens, 1))
    x = embedding(buffer)
    for block in blocks:
        x = block(x)
    logits = output_layer(final_norm(ops.take(x, index, axis=1)))
    return force_prompt(logits, state, index), {**state, "buffer": buffer}


def recompute_state(prompts, lengths):
    return {
        "prompt": ops.convert_to_tensor(prompts),
        "prompt_length": ops.convert_to_tensor(lengths),
        "buffer": ops.zeros((len(prompts), MAX_LENGTH), "int32"),
    }


timings = {}
outputs = {}
for name, step, state_fn in [
    ("cached", cached_step, cached_state),
    ("recomputed", recompute_step, recompute_state),
]:
    generate(test_prompts, test_lengths, step, state_fn)  # warm-up
    tic = time.perf_counter()
    outputs[name] = generate(test_prompts, test_lengths, step, state_fn)
    timings[name] = time.perf_counter() - tic
same_tokens = bool(np.array_equal(outputs["cached"], outputs["recomputed"]))
print(f"cached and recomputed generation give the same tokens: {same_tokens}")
print(
    f"{TEST_SIZE} sequences x {MAX_LENGTH} steps: cached {timings['cached']:.2f}s, "
    f"recomputed {timings['recomputed']:.2f}s"
)

# %% [markdown]
# The cache does a constant amount of work per step; recomputing does work
# proportional to the buffer length (attention over every position, and the
# feed-forward networks of every position again). With sequences this short
# and a model this small, the arithmetic is cheap and fixed costs dominate
# both timings: on eager PyTorch and TensorFlow, every layer call of every
# step goes through Python; on JAX, each call of the search traces and
# compiles its `while_loop` again (inside `jax.jit` the compiled loop is
# reused and runs in a few milliseconds). The ratio printed here is a
# measurement of this setting, not of the cache in general: its advantage
# grows with the model width, the number of layers and, above all, the
# sequence length.
#
# ## Sampling
#
# Greedy search always takes the most probable token. `sample` draws the next
# token from the model's distribution instead, reshaped by three knobs:
#
# - `temperature` divides the logits: below 1 it sharpens the distribution
#   (towards greedy), above 1 it flattens it (more surprising choices);
# - `top_k` keeps only the `k` most probable tokens;
# - `top_p` keeps the smallest set of most probable tokens whose total
#   probability reaches `p` (nucleus sampling), so the number of candidates
#   adapts to how sure the model is.
#
# With an int `seed`, each call draws the same tokens. On a task with one
# right answer, a well-trained model is so sure of it that moderate settings
# still count correctly; a high temperature lets the rare mistakes through.

# %%
few = slice(0, 3)
settings = {
    "temperature=0.8": {"temperature": 0.8},
    "temperature=2.0": {"temperature": 2.0},
    "top_k=3": {"top_k": 3},
    "top_p=0.9": {"top_p": 0.9},
    "temperature=2.0, top_k=2": {"temperature": 2.0, "top_k": 2},
}
for name, options in settings.items():
    sampled = generate(test_prompts[few], test_lengths[few], seed=SEED, **options)
    print(f"--- {name}")
    for row, tokens in enumerate(sampled):
        print("   ", decode(continuation(tokens, test_lengths[row])))

# %% [markdown]
# ## Results

# %%
ratio = timings["recomputed"] / timings["cached"]
print()
print(f"{'result':<30} {'value':>8}")
print(f"{'continuation accuracy':<30} {accuracy:>8.3f}")
print(f"{'all numbers right':<30} {right.all(axis=1).mean():>8.3f}")
print(f"{'greedy, first call':<30} {greedy_seconds:>7.2f}s")
print(f"{'greedy, cached':<30} {timings['cached']:>7.2f}s")
print(f"{'greedy, recomputed':<30} {timings['recomputed']:>7.2f}s")
print(f"{'recomputed / cached':<30} {ratio:>8.2f}")
print(f"{'training':<30} {train_seconds:>7.1f}s")
print(
    f"({TEST_SIZE} held-out prompts, {CONTINUE} numbers each, "
    f"{model.count_params():,} parameters)"
)

# %% [markdown]
# ## What one head reads
#
# Called with `return_attention_scores=True`, a block also returns the
# weights of every head, `{"self_attention": (batch, heads, length,
# length)}`. We run the model over one held-out prompt and its greedy
# continuation, and draw the head of the last block whose weights are the
# most concentrated: each row is a position, and shows where that position
# looked while predicting the *next* token. The upper triangle is empty: the
# causal mask.


# %%
def self_attention_weights(ids):
    """The last block's self-attention weights, `(heads, length, length)`."""
    x = embedding(ops.convert_to_tensor(ids[None]))
    for block in blocks[:-1]:
        x = block(x)
    _, scores = blocks[-1](x, return_attention_scores=True)
    return ops.convert_to_numpy(scores["self_attention"])[0]


example = 0
ids = np.concatenate([[START], generated[example]])
commas = np.flatnonzero(ids == COMMA)
ids = ids[: commas[min(len(commas), prompt_counts[example] + CONTINUE) - 1] + 1]
weights = self_attention_weights(ids)
head = int(np.argmax(weights.max(axis=-1).mean(axis=-1)))  # the sharpest head
tokens = [VOCAB[i] for i in ids]
print(f"sequence: {decode(ids)}")
print(f"self-attention weights {weights.shape} (heads, query, key); head {head + 1}:")
for query in range(len(tokens) - 6, len(tokens)):
    key = int(weights[head, query].argmax())
    print(
        f"  {tokens[query]!r:>10} at {query:>2} looks at {tokens[key]!r} at {key} "
        f"({weights[head, query, key]:.2f})"
    )

# %% [markdown]
# The figure is written to the path in the `KERAS_ATTENTION_FIGURE`
# environment variable, or to a new temporary folder.

# %%
# Agg in a script (files, no window), the notebook's backend in a notebook.
plt = get_pyplot()
if plt is None:
    print("matplotlib is not installed: skipping the heatmap")
else:
    figure_path = os.environ.get("KERAS_ATTENTION_FIGURE") or os.path.join(
        tempfile.mkdtemp(prefix="keras_attention_"), "self_attention.png"
    )
    fig, ax = plt.subplots(figsize=(8, 7))
    plot_attention(
        weights[head],
        tokens,
        tokens,
        ax=ax,
        vmax=1.0,
        colorbar=True,
        title=f"Last block, head {head + 1} ({BACKEND})",
    )
    ax.set_xlabel("key position (attended to)")
    ax.set_ylabel("query position (predicting the next token)")
    fig.tight_layout()
    fig.savefig(figure_path, dpi=90)
    print(f"attention heatmap written to {figure_path}")

# %% [markdown]
# In our runs the sharpest head of the last block reads the *previous*
# number. Most clearly at the `-` before a units word: that position, which
# must predict the units, looks at the units word of the previous number
# (`five` while writing `six`), the word it has to step. In other rows it
# looks at the word of the previous number that has to be copied next, or
# at `<start>` when nothing needs reading. The details differ between
# backends (their initial weights differ) and between heads.
#
# ## Where to go next
#
# - `TransformerDecoder(..., num_key_value_heads=1)` shares one
#   key/value head among the query heads (multi-query attention): the cache
#   (shaped in `cached_state`) gets 4 times smaller.
# - `window=16` gives each block sliding-window attention: counting only
#   needs the current and the previous number, at most 14 tokens.
# - Prefill the whole prompt in one call instead of one token per step:
#   call each block on the prompt with the cache and
#   `self_attention_cache_update_index=0`, then start the search at the
#   prompt's end.
# - Beam search (`keras_attention.decoding.beam_search`, see the Transformer
#   translation tutorial) takes the same step function.
#
# The last line is for scripts and CI: the continuation accuracy of greedy
# decoding on the held-out prompts.

# %%
print(f"total time {time.perf_counter() - start_time:.1f}s")
print(f"RESULT continuation_accuracy={accuracy:.4f}")
