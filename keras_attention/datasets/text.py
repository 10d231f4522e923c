"""Shared text utilities: preprocessing, tokenizers, vocabularies, padding, splits.

Everything here is plain Python and NumPy, so it behaves the same on every
Keras backend and is deterministic given a seed. The utilities live in one
module per concept and are re-exported here:

- `tokenizers`: `preprocess_sentence`, `tokenize_words`, `detokenize_words`,
  the character tokenizer and `get_tokenizer`;
- `vocabulary`: the reserved tokens and `Vocabulary`;
- `pairs`: `make_splits`, `TranslationData` and `encode_pairs`.
"""

from keras_attention.datasets.pairs import TranslationData, encode_pairs, make_splits
from keras_attention.datasets.tokenizers import (
    detokenize_characters,
    detokenize_words,
    get_tokenizer,
    preprocess_sentence,
    tokenize_characters,
    tokenize_words,
)
from keras_attention.datasets.vocabulary import (
    END,
    END_ID,
    PAD,
    PAD_ID,
    RESERVED_TOKENS,
    START,
    START_ID,
    UNK,
    UNK_ID,
    Vocabulary,
)

__all__ = [
    "END",
    "END_ID",
    "PAD",
    "PAD_ID",
    "RESERVED_TOKENS",
    "START",
    "START_ID",
    "UNK",
    "UNK_ID",
    "TranslationData",
    "Vocabulary",
    "detokenize_characters",
    "detokenize_words",
    "encode_pairs",
    "get_tokenizer",
    "make_splits",
    "preprocess_sentence",
    "tokenize_characters",
    "tokenize_words",
]
