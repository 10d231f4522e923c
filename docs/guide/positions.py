# %% [markdown]
# # Positional encodings
#
# Attention is permutation-equivariant: shuffle the keys and values together
# and every output is unchanged. Word order reaches the model only through a
# positional scheme. keras-attention has four, in two families:
#
# | scheme | where | what it adds | extrapolates past the trained length |
# | --- | --- | --- | --- |
# | sinusoidal (Vaswani et al., 2017) | [`SinusoidalPositionalEncoding`][keras_attention.SinusoidalPositionalEncoding], [`TokenAndPositionEmbedding(position_embedding="sinusoidal")`][keras_attention.TokenAndPositionEmbedding] | a fixed vector per position, added to the inputs | defined at any position, but the model has not seen them |
# | learned (BERT, GPT-2) | [`LearnedPositionalEmbedding`][keras_attention.LearnedPositionalEmbedding], `TokenAndPositionEmbedding()` | a trained vector per position, added to the inputs | no: `sequence_length` rows only |
# | RoPE (Su et al., 2021) | [`MultiHeadAttention(position_embedding="rope")`][keras_attention.MultiHeadAttention], [`RotaryEmbedding`][keras_attention.RotaryEmbedding], [`rotate_half`][keras_attention.core.rotate_half] | rotates queries and keys; scores depend on `i - j` | partly (with `rope_max_wavelength` / position scaling) |
# | ALiBi (Press et al., 2022) | `MultiHeadAttention(position_embedding="alibi")`, [`AlibiBias`][keras_attention.AlibiBias], [`alibi_bias`][keras_attention.core.alibi_bias] | a bias `-m_h * (i - j)` on the scores, one slope per head | yes, by design |
#
# The first two change the inputs of the first layer; RoPE and ALiBi act
# inside every attention layer and need no weights. This page draws each.

# %%
import numpy as np
from keras import ops

import keras_attention
from keras_attention import core
from keras_attention.plot import get_pyplot

plt = get_pyplot()

# %% [markdown]
# ## Sinusoidal
#
# Position $p$, feature pair $i$ of $d$:
# $\mathrm{PE}(p, 2i) = \sin(p / 10000^{2i/d})$,
# $\mathrm{PE}(p, 2i+1) = \cos(p / 10000^{2i/d})$ — fast waves in the first
# features, slow ones in the last, so nearby positions get similar vectors.

# %%
length, dim = 64, 32
x = np.zeros((1, length, dim), "float32")
encoding = ops.convert_to_numpy(keras_attention.SinusoidalPositionalEncoding()(x))[0]
assert encoding.shape == (length, dim) and np.abs(encoding).max() <= 1.0

similarity = encoding @ encoding.T
figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
left.imshow(encoding.T, aspect="auto", cmap="RdBu")
left.set(title="sinusoidal encoding", xlabel="position", ylabel="feature")
right.imshow(similarity, cmap="viridis")
right.set(title="dot product between positions", xlabel="position", ylabel="position")
figure.tight_layout()

# %% [markdown]
# The dot product between two positions' encodings falls off with their
# distance, whatever the absolute position: the band of the right panel.

# %% [markdown]
# ## Learned
#
# A table of `sequence_length` trainable vectors. Before training it is
# noise (its initializer); training shapes it. It cannot encode a position
# past `sequence_length`: the layer raises a `ValueError` instead of
# silently wrapping around.

# %%
learned = keras_attention.LearnedPositionalEmbedding(sequence_length=length)
table = ops.convert_to_numpy(learned(x))[0]
assert table.shape == (length, dim)
try:
    learned(np.zeros((1, length + 1, dim), "float32"))
except ValueError as error:
    print(next(line for line in str(error).splitlines() if "sequence_length" in line))

# %% [markdown]
# ## RoPE
#
# Rotary embeddings rotate each feature pair of a query or key at position
# $p$ by the angle $p\,\theta_i$. A rotated query and key then have a dot
# product that depends only on their distance $m - n$: the same two vectors
# placed at (3, 0) or (40, 37) score the same.

# %%
rng = np.random.default_rng(0)
q = rng.normal(size=(1, 1, 1, dim)).astype("float32")  # (batch, T, heads, d)
k = rng.normal(size=(1, 1, 1, dim)).astype("float32")


def rope_score(query_position, key_position):
    rq = core.rotate_half(q, np.array([query_position], "int32"))
    rk = core.rotate_half(k, np.array([key_position], "int32"))
    return float(ops.sum(rq * rk))


np.testing.assert_allclose(rope_score(3, 0), rope_score(40, 37), rtol=1e-4)
distances = np.arange(-48, 49)
scores = [rope_score(48 + d, 48) for d in distances]
figure, ax = plt.subplots(figsize=(7, 3))
ax.plot(distances, scores)
ax.set(
    title="RoPE: q·k of two fixed vectors against their distance",
    xlabel="query position − key position",
    ylabel="score",
)
figure.tight_layout()

# %% [markdown]
# ## ALiBi
#
# ALiBi adds $-m_h\,(i - j)$ to the scores of head $h$, with slopes
# $m_h = 2^{-8h/H}$: a head with a steep slope looks at the last few keys, a
# head with a gentle one far back. There are no weights, and a longer
# sequence only extends the same straight lines.

# %%
heads = 4
bias = ops.convert_to_numpy(core.alibi_bias(heads, 12, 12, causal=True))[0]
slopes = np.asarray(core.alibi_slopes(heads))
np.testing.assert_allclose(bias[:, 5, 2], -slopes * 3, rtol=1e-6)
figure, axes = plt.subplots(1, heads, figsize=(12, 3))
for h, ax in enumerate(axes):
    ax.imshow(np.where(np.tril(np.ones((12, 12), bool)), bias[h], np.nan), cmap="magma")
    ax.set(title=f"head {h}: slope {slopes[h]:.3g}", xlabel="key", ylabel="query")
figure.tight_layout()

# %% [markdown]
# In a layer: `MultiHeadAttention(num_heads=4, key_dim=8,
# position_embedding="alibi")` (or `"rope"`) adds the scheme to every call,
# cached decoding included (the positions come from `cache_update_index`).

# %%
mha = keras_attention.MultiHeadAttention(
    num_heads=4, key_dim=8, position_embedding="rope"
)
h = rng.normal(size=(2, 10, 32)).astype("float32")
assert mha(h, h, use_causal_mask=True).shape == (2, 10, 32)
