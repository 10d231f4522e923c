"""English prose for character-level language models.

The offline corpus is the documentation that ships with every CPython: the
topics of `pydoc_data.topics` (the text behind `help("assert")`, `help("if")`,
...; 79 topics, about 465,000 characters in Python 3.11). Users with a network
can load tiny Shakespeare (Karpathy's char-rnn corpus, about 1.1 million
characters) instead; it is downloaded once with `keras.utils.get_file`.

Then `CharVocabulary` maps characters to ids, `split_blocks` holds out
contiguous blocks of text for validation and `next_char_windows` cuts
`(inputs, targets)` windows for next-character prediction.
"""

import os
import re

import keras
import numpy as np

#: Tiny Shakespeare, from the char-rnn repository (Karpathy, 2015).
SHAKESPEARE_URL = (
    "https://raw.githubusercontent.com/karpathy/char-rnn/master/"
    "data/tinyshakespeare/input.txt"
)
#: The corpora `load_prose` knows: the offline default first.
CORPORA = ("pydoc", "shakespeare")

# Typographic characters (a few hundred in the pydoc topics) written as ASCII,
# so the vocabulary stays small.
_ASCII = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2013": "-",
        "\u2014": "--",
        "\u2026": "...",
        "\u00a0": " ",
    }
)
_TRAILING_SPACE = re.compile(r"[ \t]+$", re.MULTILINE)
_BLANK_LINES = re.compile(r"\n{3,}")


def clean_text(text):
    """Normalises whitespace and typographic punctuation.

    Line endings become `\\n`, tabs become spaces, spaces at the end of a
    line are removed, runs of blank lines become one blank line, curly quotes,
    dashes and the ellipsis become ASCII, and the text is stripped. Indentation
    is kept (the pydoc topics indent grammar rules and code).

    Args:
        text (str): the text.

    Returns:
        The cleaned `str`.

    Example:

    ```python
    from keras_attention.datasets import clean_text

    text = "\\u201cHello\\u201d  \\r\\n\\n\\n\\n  world\\u2026  "
    assert clean_text(text) == '"Hello"\\n\\n  world...'
    ```
    """
    if not isinstance(text, str):
        raise TypeError(
            f"clean_text: `text` must be a str; received {type(text).__name__}."
        )
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", "    ")
    text = text.translate(_ASCII)
    text = _TRAILING_SPACE.sub("", text)
    return _BLANK_LINES.sub("\n\n", text).strip()


def pydoc_topics_text(clean=True):
    """The documentation topics of `pydoc_data.topics` as one text.

    The topics are joined in sorted order of their names, separated by a
    blank line, so the text is the same on every run of one Python version
    (it changes a little between Python versions).

    Args:
        clean (bool): apply `clean_text`. Defaults to `True`.

    Returns:
        A `str` (about 460,000 characters).

    Example:

    ```python
    from keras_attention.datasets import pydoc_topics_text

    text = pydoc_topics_text()
    assert len(text) > 100_000
    assert 'The "assert" statement' in text
    ```
    """
    from pydoc_data.topics import topics

    text = "\n\n".join(topics[name].strip() for name in sorted(topics))
    return clean_text(text) if clean else text


