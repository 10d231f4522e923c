"""Vocabularies: reserved ids, building, encoding and decoding, config."""

import numpy as np
import pytest

from keras_attention import datasets


def test_reserved_ids():
    vocab = datasets.Vocabulary.build(["b a a", "c"])
    assert vocab.tokens[:4] == ["<pad>", "<start>", "<end>", "<unk>"]
    assert (vocab.pad_id, vocab.start_id, vocab.end_id, vocab.unknown_id) == (
        0,
        1,
        2,
        3,
    )
    assert vocab.tokens[4:] == ["a", "b", "c"]  # by count, then alphabetically
    assert vocab.size == len(vocab) == 7
    assert vocab.token_to_id("zzz") == vocab.unknown_id


def test_build_is_order_independent_and_limits():
    texts = ["x y z z", "y z"]
    assert (
        datasets.Vocabulary.build(texts).tokens
        == datasets.Vocabulary.build(texts[::-1]).tokens
    )
    assert datasets.Vocabulary.build(texts, min_count=2).tokens[4:] == ["z", "y"]
    assert datasets.Vocabulary.build(texts, max_size=5).tokens[4:] == ["z"]
    with pytest.raises(ValueError):
        datasets.Vocabulary(["<pad>"])
    with pytest.raises(ValueError):
        datasets.Vocabulary(["a", "a"])
    with pytest.raises(ValueError, match="tokenizer"):
        datasets.Vocabulary(["a"], tokenizer="bpe")


def test_encode_decode_round_trip():
    pairs = datasets.number_lists(200, seed=0)
    source_vocab = datasets.Vocabulary.build([s for s, _ in pairs])
    target_vocab = datasets.Vocabulary.build([t for _, t in pairs], "german_numbers")
    for source, target in pairs:
        assert source_vocab.decode(source_vocab.encode(source)) == source
        ids = target_vocab.encode(target, add_start=True, add_end=True)
        assert ids[0] == 1 and ids[-1] == 2
        assert target_vocab.decode(ids) == target
    restored = datasets.Vocabulary.from_config(target_vocab.get_config())
    assert restored.tokens == target_vocab.tokens
    assert restored.decode(restored.encode(pairs[0][1])) == pairs[0][1]


def test_decode_stops_at_end_and_skips_padding():
    vocab = datasets.Vocabulary.build(["one two"])
    one, two = vocab.token_to_id("one"), vocab.token_to_id("two")
    assert vocab.decode([1, one, two, 2, one, 0]) == "one two"
    assert vocab.decode(np.array([one, 0, 0])) == "one"
    assert vocab.decode_tokens([two, 3, 2]) == ["two", "<unk>"]
