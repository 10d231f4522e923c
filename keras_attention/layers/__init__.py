"""Every public layer, as `keras_attention.layers.X` (as in `keras.layers`).

The same objects as `keras_attention.X`. They are imported on first access,
so that importing one layer module (which imports this package first) does
not import every other one.
"""

import importlib

# {public name: module under keras_attention.layers that defines it}
_LAYERS = {
    "AdditiveAttention": "additive",
    "AlibiBias": "alibi",
    "AttentionDecoder": "recurrent",
    "AttentionWrapper": "recurrent",
    "BahdanauAttention": "additive",
    "LearnedPositionalEmbedding": "positional",
    "LocalAttention": "local",
    "LuongAttention": "multiplicative",
    "MultiHeadAttention": "multi_head",
    "MultiplicativeAttention": "multiplicative",
    "RotaryEmbedding": "rotary",
    "SelfAttention": "self_attention",
    "SinusoidalPositionalEncoding": "positional",
    "TokenAndPositionEmbedding": "embedding",
    "TransformerDecoder": "transformer",
    "TransformerDecoderBlock": "transformer",
    "TransformerEncoder": "transformer",
    "TransformerEncoderBlock": "transformer",
}

__all__ = sorted(_LAYERS)


def __getattr__(name):
    module = _LAYERS.get(name)
    if module is None:
        raise AttributeError(
            f"module 'keras_attention.layers' has no attribute {name!r}"
        )
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later accesses skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
