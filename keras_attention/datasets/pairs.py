"""Translation pairs: train/validation/test splits and padded id arrays.

`make_splits` splits `(source, target)` text pairs into a `TranslationData`
(no source text in two splits, deterministic by seed); `encode_pairs` turns
pairs into the padded int32 arrays of an encoder-decoder model, the decoder
arrays shifted by one step for teacher forcing. Plain Python and NumPy.
"""

import dataclasses

import numpy as np

from keras_attention.datasets.vocabulary import END_ID, START_ID


def _widths(sources, targets, max_source_length, max_target_length, truncate):
    """The array widths of `encode_pairs`, checked against the encoded lengths."""
    source_width = max_source_length
    if source_width is None:
        source_width = max((len(s) for s in sources), default=0)
    target_width = max_target_length
    if target_width is None:
        target_width = max((len(t) for t in targets), default=0) + 1
    if source_width < 1 or target_width < 1:
        raise ValueError(
            "`max_source_length` and `max_target_length` must be at least 1; "
            f"received {max_source_length} and {max_target_length}."
        )
    if not truncate:
        long_sources = sum(len(s) > source_width for s in sources)
        long_targets = sum(len(t) + 1 > target_width for t in targets)
        if long_sources or long_targets:
            raise ValueError(
                f"{long_sources} source(s) are longer than max_source_length="
                f"{source_width} and {long_targets} target(s) (plus the "
                f"start/end token) longer than max_target_length={target_width}; "
                "raise the lengths or pass truncate=True."
            )
    return source_width, target_width


def encode_pairs(
    pairs,
    source_vocab,
    target_vocab,
    max_source_length=None,
    max_target_length=None,
    truncate=False,
):
    """Encodes (source, target) pairs into padded int32 arrays for training.

    The decoder arrays are shifted by one step for teacher forcing: the
    decoder input is `<start> y1 ... yn` and the decoder target is
    `y1 ... yn <end>`. Every array is padded with 0 at the end, so
    `keras.layers.Embedding(mask_zero=True)` masks the padding.

    Args:
        pairs (Sequence[tuple[str, str]]): a sequence of `(source_text, target_text)`.
        source_vocab (Vocabulary): the `Vocabulary` of the source texts.
        target_vocab (Vocabulary): the `Vocabulary` of the target texts.
        max_source_length (int | None): the width of `"source"`; `None` for the longest
            source in `pairs`.
        max_target_length (int | None): the width of `"decoder_input"` and
            `"decoder_target"` (target tokens plus one); `None` for the
            longest target in `pairs` plus one.
        truncate (bool): what to do with a sequence longer than its width: `False`
            raises a `ValueError`, `True` cuts it (a cut target loses its
            end token).

    Returns:
        A `dict` of int32 NumPy arrays: `"source"` of shape
        `(len(pairs), max_source_length)`, `"decoder_input"` and
        `"decoder_target"` of shape `(len(pairs), max_target_length)`.

    Example:

    ```python
    from keras_attention.datasets import Vocabulary, encode_pairs

    pairs = [("one", "eins"), ("twenty-one", "einundzwanzig")]
    source_vocab = Vocabulary.build([s for s, _ in pairs])
    target_vocab = Vocabulary.build([t for _, t in pairs], "german_numbers")
    arrays = encode_pairs(pairs, source_vocab, target_vocab)
    assert arrays["source"].shape == (2, 3)  # twenty - one
    assert arrays["decoder_input"].shape == (2, 4)  # <start> ein und zwanzig
    assert arrays["source"][0, 1] == 0  # padding
    assert target_vocab.decode(arrays["decoder_target"][1]) == "einundzwanzig"
    ```
    """
    pairs = list(pairs)
    sources = [source_vocab.encode(s) for s, _ in pairs]
    targets = [target_vocab.encode(t) for _, t in pairs]
    source_width, target_width = _widths(
        sources, targets, max_source_length, max_target_length, truncate
    )
    n = len(pairs)
    source = np.zeros((n, source_width), dtype="int32")
    decoder_input = np.zeros((n, target_width), dtype="int32")
    decoder_target = np.zeros((n, target_width), dtype="int32")
    for i, (s, t) in enumerate(zip(sources, targets, strict=True)):
        s = s[:source_width]
        source[i, : len(s)] = s
        d_in = ([START_ID] + t)[:target_width]
        d_out = (t + [END_ID])[:target_width]
        decoder_input[i, : len(d_in)] = d_in
        decoder_target[i, : len(d_out)] = d_out
    return {
        "source": source,
        "decoder_input": decoder_input,
        "decoder_target": decoder_target,
    }


