"""The Tatoeba / Anki loader, on a small fixture file and without network."""

import os
import pathlib
import shutil

import keras
import pytest

from keras_attention import datasets

FIXTURE = pathlib.Path(__file__).resolve().parents[1] / "data" / "spa-eng-sample.txt"


def test_reads_the_tab_separated_fixture():
    pairs = datasets.load_anki_pairs(path=FIXTURE)
    assert len(pairs) == 10  # the blank line is skipped
    assert pairs[0] == ("Go.", "Ve.")  # the attribution column is dropped
    assert pairs[3] == ("Who?", "¿Quién?")  # two columns, as in spa.txt
    assert ("What time is it?", "¿Qué hora es?") in pairs  # NFD -> NFC
    assert all("\t" not in s + t and "\r" not in s + t for s, t in pairs)


def test_preprocessing_options():
    pairs = datasets.load_anki_pairs(
        path=FIXTURE,
        num_examples=3,
        lowercase=True,
        strip_accents=True,
        space_punctuation=True,
    )
    assert pairs == [("go .", "ve ."), ("hi .", "hola ."), ("run !", "¡ corre !")]
    reverse = datasets.load_anki_pairs(path=FIXTURE, num_examples=2, reverse=True)
    assert reverse == [("Ve.", "Go."), ("Hola.", "Hi.")]


def test_raw_reader_keeps_text_and_rejects_malformed_lines(tmp_path):
    raw = datasets.read_anki_file(FIXTURE)
    assert raw[7][1] != "¿Qué hora es?"  # still decomposed
    bad = tmp_path / "bad.txt"
    bad.write_text("Go.\tVe.\nno tab here\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 2"):
        datasets.read_anki_file(bad)


def test_splits_keep_each_english_sentence_in_one_split():
    pairs = datasets.load_anki_pairs(path=FIXTURE)
    data = datasets.make_splits(pairs, validation=2, test=2, seed=0)
    who = [
        name
        for name in ("train", "validation", "test")
        if any(s == "Who?" for s, _ in getattr(data, name))
    ]
    assert len(who) == 1


@pytest.mark.parametrize("keras2_layout", [False, True])
def test_download_arguments(monkeypatch, tmp_path, keras2_layout):
    calls = []

    def fake_get_file(**kwargs):
        calls.append(kwargs)
        folder = tmp_path / "spa-eng_extracted" / "spa-eng"
        folder.mkdir(parents=True)
        shutil.copy(FIXTURE, folder / "spa.txt")
        if keras2_layout:  # Keras 2 returned the archive beside the folder
            archive = tmp_path / "spa-eng.zip"
            archive.write_bytes(b"")
            return os.fspath(archive)
        return os.fspath(tmp_path / "spa-eng_extracted")

    monkeypatch.setattr(keras.utils, "get_file", fake_get_file)
    pairs = datasets.load_anki_pairs("spa", num_examples=2, cache_dir="/tmp/cache")
    assert pairs == [("Go.", "Ve."), ("Hi.", "Hola.")]
    assert calls == [
        {
            "fname": "spa-eng.zip",
            "origin": "http://storage.googleapis.com/download.tensorflow.org/"
            "data/spa-eng.zip",
            "extract": True,
            "file_hash": None,
            "cache_dir": "/tmp/cache",
        }
    ]


def test_other_languages_and_hash(monkeypatch, tmp_path):
    calls = []

    def fake_get_file(**kwargs):
        calls.append(kwargs)
        shutil.copy(FIXTURE, tmp_path / "fra.txt")
        return os.fspath(tmp_path)

    monkeypatch.setattr(keras.utils, "get_file", fake_get_file)
    datasets.load_anki_pairs("fra", file_hash="abc123")
    assert calls[0]["origin"] == "https://www.manythings.org/anki/fra-eng.zip"
    assert calls[0]["fname"] == "fra-eng.zip" and calls[0]["file_hash"] == "abc123"
    with pytest.raises(ValueError, match="language"):
        datasets.anki_url("../x")


def test_missing_text_file_in_archive(monkeypatch, tmp_path):
    monkeypatch.setattr(keras.utils, "get_file", lambda **kwargs: os.fspath(tmp_path))
    with pytest.raises(FileNotFoundError, match="deu.txt"):
        datasets.load_anki_pairs("deu")
