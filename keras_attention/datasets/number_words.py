"""Number words, English to German, generated offline with `num2words`.

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
import re

import numpy as np

from keras_attention.datasets.text import detokenize_words

MAX_VALUE = 999_999
LIST_SEPARATOR = ", "

_INSTALL_HINT = (
    'The number-word corpora need `num2words`: pip install "keras3-attention[datasets]"'
)


def _num2words():
    try:
        from num2words import num2words
    except ImportError as error:  # pragma: no cover - depends on what is installed
        raise ImportError(_INSTALL_HINT) from error
    return num2words


def fix_german_number_words(text):
    """Corrects num2words' German "...einstausend" to "...eintausend".

    Args:
        text: German number words from `num2words(n, lang="de")`.

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


def _check_value(n, max_value=MAX_VALUE):
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
        n: an integer in [0, 999999].
        lang: `"en"` or `"de"`.

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
    n = _check_value(n)
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


# German number morphemes below a million. Teens and tens are whole tokens;
# greedy longest match splits every compound (e.g. "achtzehn" stays whole,
# "achtundachtzig" is "acht und achtzig").
GERMAN_NUMBER_MORPHEMES = (
    "null",
    "ein",
    "eins",
    "zwei",
    "drei",
    "vier",
    "fünf",
    "sechs",
    "sieben",
    "acht",
    "neun",
    "zehn",
    "elf",
    "zwölf",
    "dreizehn",
    "vierzehn",
    "fünfzehn",
    "sechzehn",
    "siebzehn",
    "achtzehn",
    "neunzehn",
    "zwanzig",
    "dreißig",
    "vierzig",
    "fünfzig",
    "sechzig",
    "siebzig",
    "achtzig",
    "neunzig",
    "hundert",
    "tausend",
    "und",
)
_MORPHEME = re.compile("|".join(sorted(GERMAN_NUMBER_MORPHEMES, key=len, reverse=True)))
_GERMAN_WORDS = re.compile(r"\w+|[^\w\s]")


def split_german_number_words(text):
    """Splits German number words into sub-word tokens.

    Each compound is cut at its units, teens, tens, "hundert", "tausend"
    and "und"; punctuation (the ", " between the numbers of a list) is a
    token of its own. `join_german_number_words` is the exact inverse.

    Args:
        text: German number words below a million, e.g.
            `"zwölf, neunhundertvier"`. Words must be separated by
            punctuation, not by spaces alone.

    Returns:
        A list of token strings.

    Raises:
        ValueError: if a word is not made of German number morphemes.

    Example:

    ```python
    from keras_attention.datasets import split_german_number_words

    tokens = split_german_number_words("zwölf, neunhundertvier")
    assert tokens == ["zwölf", ",", "neun", "hundert", "vier"]
    ```
    """
    tokens = []
    for word in _GERMAN_WORDS.findall(text):
        if not word[0].isalnum():
            tokens.append(word)
            continue
        parts = _MORPHEME.findall(word)
        if "".join(parts) != word:
            raise ValueError(
                f"{word!r} is not made of German number morphemes "
                f"({', '.join(GERMAN_NUMBER_MORPHEMES)})."
            )
        tokens.extend(parts)
    return tokens


def join_german_number_words(tokens):
    """Joins sub-word tokens back into German number words.

    The inverse of `split_german_number_words`: consecutive sub-words are
    concatenated into one word, and punctuation is spaced as in
    `detokenize_words` (", " between the numbers of a list).

    Args:
        tokens: a sequence of token strings.

    Returns:
        The text, a `str`.

    Example:

    ```python
    from keras_attention.datasets import join_german_number_words

    tokens = ["sieben", "und", "neunzig", ",", "zwei", "tausend"]
    assert join_german_number_words(tokens) == "siebenundneunzig, zweitausend"
    ```
    """
    words = []
    glue = False
    for token in tokens:
        if token and token[0].isalnum():
            if glue:
                words[-1] += token
            else:
                words.append(token)
            glue = True
        else:
            words.append(token)
            glue = False
    return detokenize_words(words)


