"""The prose corpora and the character-level windows of the char LM tutorial."""

import numpy as np
import pytest

from keras_attention.datasets import (
    CORPORA,
    SHAKESPEARE_URL,
    CharVocabulary,
    clean_text,
    load_prose,
    next_char_windows,
    prose,
    pydoc_topics_text,
    split_blocks,
)


def test_clean_text_normalises_whitespace_and_punctuation():
    text = "a  \t\r\nb\u2019s \u201cq\u201d\u2014x\n\n\n\n\n   c\u2026   \n"
    assert clean_text(text) == 'a\nb\'s "q"--x\n\n   c...'
    # Idempotent, and indentation inside the text is kept.
    assert clean_text(clean_text(text)) == clean_text(text)
    with pytest.raises(TypeError, match="clean_text: `text` must be a str"):
        clean_text(b"bytes")


def test_pydoc_topics_text_is_deterministic_and_complete():
    from pydoc_data.topics import topics

    text = pydoc_topics_text()
    assert text == pydoc_topics_text()
    assert len(text) > 100_000
    # Every topic is there, in sorted order of the topic names.
    position = 0
    for name in sorted(topics):
        topic = clean_text(topics[name].strip())
        assert text.index(topic, position) == position, name
        position += len(topic) + 2  # the blank line between topics
    assert position == len(text) + 2
    raw = pydoc_topics_text(clean=False)
    assert "\u201c" in raw or "\u2019" in raw  # the cleaning has work to do
    assert not set(text) & {"\u201c", "\u201d", "\u2018", "\u2019", "\r", "\t"}
    assert "\n\n\n" not in text


def test_load_prose_offline_default_and_local_file(tmp_path, monkeypatch):
    def no_download(*args, **kwargs):
        raise AssertionError("load_prose downloaded")

    monkeypatch.setattr(prose.keras.utils, "get_file", no_download)
    assert CORPORA[0] == "pydoc"
    assert load_prose() == pydoc_topics_text()
    path = tmp_path / "input.txt"
    path.write_text("First Citizen:  \r\nSpeak, speak.\n\n\n\nAll:\n", encoding="utf-8")
    assert load_prose("shakespeare", path=str(path)) == (
        "First Citizen:\nSpeak, speak.\n\nAll:"
    )
    assert load_prose("shakespeare", path=str(path), clean=False).startswith(
        "First Citizen:  \n"
    )


def test_load_prose_downloads_shakespeare_with_get_file(tmp_path, monkeypatch):
    local = tmp_path / "cached.txt"
    local.write_text("ROMEO:\nBut soft!\n", encoding="utf-8")
    calls = []

    def fake_get_file(**kwargs):
        calls.append(kwargs)
        return str(local)

    monkeypatch.setattr(prose.keras.utils, "get_file", fake_get_file)
    text = load_prose("shakespeare", cache_dir=str(tmp_path), file_hash="abc")
    assert text == "ROMEO:\nBut soft!"
    assert calls == [
        {
            "fname": "tinyshakespeare.txt",
            "origin": SHAKESPEARE_URL,
            "file_hash": "abc",
            "cache_dir": str(tmp_path),
        }
    ]
    assert SHAKESPEARE_URL.startswith("https://raw.githubusercontent.com/karpathy/")


def test_load_prose_bad_arguments():
    with pytest.raises(ValueError, match="load_prose: `corpus` must be one of"):
        load_prose("wikipedia")
    with pytest.raises(ValueError, match="load_prose: `path` is not a file"):
        load_prose("shakespeare", path="/no/such/file.txt")


def test_char_vocabulary_round_trip():
    text = pydoc_topics_text()[:20_000]
    vocabulary = CharVocabulary.from_text(text)
    assert vocabulary.characters == sorted(set(text))
    assert len(vocabulary) == len(set(text))
    ids = vocabulary.encode(text)
    assert ids.dtype == np.int32 and ids.shape == (len(text),)
    assert vocabulary.decode(ids) == text
    assert vocabulary.decode(list(ids[:5])) == text[:5]
    assert vocabulary.encode("").shape == (0,)


def test_char_vocabulary_bad_inputs():
    vocabulary = CharVocabulary("abc")
    with pytest.raises(ValueError, match=r"character 'z' is not in the vocabulary"):
        vocabulary.encode("abz")
    with pytest.raises(ValueError, match=r"ids must be in \[0, 3\)"):
        vocabulary.decode([0, 3])
    with pytest.raises(ValueError, match="rank-1 integer"):
        vocabulary.decode([[0, 1]])
    with pytest.raises(ValueError, match="1-character strings"):
        CharVocabulary(["ab", "c"])
    with pytest.raises(ValueError, match="is empty"):
        CharVocabulary("")
    with pytest.raises(TypeError, match="from_text: `text` must be a str"):
        CharVocabulary.from_text(None)


def test_split_blocks_is_contiguous_disjoint_and_complete():
    ids = np.arange(1_003)
    train, validation = split_blocks(ids, 0.1, num_blocks=10)
    assert len(train) == len(validation) == 10
    pieces = [piece for pair in zip(train, validation, strict=True) for piece in pair]
    # In corpus order, the pieces are the whole corpus, each one contiguous.
    assert np.array_equal(np.concatenate(pieces), ids)
    for piece in pieces:
        assert np.all(np.diff(piece) == 1)
    assert all(len(v) == 10 for v in validation)  # 10% of each 100-id block
    assert len(train[-1]) == 93  # the last block takes the remainder


def test_split_blocks_bad_arguments():
    with pytest.raises(ValueError, match="split_blocks: `validation_fraction`"):
        split_blocks(np.arange(100), 1.0)
    with pytest.raises(ValueError, match="split_blocks: `num_blocks`"):
        split_blocks(np.arange(100), 0.1, num_blocks=0)
    with pytest.raises(ValueError, match="split_blocks: `ids` must be a rank-1"):
        split_blocks(np.zeros((4, 4), "int32"))
    with pytest.raises(ValueError, match="use fewer blocks or more text"):
        split_blocks(np.arange(30), 0.1, num_blocks=10)


def test_next_char_windows_targets_are_the_next_characters():
    segments = [np.arange(0, 23), np.arange(100, 110), np.arange(200, 203)]
    inputs, targets = next_char_windows(segments, 4, stride=2)
    assert inputs.dtype == targets.dtype == np.int32
    assert inputs.shape == targets.shape and inputs.shape[1] == 4
    assert np.array_equal(targets[:, :-1], inputs[:, 1:])
    assert np.all(targets[:, -1] == inputs[:, -1] + 1)
    # No window crosses a segment boundary; the short segment gives none.
    assert np.all(np.diff(np.concatenate([inputs, targets[:, -1:]], 1)) == 1)
    firsts = inputs[:, 0].tolist()
    assert firsts == [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 100, 102, 104]
    # Non-overlapping by default: every target is scored exactly once.
    inputs, targets = next_char_windows(np.arange(41), 10)
    assert np.array_equal(targets.ravel(), np.arange(1, 41))


def test_next_char_windows_bad_arguments():
    with pytest.raises(ValueError, match="next_char_windows: `sequence_length`"):
        next_char_windows(np.arange(10), 0)
    with pytest.raises(ValueError, match="next_char_windows: `stride`"):
        next_char_windows(np.arange(10), 2, stride=1.5)
    with pytest.raises(ValueError, match="no segment holds a window"):
        next_char_windows([np.arange(5)], 5)
