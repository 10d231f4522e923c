"""English -> German number-word corpora: sampling by digit count, lists,
determinism, and the names `number_words` re-exports."""

import collections

import pytest

from keras_attention import datasets
from keras_attention.datasets import german_numbers, number_spelling, number_words

pytest.importorskip("num2words")


def test_list_pairs_round_trip_with_their_tokenizers():
    pairs = datasets.number_lists(300, max_numbers=6, max_value=999_999, seed=3)
    for english, german in pairs:
        tokens = datasets.split_german_number_words(german)
        assert datasets.join_german_number_words(tokens) == german
        words = datasets.tokenize_words(english)
        assert datasets.detokenize_words(words) == english
        assert english.count(",") == german.count(",")  # commas only separate
    assert datasets.tokenize_words("ninety-seven") == ["ninety", "-", "seven"]


def test_digit_count_balance_and_small_numbers_included():
    values = datasets.sample_numbers(6000, seed=1)
    assert len(set(values.tolist())) == 6000
    assert set(range(100)) <= set(values.tolist())
    digits = collections.Counter(len(str(v)) for v in values.tolist())
    assert digits[1] == 10 and digits[2] == 90
    # all 900 three-digit numbers, then the rest shared evenly
    assert [digits[d] for d in (3, 4, 5, 6)] == [900, 1666, 1667, 1667]
    # Too few examples for all of 0..99: still balanced by digit count.
    small = collections.Counter(
        len(str(v)) for v in datasets.sample_numbers(60, seed=1).tolist()
    )
    assert small == {1: 10, 2: 10, 3: 10, 4: 10, 5: 10, 6: 10}


def test_numbers_are_deterministic_and_distinct():
    a = datasets.numbers(200, seed=5)
    assert a == datasets.numbers(200, seed=5)
    assert a != datasets.numbers(200, seed=6)
    assert len({s for s, _ in a}) == 200
    assert datasets.number_pairs([0, 97]) == [
        ("zero", "null"),
        ("ninety-seven", "siebenundneunzig"),
    ]


def test_list_lengths_spread():
    pairs = datasets.number_lists(1200, max_numbers=6, max_value=999, seed=0)
    assert pairs == datasets.number_lists(1200, max_numbers=6, max_value=999, seed=0)
    assert len(set(pairs)) == len(pairs)
    lengths = collections.Counter(len(g.split(", ")) for _, g in pairs)
    assert sorted(lengths) == [1, 2, 3, 4, 5, 6]
    # about 200 each; fewer single numbers, as repeats are redrawn
    assert min(lengths.values()) > 100
    assert min(lengths[k] for k in range(2, 7)) > 150
    assert all(0 <= len(g.split(", ")) <= 6 for _, g in pairs)
    short = datasets.number_lists(50, max_numbers=3, min_numbers=2, seed=0)
    assert {len(g.split(", ")) for _, g in short} == {2, 3}


def test_list_digit_balance_option():
    def three_digit_share(balance):
        pairs = datasets.number_lists(400, seed=0, balance_digits=balance)
        counts = collections.Counter(
            "hundert" in w for _, g in pairs for w in g.split(", ")
        )
        return counts[True] / sum(counts.values())

    assert 0.25 < three_digit_share(True) < 0.42
    assert three_digit_share(False) > 0.85


def test_too_many_lists_raises():
    with pytest.raises(ValueError, match="distinct"):
        datasets.number_lists(20, max_numbers=1, max_value=9)


def test_number_words_has_no_module_level_num2words_import():
    assert not hasattr(number_words, "num2words")


def test_number_words_re_exports_the_grammar_and_the_tokenizer():
    for module in (number_spelling, german_numbers):
        for name in number_words.__all__:
            if hasattr(module, name):
                assert getattr(number_words, name) is getattr(module, name), name
    assert number_words.MAX_VALUE == 999_999
    assert number_words.LIST_SEPARATOR == ", "
