"""Ready-made translation tasks: pairs, splits and vocabularies in one call."""

import dataclasses

from keras_attention.datasets.anki import load_anki_pairs
from keras_attention.datasets.number_words import number_lists, number_pairs
from keras_attention.datasets.pairs import TranslationData, make_splits
from keras_attention.datasets.vocabulary import Vocabulary

CORPORA = ("numbers", "anki")


@dataclasses.dataclass(frozen=True)
class TranslationTask:
    """A translation corpus split and tokenized, as `translation_task` makes it.

    Args:
        data (TranslationData): the `TranslationData` splits of `(source, target)` text
            pairs.
        source_vocab (Vocabulary): the `Vocabulary` of the training sources.
        target_vocab (Vocabulary): the `Vocabulary` of the training targets.
        keep_in_train (frozenset[str]): the source texts that `make_splits` kept in the
            training split (the numbers 0..99 of the number corpus; empty
            for Anki). Code that drops training pairs (to make whole batches,
            say) should keep these.

    Returns:
        A frozen dataclass.

    Example:

    ```python
    from keras_attention.datasets import TranslationData, TranslationTask, Vocabulary

    task = TranslationTask(
        data=TranslationData(train=[("one", "eins")], validation=[], test=[]),
        source_vocab=Vocabulary.build(["one"]),
        target_vocab=Vocabulary.build(["eins"]),
        keep_in_train=frozenset(),
    )
    assert "one" in task.source_vocab and "eins" in task.target_vocab
    ```
    """

    data: TranslationData
    source_vocab: Vocabulary
    target_vocab: Vocabulary
    keep_in_train: frozenset


def translation_task(
    corpus="numbers",
    train_size=30_000,
    test_size=1_500,
    validation_size=0,
    seed=0,
    max_numbers=6,
    language="spa",
    path=None,
    min_count=2,
):
    """Builds the translation task of the tutorials: splits and vocabularies.

    `corpus="numbers"` (offline, needs `num2words`): English -> German lists
    of 1 to `max_numbers` numbers below 1000 (`number_lists`), plus the 100
    single numbers 0..99, which always go to the training split so that
    every number word below 100 is seen in training. English is split into
    words, German number words into their parts (`"german_numbers"`
    tokenizer: `siebenundneunzig` -> `sieben und neunzig`).

    `corpus="anki"`: the Tatoeba pairs of manythings.org
    (`load_anki_pairs`, downloaded once, or read from `path`), lower-cased,
    the first `train_size + validation_size + test_size` pairs (the file
    runs from short sentences to long ones). Both sides are split into
    words; words seen fewer than `min_count` times in training become
    `<unk>`. The test split is at most a tenth of the pairs.

    In both, `make_splits` puts no source text in two splits.

    Args:
        corpus (str): `"numbers"` or `"anki"`.
        train_size (int): how many pairs to generate or read for training (for
            numbers: lists, before the 100 single numbers are added).
        test_size (int): how many held-out pairs.
        validation_size (int): how many validation pairs.
        seed (int): the seed of the generated lists and of the split.
        max_numbers (int): the longest list of numbers (`corpus="numbers"`).
        language (str): the Anki language code (`"spa"`, `"deu"`, ...).
        path (str | os.PathLike | None): a local Anki `.txt` file to read instead of
            downloading.
        min_count (int): the fewest occurrences of an Anki word in the training
            split for it to get its own id.

    Returns:
        A `TranslationTask`.

    Example:

    ```python
    from keras_attention.datasets import translation_task

    task = translation_task("numbers", train_size=200, test_size=20, seed=0)
    assert task.data.sizes["test"] == 20
    assert "sechzig" in task.target_vocab  # German tens split from the units
    assert all(s in task.data.train_sources for s in task.keep_in_train)
    ```
    """
    if corpus not in CORPORA:
        raise ValueError(f"`corpus` must be one of {CORPORA}; received {corpus!r}.")
    if corpus == "numbers":
        return _numbers_task(train_size, test_size, validation_size, seed, max_numbers)
    return _anki_task(
        train_size, test_size, validation_size, seed, language, path, min_count
    )


def _numbers_task(train_size, test_size, validation_size, seed, max_numbers):
    """The `corpus="numbers"` task of `translation_task`."""
    pairs = number_lists(
        train_size + validation_size + test_size,
        max_numbers=max_numbers,
        seed=seed,
    )
    small_numbers = number_pairs(range(100))
    keep = frozenset(source for source, _ in small_numbers)
    data = make_splits(
        pairs + small_numbers,
        validation=validation_size,
        test=test_size,
        seed=seed,
        keep_in_train=keep,
    )
    return TranslationTask(
        data=data,
        source_vocab=Vocabulary.build(data.train_sources, "words"),
        target_vocab=Vocabulary.build(data.train_targets, "german_numbers"),
        keep_in_train=keep,
    )


def _anki_task(train_size, test_size, validation_size, seed, language, path, min_count):
    """The `corpus="anki"` task of `translation_task`."""
    pairs = load_anki_pairs(
        language,
        path=path,
        num_examples=train_size + validation_size + test_size,
        lowercase=True,
    )
    data = make_splits(
        pairs,
        validation=min(validation_size, len(pairs) // 10),
        test=min(test_size, len(pairs) // 10),
        seed=seed,
    )
    return TranslationTask(
        data=data,
        source_vocab=Vocabulary.build(data.train_sources, "words", min_count),
        target_vocab=Vocabulary.build(data.train_targets, "words", min_count),
        keep_in_train=frozenset(),
    )
