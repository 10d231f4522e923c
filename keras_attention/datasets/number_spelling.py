"""Number words, English and German, from `num2words`: the number grammar.

The words come from the `num2words` package (install the extra with
`pip install "keras3-attention[datasets]"`), with one correction: for the
9,000 numbers below a million whose thousands part ends in "one" (101,000 to
101,999, 201,000 to 201,999, ..., 901,000 to 901,999), `num2words` 0.5.14
writes "...einstausend" in German, e.g. "einhunderteinstausend" for 101,000;
the correct form is "...eintausend" ("einhunderteintausend"). German numbers
are single compound words below a million and switch to separate,
capitalised words from "eine Million" on, so the range stops at 999,999.
"""

import functools

import numpy as np

from keras_attention.datasets._extras import import_extra

MAX_VALUE = 999_999


def _num2words():
    return import_extra("num2words", "number-word").num2words


def fix_german_number_words(text):
    """Corrects num2words' German "...einstausend" to "...eintausend".

    Args:
        text (str): German number words from `num2words(n, lang="de")`.

    Returns:
        The corrected `str` (unchanged when there is nothing to correct).

    Example:

    ```python
    from keras_attention.datasets import fix_german_number_words

    assert fix_german_number_words("einhunderteinstausend") == (
        "einhunderteintausend"
    )
    assert fix_german_number_words("einundzwanzigtausend") == (
        "einundzwanzigtausend"
    )
    ```
    """
    return text.replace("einstausend", "eintausend")


@functools.lru_cache(maxsize=4096)
def _raw_words(n, lang):
    return _num2words()(n, lang=lang)


def check_value(n, max_value=MAX_VALUE):
    """`n` as an `int` if it is an integer in [0, max_value], else raise."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"Numbers must be integers; received {n!r}.")
    if not 0 <= n <= max_value:
        raise ValueError(f"Numbers must be in [0, {max_value}]; received {n}.")
    return int(n)


def number_to_words(n, lang="en"):
    """Spells out an integer in 0..999,999 in English or German.

    English is `num2words(n, lang="en")` ("one hundred and ninety-seven",
    "one thousand, two hundred"); German is `num2words(n, lang="de")` with
    the "...einstausend" correction of `fix_german_number_words`.
    For speed, only the words of 0..999 come from `num2words` (and are
    cached); a larger number is assembled from the words of its thousands
    and of its remainder exactly as `num2words` joins them, which gives
    the same text as `num2words` for every number below a million (checked
    for all of them with num2words 0.5.14; the tests check a sample).

    Args:
        n (int): an integer in [0, 999999].
        lang (str): `"en"` or `"de"`.

    Returns:
        The number words, a `str`.

    Example:

    ```python
    from keras_attention.datasets import number_to_words

    assert number_to_words(97, "en") == "ninety-seven"
    assert number_to_words(97, "de") == "siebenundneunzig"
    assert number_to_words(101_000, "de") == "einhunderteintausend"
    ```
    """
    n = check_value(n)
    if lang not in ("en", "de"):
        raise ValueError(f"`lang` must be 'en' or 'de'; received {lang!r}.")
    thousands, rest = divmod(n, 1000)
    if thousands == 0:
        return _raw_words(rest, lang)
    head = _raw_words(thousands, lang)
    if lang == "de":
        # "eins" becomes "ein" before "tausend": the num2words correction.
        if head.endswith("eins"):
            head = head[:-1]
        head += "tausend"
        return head + _raw_words(rest, lang) if rest else head
    head += " thousand"
    if rest == 0:
        return head
    return head + (" and " if rest < 100 else ", ") + _raw_words(rest, lang)
