"""English -> German number-word corpora, generated offline.

`number_pairs` spells out given numbers (or lists of numbers) in both
languages with `number_to_words` (see `number_spelling` for the `num2words`
grammar and its correction); `sample_numbers` draws numbers balanced by digit
count; `numbers` and `number_lists` build the corpora of single numbers and of
lists of numbers. The German sub-word tokenizer lives in `german_numbers`.
"""

import numpy as np

from keras_attention.datasets.german_numbers import (
    GERMAN_NUMBER_MORPHEMES,
    join_german_number_words,
    split_german_number_words,
)
from keras_attention.datasets.number_spelling import (
    MAX_VALUE,
    check_value,
    fix_german_number_words,
    number_to_words,
)

LIST_SEPARATOR = ", "

__all__ = [
    "GERMAN_NUMBER_MORPHEMES",
    "LIST_SEPARATOR",
    "MAX_VALUE",
    "fix_german_number_words",
    "join_german_number_words",
    "number_lists",
    "number_pairs",
    "number_to_words",
    "numbers",
    "sample_numbers",
    "split_german_number_words",
]


def number_pairs(values, separator=LIST_SEPARATOR):
    """English -> German pairs for the given numbers (or lists of numbers).

    Args:
        values (Iterable[int | Sequence[int]]): an iterable whose items are integers in
            0..999,999 or sequences of them (a list becomes one pair, its numbers joined
            by `separator`).
        separator (str): what joins the numbers of a list, in both languages.

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
        num_examples (int): how many numbers, at most `max_value + 1`.
        max_value (int): the largest number, at most 999,999.
        seed (int): the random seed.
        always_include (int): the numbers `0..always_include - 1` are all drawn
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
    max_value = check_value(_check_count("max_value", max_value, minimum=0), MAX_VALUE)
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
        num_examples (int): how many pairs.
        max_value (int): the largest number, at most 999,999 (German number words
            stop being single words at a million).
        seed (int): the random seed; the same seed gives the same pairs.

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
        num_examples (int): how many pairs.
        max_numbers (int): the longest list.
        max_value (int): the largest number in a list, at most 999,999.
        seed (int): the random seed; the same seed gives the same pairs.
        min_numbers (int): the shortest list.
        balance_digits (bool): whether each digit count is equally likely (`True`)
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
    max_value = check_value(_check_count("max_value", max_value, minimum=0), MAX_VALUE)
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
