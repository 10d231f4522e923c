"""Number words from num2words: the German "einstausend" correction and the range."""

import numpy as np
import pytest

from keras_attention import datasets
from keras_attention.datasets import number_spelling

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


def test_number_spelling_has_no_module_level_num2words_import():
    assert not hasattr(number_spelling, "num2words")