def number_pairs(values, separator=LIST_SEPARATOR):
    """English -> German pairs for the given numbers (or lists of numbers).

    Args:
        values: an iterable whose items are integers in 0..999,999 or
            sequences of them (a list becomes one pair, its numbers joined
            by `separator`).
        separator: what joins the numbers of a list, in both languages.

    Returns:
        A list of `(english, german)` pairs.

    Example:

    ```python
    from keras_attention.datasets import number_pairs

    assert number_pairs([21]) == [("twenty-one", "einundzwanzig")]
    assert number_pairs([[12, 904]]) == [
        ("twelve, nine hundred and four", "zwölf, neunhundertvier")
    ]
    ```
    """
    pairs = []
    for value in values:
        if isinstance(value, (int, np.integer)):
            pairs.append((number_to_words(value, "en"), number_to_words(value, "de")))
            continue
        english = [number_to_words(v, "en").replace(", ", " ") for v in value]
        german = [number_to_words(v, "de") for v in value]
        pairs.append((separator.join(english), separator.join(german)))
    return pairs


def _digit_buckets(low, high):
    """(start, stop) ranges of the integers in [low, high] with 1, 2, ... digits."""
    buckets = []
    digits = 1
    while True:
        start = 0 if digits == 1 else 10 ** (digits - 1)
        stop = 10**digits  # exclusive
        if start > high:
            return buckets
        start, stop = max(start, low), min(stop, high + 1)
        if start < stop:
            buckets.append((start, stop))
        digits += 1


def _water_fill(total, capacities):
    """Shares `total` as evenly as the capacities allow; extra to the last."""
    allocation = [0] * len(capacities)
    remaining = total
    open_ = [i for i, c in enumerate(capacities) if c > 0]
    while remaining > 0 and open_:
        share = remaining // len(open_)
        if share == 0:
            for i in open_[-remaining:]:
                allocation[i] += 1
            return allocation
        for i in list(open_):
            give = min(share, capacities[i] - allocation[i])
            allocation[i] += give
            remaining -= give
            if allocation[i] == capacities[i]:
                open_.remove(i)
    return allocation


def _check_count(name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"`{name}` must be an integer; received {value!r}.")
    if value < minimum:
        raise ValueError(f"`{name}` must be at least {minimum}; received {value}.")
    return int(value)


def sample_numbers(num_examples, max_value=MAX_VALUE, seed=0, always_include=100):
    """Draws distinct integers in 0..max_value, balanced by digit count.

    Uniform sampling over 0..999,999 would give 90% six-digit numbers.
    Instead every digit count gets the same share, except where it has
    fewer numbers than its share (there are only ten one-digit numbers),
    in which case it is taken whole and the rest is shared among the others.

    Args:
        num_examples: how many numbers, at most `max_value + 1`.
        max_value: the largest number, at most 999,999.
        seed: the random seed.
        always_include: the numbers `0..always_include - 1` are all drawn
            whenever `num_examples` allows it, so that every number word
            below 100 is in the corpus (keep them in training with
            `make_splits(..., keep_in_train=number_pairs(range(100)))`).

    Returns:
        A shuffled int64 NumPy array of `num_examples` distinct numbers.

    Example:

    ```python
    from keras_attention.datasets import sample_numbers

    values = sample_numbers(1000, seed=0)
    assert len(set(values.tolist())) == 1000
    assert set(range(100)) <= set(values.tolist())
    ```
    """
    num_examples = _check_count("num_examples", num_examples)
    max_value = _check_value(_check_count("max_value", max_value, minimum=0), MAX_VALUE)
    always_include = _check_count("always_include", always_include, minimum=0)
    if num_examples > max_value + 1:
        raise ValueError(
            f"Cannot draw {num_examples} distinct numbers from 0..{max_value}."
        )
    rng = np.random.default_rng(seed)
    always = min(always_include, max_value + 1)
    chosen = []
    low = 0
    if always and num_examples >= always:
        chosen.append(np.arange(always))
        low = always
    buckets = _digit_buckets(low, max_value) if low <= max_value else []
    counts = _water_fill(
        num_examples - sum(len(c) for c in chosen),
        [stop - start for start, stop in buckets],
    )
    for (start, stop), count in zip(buckets, counts, strict=True):
        if count:
            chosen.append(start + rng.choice(stop - start, size=count, replace=False))
    values = np.concatenate(chosen).astype("int64")
    return rng.permutation(values)


