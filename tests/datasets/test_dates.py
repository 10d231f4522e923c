"""Dates between locales and formats, from babel's CLDR data."""

import datetime

import pytest

from keras_attention import datasets

pytest.importorskip("babel")

DAY = datetime.date(2021, 1, 5)


@pytest.mark.parametrize(
    "locale, fmt, expected",
    [
        ("en", "long", "January 5, 2021"),
        ("de", "long", "5. Januar 2021"),
        ("fr", "long", "5 janvier 2021"),
        ("de", "medium", "05.01.2021"),
        ("en", "iso", "2021-01-05"),
    ],
)
def test_format_date(locale, fmt, expected):
    assert datasets.format_date(DAY, locale, fmt) == expected


def test_dates_deterministic_distinct_and_in_range():
    start, end = datetime.date(2000, 1, 1), datetime.date(2000, 12, 31)
    pairs = datasets.dates(366, start=start, end=end, seed=4)
    assert pairs == datasets.dates(366, start=start, end=end, seed=4)
    assert pairs != datasets.dates(366, start=start, end=end, seed=5)
    assert len({s for s, _ in pairs}) == 366
    assert all(s.endswith("2000") and t.endswith("2000") for s, t in pairs)
    with pytest.raises(ValueError, match="num_examples"):
        datasets.dates(367, start=start, end=end)


def test_dates_to_iso_match_the_source_date():
    pairs = datasets.dates(50, target_format="iso", seed=0)
    for source, target in pairs:
        day = datetime.date.fromisoformat(target)
        assert source == datasets.format_date(day, "en", "long")


def test_several_source_formats_are_mixed():
    formats = ["short", "medium", "long", "full"]
    pairs = datasets.dates(200, source_format=formats, target_format="iso", seed=0)
    kinds = {
        "full": sum(s.split(",")[0].endswith("day") for s, _ in pairs),
        "short": sum("/" in s for s, _ in pairs),
    }
    assert kinds["full"] > 20 and kinds["short"] > 20


@pytest.mark.parametrize("locale", ["en", "de", "fr", "es"])
@pytest.mark.parametrize("fmt", ["short", "medium", "long", "full", "iso"])
def test_word_tokens_round_trip_every_format(locale, fmt):
    for source, _ in datasets.dates(20, source_locale=locale, source_format=fmt):
        tokens = datasets.tokenize_words(source)
        assert datasets.detokenize_words(tokens) == source
