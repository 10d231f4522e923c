"""Translation pairs: padded arrays with start/end tokens, and the splits."""

import numpy as np
import pytest

from keras_attention import datasets


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
