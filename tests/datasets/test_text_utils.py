"""Vocabularies, padding, start/end tokens and train/validation/test splits."""

import numpy as np
import pytest

from keras_attention import datasets
from keras_attention.datasets import text


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


def test_character_tokenizer():
    vocab = datasets.Vocabulary.build(["ab c"], tokenizer="characters")
    assert vocab.decode(vocab.encode("c ba")) == "c ba"
    assert vocab.decode(vocab.encode("d")) == "<unk>"


def test_decode_stops_at_end_and_skips_padding():
    vocab = datasets.Vocabulary.build(["one two"])
    one, two = vocab.token_to_id("one"), vocab.token_to_id("two")
    assert vocab.decode([1, one, two, 2, one, 0]) == "one two"
    assert vocab.decode(np.array([one, 0, 0])) == "one"
    assert vocab.decode_tokens([two, 3, 2]) == ["two", "<unk>"]


def test_encode_pairs_shapes_padding_and_shift():
    pairs = [("one", "eins"), ("ninety-seven", "siebenundneunzig")]
    sv = datasets.Vocabulary.build([s for s, _ in pairs])
    tv = datasets.Vocabulary.build([t for _, t in pairs], "german_numbers")
    arrays = datasets.encode_pairs(pairs, sv, tv)
    assert set(arrays) == {"source", "decoder_input", "decoder_target"}
    assert all(a.dtype == np.int32 for a in arrays.values())
    assert arrays["source"].shape == (2, 3)
    assert arrays["decoder_input"].shape == arrays["decoder_target"].shape == (2, 4)
    np.testing.assert_array_equal(arrays["source"][0, 1:], [0, 0])
    # decoder input: <start> y; decoder target: y <end>; then padding
    np.testing.assert_array_equal(arrays["decoder_input"][:, 0], [1, 1])
    np.testing.assert_array_equal(
        arrays["decoder_input"][1, 1:], arrays["decoder_target"][1, :-1]
    )
    assert arrays["decoder_target"][0].tolist()[1:] == [2, 0, 0]
    assert arrays["decoder_target"][1].tolist()[-1] == 2
    assert tv.decode(arrays["decoder_target"][1]) == "siebenundneunzig"
    assert sv.decode(arrays["source"][1]) == "ninety-seven"

    wide = datasets.encode_pairs(
        pairs, sv, tv, max_source_length=5, max_target_length=6
    )
    assert wide["source"].shape == (2, 5) and wide["decoder_target"].shape == (2, 6)
    with pytest.raises(ValueError, match="truncate"):
        datasets.encode_pairs(pairs, sv, tv, max_source_length=2)
    cut = datasets.encode_pairs(pairs, sv, tv, max_source_length=2, truncate=True)
    assert cut["source"].shape == (2, 2)


def test_embedding_masks_the_padding():
    import keras

    pairs = [("one", "eins"), ("ninety-seven", "siebenundneunzig")]
    sv = datasets.Vocabulary.build([s for s, _ in pairs])
    tv = datasets.Vocabulary.build([t for _, t in pairs], "german_numbers")
    arrays = datasets.encode_pairs(pairs, sv, tv)
    embedding = keras.layers.Embedding(sv.size, 4, mask_zero=True)
    mask = keras.ops.convert_to_numpy(embedding.compute_mask(arrays["source"]))
    np.testing.assert_array_equal(mask, [[1, 0, 0], [1, 1, 1]])


def test_splits_are_deterministic_and_disjoint():
    pairs = datasets.number_lists(500, seed=0)
    pairs += [(pairs[0][0], "another translation")]  # one source, two targets
    pairs += [pairs[1]]  # an exact duplicate
    a = datasets.make_splits(pairs, validation=0.1, test=0.2, seed=3)
    assert a == datasets.make_splits(pairs, validation=0.1, test=0.2, seed=3)
    assert a != datasets.make_splits(pairs, validation=0.1, test=0.2, seed=4)
    sources = [{s for s, _ in split} for split in (a.train, a.validation, a.test)]
    assert not (sources[0] & sources[1] or sources[0] & sources[2])
    assert not sources[1] & sources[2]
    assert len(a.validation) in (50, 51) and len(a.test) in (100, 101, 102)
    assert sum(a.sizes.values()) == 501  # deduplicated
    together = a.train + a.validation + a.test
    assert {p for p in pairs} == set(together)
    same_source = [p for p in together if p[0] == pairs[0][0]]
    assert len(same_source) == 2


def test_small_numbers_kept_in_training():
    pairs = datasets.numbers(400, seed=0)
    keep = datasets.number_pairs(range(100))
    assert set(keep) <= set(pairs)
    data = datasets.make_splits(
        pairs, validation=0.25, test=0.25, seed=0, keep_in_train=keep
    )
    assert set(keep) <= set(data.train)
    assert data.sizes == {"train": 200, "validation": 100, "test": 100}
    with pytest.raises(ValueError, match="Cannot take"):
        datasets.make_splits(pairs, validation=0.4, test=0.4, keep_in_train=keep)


def test_split_arguments_are_checked():
    pairs = [("a", "b")]
    with pytest.raises(ValueError):
        datasets.make_splits(pairs, validation=1.5)
    with pytest.raises(TypeError):
        datasets.make_splits(pairs, test="0.1")
    assert datasets.make_splits(pairs, validation=0, test=0).train == pairs


def test_preprocess_sentence():
    decomposed = "Que\u0301"
    assert datasets.preprocess_sentence(decomposed) == "Qué"
    assert datasets.preprocess_sentence(decomposed, normalization=None) == decomposed
    assert datasets.preprocess_sentence("  ¿Qué  hora es? ", lowercase=True) == (
        "¿qué hora es?"
    )
    assert datasets.preprocess_sentence("¡Hola, tú!", space_punctuation=True) == (
        "¡ Hola , tú !"
    )
    assert datasets.preprocess_sentence("tú", strip_accents=True) == "tu"
    with pytest.raises(TypeError):
        datasets.preprocess_sentence(3)


def test_detokenize_words_inverts_common_punctuation():
    for sentence in ["¿Qué hora es?", "I'm OK.", "one thousand, one hundred"]:
        assert text.detokenize_words(text.tokenize_words(sentence)) == sentence
