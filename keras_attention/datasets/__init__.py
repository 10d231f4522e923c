"""Translation corpora and text utilities for the seq2seq tutorials.

Real pairs: `load_anki_pairs` (Tatoeba English-Spanish, downloaded once).
Offline pairs generated from installed packages (the `datasets` extra,
`pip install "keras3-attention[datasets]"`): `numbers` and `number_lists`
(English -> German number words, `num2words`) and `dates` (dates between
locales, `babel`). Then `make_splits`, `Vocabulary` and `encode_pairs` turn
pairs into padded int32 arrays for an encoder-decoder model;
`translation_task` does the splitting and the vocabularies of the tutorials'
task in one call.

This module imports neither `num2words` nor `babel`; they load on first use.
"""

from keras_attention.datasets.anki import anki_url, load_anki_pairs, read_anki_file
from keras_attention.datasets.dates import dates, format_date
from keras_attention.datasets.german_numbers import (
    join_german_number_words,
    split_german_number_words,
)
from keras_attention.datasets.number_spelling import (
    fix_german_number_words,
    number_to_words,
)
from keras_attention.datasets.number_words import (
    number_lists,
    number_pairs,
    numbers,
    sample_numbers,
)
from keras_attention.datasets.pairs import TranslationData, encode_pairs, make_splits
from keras_attention.datasets.prose import (
    CORPORA,
    SHAKESPEARE_URL,
    CharVocabulary,
    clean_text,
    load_prose,
    next_char_windows,
    pydoc_topics_text,
    split_blocks,
)
from keras_attention.datasets.tasks import (
    TranslationTask,
    translation_task,
)
from keras_attention.datasets.tokenizers import (
    detokenize_words,
    get_tokenizer,
    preprocess_sentence,
    tokenize_words,
)
from keras_attention.datasets.vocabulary import (
    END,
    PAD,
    RESERVED_TOKENS,
    START,
    UNK,
    Vocabulary,
)

__all__ = [
    "CORPORA",
    "END",
    "PAD",
    "RESERVED_TOKENS",
    "SHAKESPEARE_URL",
    "START",
    "UNK",
    "CharVocabulary",
    "TranslationData",
    "TranslationTask",
    "Vocabulary",
    "anki_url",
    "clean_text",
    "dates",
    "detokenize_words",
    "encode_pairs",
    "fix_german_number_words",
    "format_date",
    "get_tokenizer",
    "join_german_number_words",
    "load_anki_pairs",
    "load_prose",
    "make_splits",
    "next_char_windows",
    "number_lists",
    "number_pairs",
    "number_to_words",
    "numbers",
    "preprocess_sentence",
    "pydoc_topics_text",
    "read_anki_file",
    "sample_numbers",
    "split_german_number_words",
    "split_blocks",
    "tokenize_words",
    "translation_task",
]