@dataclasses.dataclass(frozen=True)
class TranslationData:
    """Train, validation and test splits of (source, target) pairs.

    Made by `make_splits`; no source text appears in two splits.

    Args:
        train (list[tuple[str, str]]): list of `(source_text, target_text)` pairs to
            train on.
        validation (list[tuple[str, str]]): list of pairs for model selection and early
            stopping.
        test (list[tuple[str, str]]): list of held-out pairs for the final evaluation.

    Returns:
        A frozen dataclass; iterate over `.train`, `.validation`, `.test`.

    Example:

    ```python
    from keras_attention.datasets import TranslationData

    data = TranslationData(train=[("one", "eins")], validation=[], test=[])
    assert data.sizes == {"train": 1, "validation": 0, "test": 0}
    assert data.train_sources == ["one"] and data.train_targets == ["eins"]
    ```
    """

    train: list
    validation: list
    test: list

    @property
    def sizes(self):
        """Number of pairs in each split."""
        return {
            "train": len(self.train),
            "validation": len(self.validation),
            "test": len(self.test),
        }

    @property
    def train_sources(self):
        """Source texts of the training split (to build a vocabulary)."""
        return [s for s, _ in self.train]

    @property
    def train_targets(self):
        """Target texts of the training split (to build a vocabulary)."""
        return [t for _, t in self.train]


def _split_count(name, value, total):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"`{name}` must be a fraction or a count; received {value!r}.")
    if isinstance(value, float):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"`{name}` as a fraction must be in [0, 1); got {value}.")
        return int(round(value * total))
    if value < 0:
        raise ValueError(f"`{name}` must be non-negative; received {value}.")
    return value


def make_splits(
    pairs, validation=0.1, test=0.1, seed=0, keep_in_train=None, deduplicate=True
):
    """Splits pairs into train / validation / test, deterministically by seed.

    Pairs are grouped by source text and whole groups are assigned to a
    split, so no source text (for instance an English sentence with several
    translations) is in two splits.

    Args:
        pairs (Sequence[tuple[str, str]]): a sequence of `(source_text, target_text)`.
        validation (float | int): the share of source texts for validation: a float
            fraction in [0, 1) of all distinct source texts, or an int count.
        test (float | int): the share for the held-out test split, likewise.
        seed (int): the random seed of the shuffle.
        keep_in_train (Iterable[str | tuple[str, str]] | None): source texts (or pairs)
            that always go to the training split, e.g. `number_pairs(range(100))` so
            that a model sees every number word below 100; `None` for none.
        deduplicate (bool): whether to drop repeated identical pairs.

    Returns:
        A `TranslationData` with shuffled `train`, `validation` and `test`
        lists.

    Example:

    ```python
    from keras_attention.datasets import make_splits

    pairs = [(str(i), f"#{i}") for i in range(100)]
    data = make_splits(pairs, validation=0.1, test=0.2, seed=0, keep_in_train=["7"])
    assert data.sizes == {"train": 70, "validation": 10, "test": 20}
    assert ("7", "#7") in data.train
    ```
    """
    groups = {}
    for pair in pairs:
        source, target = pair
        group = groups.setdefault(source, [])
        if not (deduplicate and (source, target) in group):
            group.append((source, target))
    kept = set()
    if keep_in_train is not None:
        kept = {k if isinstance(k, str) else k[0] for k in keep_in_train}
    sources = list(groups)
    n_validation = _split_count("validation", validation, len(sources))
    n_test = _split_count("test", test, len(sources))
    free = [s for s in sources if s not in kept]
    if n_validation + n_test > len(free):
        raise ValueError(
            f"Cannot take {n_validation} validation and {n_test} test source "
            f"texts from {len(free)} distinct source texts not kept in training."
        )
    order = np.random.default_rng(seed).permutation(len(free))
    free = [free[i] for i in order]
    test_sources = free[:n_test]
    validation_sources = free[n_test : n_test + n_validation]
    train_sources = free[n_test + n_validation :] + [s for s in sources if s in kept]
    train_order = np.random.default_rng([seed, 1]).permutation(len(train_sources))
    train_sources = [train_sources[i] for i in train_order]

    def collect(chosen):
        return [pair for s in chosen for pair in groups[s]]

    return TranslationData(
        train=collect(train_sources),
        validation=collect(validation_sources),
        test=collect(test_sources),
    )
