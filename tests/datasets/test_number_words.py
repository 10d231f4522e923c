"""English -> German number words: the num2words correction, sub-word tokens,
sampling by digit count, lists, determinism."""

import collections

import numpy as np
import pytest

from keras_attention import datasets
from keras_attention.datasets import number_words

num2words = pytest.importorskip("num2words").num2words


def _wrong_in_num2words(n):
    """The numbers that num2words 0.5.14 spells "...einstausend" in German."""
    thousands = n // 1000
    return thousands > 100 and thousands % 100 == 1


@pytest.mark.parametrize(
    "n, raw, fixed",
    [
        (101_000, "einhunderteinstausend", "einhunderteintausend"),
        (201_000, "zweihunderteinstausend", "zweihunderteintausend"),
        (901_017, "neunhunderteinstausendsiebzehn", "neunhunderteintausendsiebzehn"),
        (1_001, "eintausendeins", "eintausendeins"),
        (21_000, "einundzwanzigtausend", "einundzwanzigtausend"),
        (91_000, "einundneunzigtausend", "einundneunzigtausend"),
        (111_000, "einhundertelftausend", "einhundertelftausend"),
        (100_001, "einhunderttausendeins", "einhunderttausendeins"),
    ],
)
def test_german_einstausend_correction(n, raw, fixed):
    assert num2words(n, lang="de") == raw
    assert datasets.number_to_words(n, "de") == fixed
    assert datasets.fix_german_number_words(raw) == fixed


def test_outputs_match_num2words_except_the_correction():
    rng = np.random.default_rng(7)
    # Every thousands block once (random remainder), plus edge cases.
    sample = [t * 1000 + int(r) for t, r in enumerate(rng.integers(0, 1000, 1000))]
    sample += [0, 1, 99, 100, 101, 999, 1000, 1100, 100_000, 101_001, 999_999]
    wrong = 0
    for n in sample:
        raw_de = num2words(n, lang="de")
        ours_de = datasets.number_to_words(n, "de")
        assert "einstausend" not in ours_de, n
        assert ("einstausend" in raw_de) == _wrong_in_num2words(n), n
        wrong += raw_de != ours_de
        assert ours_de == raw_de.replace("einstausend", "eintausend"), n
        if n % 7 == 0:  # English is slower to check; a seventh of the sample
            assert datasets.number_to_words(n, "en") == num2words(n, lang="en")
    # thousands 101, 201, ..., 901 in the blocks, and the edge case 101_001
    assert wrong == sum(map(_wrong_in_num2words, sample)) == 10


def test_range_is_capped_below_a_million():
    assert num2words(1_000_000, lang="de") == "eine Million"
    with pytest.raises(ValueError, match="999999"):
        datasets.number_to_words(1_000_000, "de")
    with pytest.raises(ValueError):
        datasets.numbers(10, max_value=1_000_000)
    with pytest.raises(TypeError):
        datasets.number_to_words(1.5)


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