def load_prose(corpus="pydoc", path=None, cache_dir=None, file_hash=None, clean=True):
    """Loads the text of a prose corpus.

    `"pydoc"` (the default) reads the topics that ship with Python
    (`pydoc_topics_text`) and never downloads. `"shakespeare"` reads tiny
    Shakespeare from `path` if given, else downloads it once from
    `SHAKESPEARE_URL` with `keras.utils.get_file` (cached under
    `~/.keras/datasets`, or `cache_dir`).

    Args:
        corpus (str): `"pydoc"` or `"shakespeare"`.
        path (str | os.PathLike | None): optional path of a local UTF-8 copy of the
            corpus (for `"shakespeare"`, `input.txt`); any text file works.
        cache_dir (str | None): where `keras.utils.get_file` keeps the download.
        file_hash (str | None): optional SHA-256 or MD5 to verify the download.
        clean (bool): apply `clean_text`. Defaults to `True`.

    Returns:
        The text, a `str`.

    Example:

    ```python
    import os
    import tempfile

    from keras_attention.datasets import load_prose

    assert load_prose("pydoc") == load_prose()  # offline, the default

    # Any local text file stands in for the download.
    folder = tempfile.mkdtemp()
    with open(os.path.join(folder, "input.txt"), "w", encoding="utf-8") as f:
        f.write("First Citizen:\\nBefore we proceed any further, hear me speak.\\n")
    text = load_prose("shakespeare", path=os.path.join(folder, "input.txt"))
    assert text.startswith("First Citizen:")
    ```
    """
    if corpus not in CORPORA:
        raise ValueError(
            f"load_prose: `corpus` must be one of {CORPORA}; received {corpus!r}."
        )
    if corpus == "pydoc" and path is None:
        return pydoc_topics_text(clean=clean)
    if path is None:
        path = keras.utils.get_file(
            fname="tinyshakespeare.txt",
            origin=SHAKESPEARE_URL,
            file_hash=file_hash,
            cache_dir=cache_dir,
        )
    if not os.path.isfile(path):
        raise ValueError(f"load_prose: `path` is not a file; received {path!r}.")
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    return clean_text(text) if clean else text


class CharVocabulary:
    """A character vocabulary: ids `0..len-1` for the sorted characters.

    Args:
        characters (Iterable[str]): the characters, an iterable of 1-character strings
            (duplicates are dropped; the ids follow sorted order).

    Returns:
        (the constructor) a vocabulary with `encode`, `decode`, `characters`
        and `len()`; `CharVocabulary.from_text(text)` builds one from every
        character of a text.

    Example:

    ```python
    from keras_attention.datasets import CharVocabulary

    vocabulary = CharVocabulary.from_text("hello world")
    assert len(vocabulary) == 8  # " ", "d", "e", "h", "l", "o", "r", "w"
    ids = vocabulary.encode("hello")
    assert ids.tolist() == [3, 2, 4, 4, 5]
    assert vocabulary.decode(ids) == "hello"
    ```
    """

    def __init__(self, characters):
        if isinstance(characters, str):
            characters = list(characters)
        characters = sorted(set(characters))
        for character in characters:
            if not isinstance(character, str) or len(character) != 1:
                raise ValueError(
                    "CharVocabulary: `characters` must hold 1-character strings; "
                    f"received {character!r}."
                )
        if not characters:
            raise ValueError("CharVocabulary: `characters` is empty.")
        self.characters = characters
        self._ids = {character: i for i, character in enumerate(characters)}

    @classmethod
    def from_text(cls, text):
        """The vocabulary of every character of `text`."""
        if not isinstance(text, str):
            raise TypeError(
                "CharVocabulary.from_text: `text` must be a str; "
                f"received {type(text).__name__}."
            )
        return cls(set(text))

    def __len__(self):
        return len(self.characters)

    def encode(self, text):
        """The int32 ids of the characters of `text`, shape `(len(text),)`."""
        try:
            return np.fromiter((self._ids[c] for c in text), "int32", len(text))
        except KeyError as error:
            raise ValueError(
                f"CharVocabulary.encode: character {error.args[0]!r} is not in "
                "the vocabulary."
            ) from None

    def decode(self, ids):
        """The text of a sequence of ids (any int array-like of rank 1)."""
        ids = np.asarray(ids)
        if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(
                "CharVocabulary.decode: `ids` must be a rank-1 integer sequence; "
                f"received shape {ids.shape}, dtype {ids.dtype}."
            )
        if ids.size and (ids.min() < 0 or ids.max() >= len(self)):
            raise ValueError(
                f"CharVocabulary.decode: ids must be in [0, {len(self)}); "
                f"received ids from {ids.min()} to {ids.max()}."
            )
        return "".join(self.characters[i] for i in ids.tolist())


def _check_ids(owner, ids):
    ids = np.asarray(ids)
    if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(
            f"{owner}: `ids` must be a rank-1 integer array; received shape "
            f"{ids.shape}, dtype {ids.dtype}."
        )
    return ids