def numbers(num_examples, max_value=MAX_VALUE, seed=0):
    """English -> German number words for single numbers.

    The numbers are distinct, balanced by digit count (see
    `sample_numbers`) and include every number below 100 once
    `num_examples >= 100`.

    Args:
        num_examples: how many pairs.
        max_value: the largest number, at most 999,999 (German number words
            stop being single words at a million).
        seed: the random seed; the same seed gives the same pairs.

    Returns:
        A list of `(english, german)` pairs, e.g.
        `("one hundred and one thousand", "einhunderteintausend")`.

    Example:

    ```python
    from keras_attention.datasets import numbers

    pairs = numbers(5, seed=0)
    assert len(pairs) == 5 and pairs == numbers(5, seed=0)
    english, german = pairs[0]
    assert isinstance(english, str) and "einstausend" not in german
    ```
    """
    return number_pairs(sample_numbers(num_examples, max_value, seed).tolist())


def number_lists(
    num_examples,
    max_numbers=6,
    max_value=999,
    seed=0,
    min_numbers=1,
    balance_digits=True,
):
    """English -> German number words for lists of numbers.

    Each example is a list of `min_numbers..max_numbers` numbers (the
    length drawn uniformly), each number drawn with a uniform digit count
    and then uniformly among the numbers of that many digits (or uniformly
    in `0..max_value` with `balance_digits=False`), joined by
    ", " in both languages: `("twelve, nine hundred and four",
    "zwölf, neunhundertvier")`. Longer lists carry more information, which
    is what makes attention matter: source length and content grow together.
    The examples are distinct; when short lists run out (there are only
    1,000 lists of one number below 1,000) the draws go to longer ones.

    English number words above 999 contain a comma ("one thousand, two
    hundred"); inside a list that comma is dropped, so that commas only
    separate numbers.

    Args:
        num_examples: how many pairs.
        max_numbers: the longest list.
        max_value: the largest number in a list, at most 999,999.
        seed: the random seed; the same seed gives the same pairs.
        min_numbers: the shortest list.
        balance_digits: whether each digit count is equally likely (`True`)
            or each number (`False`: 90% of 0..999 have three digits).

    Returns:
        A list of `(english, german)` pairs.

    Example:

    ```python
    from keras_attention.datasets import number_lists

    pairs = number_lists(100, max_numbers=6, seed=0)
    assert len(set(pairs)) == 100
    lengths = {len(german.split(", ")) for _, german in pairs}
    assert lengths == {1, 2, 3, 4, 5, 6}
    ```
    """
    num_examples = _check_count("num_examples", num_examples)
    min_numbers = _check_count("min_numbers", min_numbers)
    max_numbers = _check_count("max_numbers", max_numbers, minimum=min_numbers)
    max_value = _check_value(_check_count("max_value", max_value, minimum=0), MAX_VALUE)
    buckets = _digit_buckets(0, max_value)
    if not balance_digits:
        buckets = [(0, max_value + 1)]
    starts = np.array([start for start, _ in buckets])
    sizes = np.array([stop - start for start, stop in buckets])
    capacity = sum((max_value + 1) ** k for k in range(min_numbers, max_numbers + 1))
    if num_examples > capacity:
        raise ValueError(
            f"Cannot draw {num_examples} distinct lists of {min_numbers} to "
            f"{max_numbers} numbers below {max_value + 1}."
        )
    rng = np.random.default_rng(seed)
    seen = set()
    lists = []
    attempts = 0
    while len(lists) < num_examples:
        attempts += 1
        if attempts > 100 * num_examples + 1000:
            raise ValueError(
                f"Could not draw {num_examples} distinct lists; lower "
                "`num_examples` or raise `max_numbers` / `max_value`."
            )
        length = int(rng.integers(min_numbers, max_numbers + 1))
        which = rng.integers(0, len(buckets), size=length)
        values = tuple(int(v) for v in starts[which] + rng.integers(0, sizes[which]))
        if values not in seen:
            seen.add(values)
            lists.append(values)
    return number_pairs(lists)
