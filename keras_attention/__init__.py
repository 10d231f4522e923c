"""keras-attention: attention layers for Keras 3 on TensorFlow, JAX and PyTorch.

This module is the one place that lists what users import.
"""

from keras_attention import core, datasets, decoding
from keras_attention.layers.additive import AdditiveAttention, BahdanauAttention
from keras_attention.layers.alibi import AlibiBias
from keras_attention.layers.embedding import TokenAndPositionEmbedding
from keras_attention.layers.local import LocalAttention
from keras_attention.layers.multi_head import MultiHeadAttention
from keras_attention.layers.multiplicative import (
    LuongAttention,
    MultiplicativeAttention,
)
from keras_attention.layers.positional import (
    LearnedPositionalEmbedding,
    SinusoidalPositionalEncoding,
)
from keras_attention.layers.recurrent import AttentionDecoder, AttentionWrapper
from keras_attention.layers.rotary import RotaryEmbedding
from keras_attention.layers.self_attention import SelfAttention
from keras_attention.layers.transformer import (
    TransformerDecoder,
    TransformerDecoderBlock,
    TransformerEncoder,
    TransformerEncoderBlock,
)
from keras_attention.version import __version__

__all__ = [
    "AdditiveAttention",
    "AlibiBias",
    "AttentionDecoder",
    "AttentionWrapper",
    "BahdanauAttention",
    "LearnedPositionalEmbedding",
    "LocalAttention",
    "LuongAttention",
    "MultiHeadAttention",
    "MultiplicativeAttention",
    "RotaryEmbedding",
    "SelfAttention",
    "SinusoidalPositionalEncoding",
    "TokenAndPositionEmbedding",
    "TransformerDecoder",
    "TransformerDecoderBlock",
    "TransformerEncoder",
    "TransformerEncoderBlock",
    "__version__",
    "core",
    "datasets",
    "decoding",
]
