"""`translation_task`: the tutorials' corpus, split and tokenized in one call."""

import pathlib

import pytest

from keras_attention import datasets

FIXTURE = pathlib.Path(__file__).resolve().parents[1] / "data" / "spa-eng-sample.txt"


def test_number_task_matches_the_steps_it_stands_for():
    pytest.importorskip("num2words")
    task = datasets.translation_task("numbers", train_size=300, test_size=40, seed=3)
    # The same splits and vocabularies as the steps done by hand.
    pairs = datasets.number_lists(340, max_numbers=6, seed=3)
    small = datasets.number_pairs(range(100))
    data = datasets.make_splits(
        pairs + small, validation=0, test=40, seed=3, keep_in_train=small
    )
    assert task.data == data
    assert task.keep_in_train == {source for source, _ in small}
    assert task.keep_in_train <= set(task.data.train_sources)
    assert not set(task.data.train_sources) & {s for s, _ in task.data.test}
    assert (
        task.source_vocab.tokens
        == datasets.Vocabulary.build(data.train_sources, "words").tokens
    )
    # German compounds are split into their parts.
    assert "sieben" in task.target_vocab and "und" in task.target_vocab
    assert "siebenundneunzig" not in task.target_vocab
    lengths = {len(t.split(", ")) for _, t in task.data.train}
    assert max(lengths) == 6


def test_max_numbers_bounds_the_lists():
    pytest.importorskip("num2words")
    task = datasets.translation_task(
        "numbers", train_size=100, test_size=10, max_numbers=2, seed=0
    )
    assert {len(t.split(", ")) for _, t in task.data.train + task.data.test} == {1, 2}


def test_anki_task_reads_a_local_file_and_caps_the_test_split():
    task = datasets.translation_task(
        "anki", train_size=100, test_size=50, path=FIXTURE, min_count=1
    )
    # 10 pairs in the fixture: the test split is at most a tenth of them.
    assert task.data.sizes == {"train": 9, "validation": 0, "test": 1}
    assert task.keep_in_train == frozenset()
    assert all(s == s.lower() for s in task.data.train_sources)
    assert "go" in task.source_vocab
    # min_count=2: words seen once in training are unknown.
    rare = datasets.translation_task("anki", path=FIXTURE, min_count=2)
    assert rare.source_vocab.size < task.source_vocab.size


def test_bad_corpus_is_a_value_error():
    with pytest.raises(ValueError, match="`corpus` must be one of"):
        datasets.translation_task("wikipedia")
