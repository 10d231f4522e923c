"""The German number-word tokenizer: compounds into sub-words and back."""

import numpy as np
import pytest

from keras_attention import datasets

pytest.importorskip("num2words")


def test_german_subword_split_round_trips():
    rng = np.random.default_rng(0)
    values = list(range(1000)) + rng.integers(0, 1_000_000, 1000).tolist()
    morphemes = set(datasets.number_words.GERMAN_NUMBER_MORPHEMES)
    for n in values:
        text = datasets.number_to_words(n, "de")
        tokens = datasets.split_german_number_words(text)
        assert set(tokens) <= morphemes, (n, tokens)
        assert datasets.join_german_number_words(tokens) == text
    assert datasets.split_german_number_words("siebenundneunzig") == [
        "sieben",
        "und",
        "neunzig",
    ]
    assert datasets.split_german_number_words("einhunderteintausendsiebzehn") == [
        "ein",
        "hundert",
        "ein",
        "tausend",
        "siebzehn",
    ]


def test_german_split_rejects_other_words():
    with pytest.raises(ValueError, match="morphemes"):
        datasets.split_german_number_words("eine Million")