def split_blocks(ids, validation_fraction=0.1, num_blocks=10):
    """Holds out contiguous text for validation, spread over the corpus.

    The ids are cut into `num_blocks` equal blocks; the last
    `validation_fraction` of each block is validation text, the rest is
    training text. Each piece is contiguous, so a validation window is real
    running text the model has not seen, and held-out text comes from every
    part of the corpus (the pydoc topics are sorted by name: a single block at
    the end would hold only the last few topics).

    Args:
        ids (np.ndarray): rank-1 int array, the encoded corpus.
        validation_fraction (float): the share of each block held out, in
            (0, 1). Defaults to `0.1`.
        num_blocks (int): how many blocks, at least 1. Defaults to `10`.

    Returns:
        A tuple `(train_segments, validation_segments)` of two lists of
        `num_blocks` rank-1 arrays each, in corpus order.

    Example:

    ```python
    import numpy as np

    from keras_attention.datasets import split_blocks

    train, validation = split_blocks(np.arange(100), 0.2, num_blocks=2)
    assert [s.tolist()[-1] for s in train] == [39, 89]
    assert [s.tolist() for s in validation] == [
        list(range(40, 50)),
        list(range(90, 100)),
    ]
    ```
    """
    owner = "split_blocks"
    ids = _check_ids(owner, ids)
    if isinstance(validation_fraction, bool) or not (
        isinstance(validation_fraction, (int, float)) and 0 < validation_fraction < 1
    ):
        raise ValueError(
            f"{owner}: `validation_fraction` must be a float in (0, 1); "
            f"received {validation_fraction!r}."
        )
    if (
        isinstance(num_blocks, bool)
        or not isinstance(num_blocks, int)
        or num_blocks < 1
    ):
        raise ValueError(
            f"{owner}: `num_blocks` must be an int >= 1; received {num_blocks!r}."
        )
    block = len(ids) // num_blocks
    held_out = int(round(block * validation_fraction))
    if held_out < 1 or held_out >= block:
        raise ValueError(
            f"{owner}: {len(ids)} ids in {num_blocks} blocks of {block} leave "
            f"{held_out} ids per block for validation; use fewer blocks or more text."
        )
    train, validation = [], []
    for b in range(num_blocks):
        start = b * block
        end = len(ids) if b == num_blocks - 1 else start + block
        cut = end - held_out
        train.append(ids[start:cut])
        validation.append(ids[cut:end])
    return train, validation


def next_char_windows(segments, sequence_length, stride=None):
    """Windows of `sequence_length` inputs and their next-character targets.

    Each window is `sequence_length + 1` consecutive ids of one segment: the
    inputs are its first `sequence_length` ids, the targets the last
    `sequence_length` (each input's next character). Windows never cross
    from one segment into the next.

    Args:
        segments (np.ndarray | list[np.ndarray]): a rank-1 int array or a list of them
            (e.g. one list of `split_blocks`).
        sequence_length (int): the length of a window, at least 1.
        stride (int | None): the step between window starts, at least 1; defaults to
            `sequence_length` (non-overlapping windows, each target predicted
            once: what a validation score needs).

    Returns:
        A tuple `(inputs, targets)` of int32 arrays `(windows,
        sequence_length)`.

    Example:

    ```python
    import numpy as np

    from keras_attention.datasets import next_char_windows

    inputs, targets = next_char_windows(np.arange(10), 4)
    assert inputs.tolist() == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert targets.tolist() == [[1, 2, 3, 4], [5, 6, 7, 8]]
    ```
    """
    owner = "next_char_windows"
    if isinstance(segments, np.ndarray) and segments.ndim == 1:
        segments = [segments]
    segments = [_check_ids(owner, s) for s in segments]
    for name, value in (("sequence_length", sequence_length), ("stride", stride)):
        if value is None and name == "stride":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(
                f"{owner}: `{name}` must be an int >= 1; received {value!r}."
            )
    stride = sequence_length if stride is None else stride
    width = sequence_length + 1
    windows = []
    for segment in segments:
        if len(segment) < width:
            continue
        starts = np.arange(0, len(segment) - width + 1, stride)
        windows.append(segment[starts[:, None] + np.arange(width)])
    if not windows:
        raise ValueError(
            f"{owner}: no segment holds a window of sequence_length + 1 = {width} "
            f"ids; the longest has {max((len(s) for s in segments), default=0)}."
        )
    windows = np.concatenate(windows).astype("int32")
    return windows[:, :-1], windows[:, 1:]
