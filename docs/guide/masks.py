# %% [markdown]
# # Masks in pictures
#
# The [masking page](masking.md) states the rules; this one draws them. Every
# picture is a `(queries, keys)` grid: a dark cell is a key the query may
# attend to. All masks here are built with `keras_attention.core`, the
# functions every layer calls.

# %%
import numpy as np
from keras import ops

import keras_attention
from keras_attention import core
from keras_attention.plot import get_pyplot

plt = get_pyplot()


def show(axes, masks, titles):
    for ax, mask, title in zip(axes, masks, titles, strict=True):
        ax.imshow(ops.convert_to_numpy(mask), cmap="Blues", vmin=0, vmax=1.2)
        ax.set(title=title, xlabel="key", ylabel="query")
        ax.set_xticks([])
        ax.set_yticks([])


# %% [markdown]
# ## Padding, causal, window
#
# - **padding**: a `(batch, T)` mask (from `Embedding(mask_zero=True)`) blocks
#   the padded keys; padded queries get a zero output.
# - **causal** (`use_causal_mask=True`): query `i` sees keys `j <= i`,
#   aligned top-left when `Tq != Tk`, as in Keras. Cached decoding offsets
#   it by the position of the first query.
# - **window** (`window=w`): with a causal mask, the `w` most recent keys;
#   without, the keys within `w` steps on either side.
#
# They combine with a logical AND.

# %%
T = 8
value_mask = np.array([[True] * 6 + [False] * 2])  # the last two keys are padding
padding = core.padding_mask(None, value_mask)[0] & np.ones((T, T), bool)
causal = core.causal_mask(T, T)
window = core.band_mask(T, T, left=2, right=0)  # causal window of 3
symmetric = core.band_mask(T, T, left=2, right=2)  # window=2, not causal
combined = core.combine_masks(padding, window)
figure, axes = plt.subplots(1, 5, figsize=(15, 3.2))
show(
    axes,
    [padding, causal, window, symmetric, combined],
    ["padding (2 keys)", "causal", "causal window=3", "window=2", "padding AND window"],
)
figure.tight_layout()

assert ops.convert_to_numpy(causal).sum() == T * (T + 1) // 2
assert ops.convert_to_numpy(window).sum(axis=1).max() == 3

# %% [markdown]
# Causal masks with different lengths: top-left aligned (Keras' convention,
# and ours with `use_causal_mask=True`), and offset for cached decoding
# (three new queries after five cached keys).

# %%
figure, axes = plt.subplots(1, 2, figsize=(7, 3))
show(
    axes,
    [core.causal_mask(3, 8), core.causal_mask(3, 8, offset=5)],
    ["Tq=3, Tk=8, top-left", "offset=5 (cached decoding)"],
)
figure.tight_layout()

# %% [markdown]
# ## Biases
#
# An additive bias (`attention_bias`) is added to the float32 scores: `-inf`
# blocks a key like `False` in a mask, a finite value reweights it. ALiBi's
# per-head bias is one (`position_embedding="alibi"`).

# %%
keep = ops.convert_to_numpy(causal)
as_bias = np.where(keep, 0.0, -np.inf)
alibi = ops.convert_to_numpy(core.alibi_bias(1, T, T))[0, 0]
figure, axes = plt.subplots(1, 2, figsize=(7, 3))
axes[0].imshow(np.where(np.isinf(as_bias), -1.0, as_bias), cmap="Blues_r")
axes[0].set(title="as a bias: white 0, dark -inf", xlabel="key", ylabel="query")
axes[1].imshow(np.where(keep, alibi, np.nan), cmap="magma")
axes[1].set(title="ALiBi bias, one head", xlabel="key", ylabel="query")
figure.tight_layout()

# %% [markdown]
# ## Conventions side by side
#
# | | Keras 3 layers | PyTorch `scaled_dot_product_attention` / `nn.MultiheadAttention` | keras-attention |
# | --- | --- | --- | --- |
# | boolean mask | `True` = attend | `attn_mask`: `True` = attend; `key_padding_mask`: `True` = **ignore** | `True` = attend (every argument) |
# | float mask | expects boolean | added to the scores (`0` attend, `-inf` block) | refused with a `TypeError`; pass it as `attention_bias` |
# | causal | `use_causal_mask=True`, top-left | `is_causal=True`, top-left | `use_causal_mask=True`, top-left; offset in cached decoding |
# | fully masked row | uniform weights over the masked keys | NaN | **zero weights, zero output** |
# | padded query | output computed from whatever it holds | same | zero output |
# | NaN in a padded key/value | reaches the output (`0 * NaN`) | same | never reaches an unmasked output or gradient |
#
# A fully masked row — every key blocked — has no good answer; zeros are the
# one that cannot poison what comes after:

# %%
x = np.random.default_rng(0).normal(size=(1, 4, 8)).astype("float32")
mask = np.ones((1, 4, 4), bool)
mask[0, 2] = False  # query 2 may see no key
mha = keras_attention.MultiHeadAttention(num_heads=1, key_dim=8, use_bias=False)
_, weights = mha(x, x, attention_mask=mask, return_attention_scores=True)
weights = ops.convert_to_numpy(weights)[0, 0]
assert np.all(weights[2] == 0) and np.allclose(weights[[0, 1, 3]].sum(-1), 1)
figure, ax = plt.subplots(figsize=(3.2, 3))
ax.imshow(weights, cmap="viridis")
ax.set(title="weights: row 2 fully masked", xlabel="key", ylabel="query")
figure.tight_layout()
