"""Docstring text that several layers share, written once.

A line of a class docstring that holds only `{{name}}` stands for
`SECTIONS[name]`, indented as the marker is. `fill_docstring` fills the
markers in when the class is defined, so `help()`, `__doc__` and the
docstring tests read the whole text; the docs' griffe extension
(`docs/api/griffe_call_arguments.py`) loads this file on its own and fills
them the same way for the API reference, which griffe reads from the source.

This module imports nothing but `re`, so that the extension can load it
without Keras.
"""

import re

# What the classic cross-attention layers do with padding.
_INERT_PADDING = """\
Padding is inert: whatever a masked key, value or query position holds
(NaN, inf, garbage), it is replaced by zeros before scoring, so it never
reaches an unmasked output or a gradient. Masks are boolean or integer
0/1; a float mask raises a `TypeError` (an additive mask, 0 = attend and
-inf = block, is an `attention_bias`)."""

# Constructor arguments of the classic cross-attention layers (their dropout
# and query chunking).
_DROPOUT_ARGUMENTS = """\
dropout (float): fraction of the attention weights to drop during
    training.
seed (int | None): seed of that dropout.
query_chunk_size (int | None): process queries in chunks of this size to
    bound memory (`None`: all at once)."""

# Call arguments of the classic cross-attention layers after `query_mask`
# (`AdditiveAttention`, `MultiplicativeAttention`).
_MASK_ARGUMENTS = """\
value_mask (Tensor | None): optional boolean `(batch, Tv)`; filled from
    the value's Keras mask.
key_mask (Tensor | None): optional boolean `(batch, Tv)`; combined with
    `value_mask`.
attention_mask (Tensor | None): optional boolean or 0/1 integer
    `(Tq, Tv)` or `(batch, Tq, Tv)`, `True` = may attend. Float masks
    are refused.
attention_bias (Tensor | None): optional float `(Tq, Tv)` or
    `(batch, Tq, Tv)` (any axis may be 1), added to the scores in
    float32 before the softmax: relative-position biases, or additive
    masks (`-inf` blocks a key like a `False` in `attention_mask`; a
    fully blocked row gets zeros).
use_causal_mask (bool): if `True`, query `i` only attends to keys
    `<= i`.
return_attention_scores (bool): also return the attention weights.
training (bool | None): whether dropout is active."""

# Their Returns section.
_ATTENTION_RETURNS = """\
Returns:
    The attention output `(batch, Tq, dv)` (or `(batch, dv)`), and the
    weights `(batch, Tq, Tv)` (or `(batch, Tv)`) when
    `return_attention_scores=True`."""

# Constructor arguments of `TransformerEncoder` and `TransformerDecoder`.
_TRANSFORMER_ARGUMENTS = """\
intermediate_dim (int): size of the feed-forward hidden layer.
num_heads (int): number of attention heads.
key_dim (int | None): size of each head (default: hidden size /
    `num_heads`).
dropout (float): dropout rate on attention weights and residual
    branches.
activation (str | Callable): activation of the feed-forward hidden
    layer.
layer_norm_epsilon (float): epsilon of the layer normalisations.
normalize_first (bool): pre-norm (`True`, as GPT-2) or post-norm
    (`False`, as Vaswani et al.); keras-hub's name. The former
    spelling `norm_first` still works, with a `DeprecationWarning`.
num_key_value_heads (int | None): grouped-query attention in
    self-attention.
window (int | None): sliding-window size of self-attention.
position_embedding (str | None): `None`, `"rope"` or `"alibi"` in
    self-attention.
kernel_initializer (str | keras.initializers.Initializer): initializer
    of all kernels.
bias_initializer (str | keras.initializers.Initializer): initializer of
    all biases.
seed (int | None): seed of the dropout layers (each dropout gets its
    own seed derived from it).
**kwargs (Any): base layer arguments (`name`, `dtype`, ...)."""

SECTIONS = {
    "inert_padding": _INERT_PADDING,
    "dropout_arguments": _DROPOUT_ARGUMENTS,
    "mask_arguments": _MASK_ARGUMENTS,
    "attention_returns": _ATTENTION_RETURNS,
    "transformer_arguments": _TRANSFORMER_ARGUMENTS,
}

_MARKER = re.compile(r"^(?P<indent>[ \t]*)\{\{(?P<name>\w+)\}\}[ \t]*$", re.MULTILINE)


def fill(text):
    """`text` with every `{{name}}` line replaced by its indented section.

    Raises:
        KeyError: a marker names no section of `SECTIONS`.
    """

    def section(match):
        indent = match["indent"]
        lines = SECTIONS[match["name"]].split("\n")
        return "\n".join(indent + line if line else line for line in lines)

    return _MARKER.sub(section, text)


def fill_docstring(cls):
    """Class decorator: fill the `{{name}}` markers of `cls.__doc__`."""
    if cls.__doc__:
        cls.__doc__ = fill(cls.__doc__)
    return cls
