"""Dates rewritten between locales and formats, generated offline with `babel`.

The date formats come from the Unicode CLDR data shipped in the `babel`
package (install the extra with `pip install "keras3-attention[datasets]"`):
"January 5, 2021" (English, long) -> "5. Januar 2021" (German, long),
"5 janvier 2021" (French) or "2021-01-05" (ISO 8601).
"""

import datetime

import numpy as np

from keras_attention.datasets._extras import import_extra

FORMATS = ("short", "medium", "long", "full", "iso")


def _babel_dates():
    return import_extra("babel.dates", "date")


def format_date(date, locale="en", format="long"):
    """Writes a date in a locale's format, or as ISO 8601.

    Args:
        date (datetime.date): the date.
        locale (str): a CLDR locale name known to `babel` (`"en"`, `"de"`, `"fr"`,
            `"es"`, `"en_GB"`, ...); ignored for `format="iso"`.
        format (str): `"short"`, `"medium"`, `"long"` or `"full"` (the CLDR
            formats of `babel.dates.format_date`), `"iso"` for `YYYY-MM-DD`,
            or a CLDR pattern such as `"d MMMM y"`.

    Returns:
        The formatted date, a `str`.

    Example:

    ```python
    import datetime

    from keras_attention.datasets import format_date

    day = datetime.date(2021, 1, 5)
    assert format_date(day, "en", "long") == "January 5, 2021"
    assert format_date(day, "de", "long") == "5. Januar 2021"
    assert format_date(day, format="iso") == "2021-01-05"
    ```
    """
    if format == "iso":
        return date.isoformat()
    return _babel_dates().format_date(date, format=format, locale=locale)


def _check_date(name, value):
    if not isinstance(value, datetime.date) or isinstance(value, datetime.datetime):
        raise TypeError(f"`{name}` must be a datetime.date; received {value!r}.")
    return value


def dates(
    num_examples,
    source_locale="en",
    target_locale="de",
    source_format="long",
    target_format="long",
    start=datetime.date(1950, 1, 1),
    end=datetime.date(2049, 12, 31),
    seed=0,
):
    """Pairs of the same date written in two locales or formats.

    The dates are distinct, drawn uniformly from `start..end`. Formats may
    vary from example to example: pass several and each example draws one,
    which makes a date-normalisation task (many human formats -> ISO).

    Args:
        num_examples (int): how many pairs, at most the number of days in range.
        source_locale (str): the locale of the source texts (e.g. `"en"`).
        target_locale (str): the locale of the target texts (e.g. `"de"`, `"fr"`).
        source_format (str | Sequence[str]): a format for `format_date` (`"short"`,
            `"medium"`, `"long"`, `"full"`, `"iso"` or a CLDR pattern), or a sequence of
            them to draw from.
        target_format (str | Sequence[str]): likewise for the targets; `"iso"` gives
            `YYYY-MM-DD`.
        start (datetime.date): the earliest date.
        end (datetime.date): the latest date, included.
        seed (int): the random seed; the same seed gives the same pairs.

    Returns:
        A list of `(source_text, target_text)` pairs.

    Example:

    ```python
    from keras_attention.datasets import dates

    pairs = dates(3, source_locale="en", target_locale="de", seed=0)
    assert pairs == dates(3, source_locale="en", target_locale="de", seed=0)
    iso = dates(3, target_format="iso", seed=0)
    assert [len(t) for _, t in iso] == [10, 10, 10]
    ```
    """
    if isinstance(num_examples, bool) or not isinstance(
        num_examples, (int, np.integer)
    ):
        raise TypeError(f"`num_examples` must be an integer; got {num_examples!r}.")
    start, end = _check_date("start", start), _check_date("end", end)
    days = (end - start).days + 1
    if days < 1:
        raise ValueError(f"`end` ({end}) must not be before `start` ({start}).")
    if not 1 <= num_examples <= days:
        raise ValueError(
            f"`num_examples` must be in [1, {days}] (the days from {start} to "
            f"{end}); received {num_examples}."
        )
    source_formats = (
        [source_format] if isinstance(source_format, str) else list(source_format)
    )
    target_formats = (
        [target_format] if isinstance(target_format, str) else list(target_format)
    )
    if not source_formats or not target_formats:
        raise ValueError("`source_format` and `target_format` must not be empty.")
    rng = np.random.default_rng(seed)
    offsets = rng.choice(days, size=num_examples, replace=False)
    source_choice = rng.integers(0, len(source_formats), size=num_examples)
    target_choice = rng.integers(0, len(target_formats), size=num_examples)
    pairs = []
    for offset, i, j in zip(offsets, source_choice, target_choice, strict=True):
        day = start + datetime.timedelta(days=int(offset))
        pairs.append(
            (
                format_date(day, source_locale, source_formats[i]),
                format_date(day, target_locale, target_formats[j]),
            )
        )
    return pairs
