"""Tatoeba sentence pairs in the Anki format of manythings.org.

These are the English-Spanish pairs of the TensorFlow "Neural machine
translation with attention" tutorial and the keras.io translation examples.
"""

import os
import pathlib

import keras

from keras_attention.datasets.tokenizers import preprocess_sentence

#: The archive that the TensorFlow and keras.io tutorials download.
SPANISH_URL = "http://storage.googleapis.com/download.tensorflow.org/data/spa-eng.zip"
#: The other languages, in the same format: ``{language}-eng.zip``.
MANYTHINGS_URL = "https://www.manythings.org/anki/{language}-eng.zip"
#: SHA-256 of the archives whose content is known. It is empty: no checksum
#: of `spa-eng.zip` could be confirmed without network access, so downloads
#: are not verified unless the caller passes `file_hash`.
KNOWN_HASHES = {}


def anki_url(language):
    """The download address of the English-`language` archive.

    Args:
        language (str): the ISO 639-3 code of manythings.org (`"spa"`, `"fra"`,
            `"deu"`, `"ita"`, ...).

    Returns:
        The URL, a `str`: the TensorFlow tutorials' copy for `"spa"`,
        manythings.org for the others.

    Example:

    ```python
    from keras_attention.datasets import anki_url

    assert anki_url("spa").endswith("download.tensorflow.org/data/spa-eng.zip")
    assert anki_url("fra") == "https://www.manythings.org/anki/fra-eng.zip"
    ```
    """
    if not isinstance(language, str) or not language.isalpha():
        raise ValueError(
            f"`language` must be a code such as 'spa'; received {language!r}."
        )
    if language == "spa":
        return SPANISH_URL
    return MANYTHINGS_URL.format(language=language)


def read_anki_file(path, num_examples=None):
    """Reads raw pairs from a tab-separated Anki file.

    Each line is `English<TAB>Other`, optionally followed by `<TAB>` and an
    attribution (manythings.org's files have one, the TensorFlow copy of
    `spa.txt` does not), which is dropped. Blank lines are skipped.

    Args:
        path (str | os.PathLike): the path of the `.txt` file (UTF-8).
        num_examples (int | None): read only the first `num_examples` pairs; `None` for
            all.

    Returns:
        A list of `(english, other)` pairs of unmodified strings.
    """
    pairs = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if num_examples is not None and len(pairs) >= num_examples:
                break
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            fields = line.split("\t")
            if len(fields) < 2:
                raise ValueError(
                    f"{path}, line {number}: expected 'English<TAB>Other"
                    f"[<TAB>attribution]'; received {line!r}."
                )
            pairs.append((fields[0], fields[1]))
    return pairs


def _download(language, origin, file_hash, cache_dir):
    path = keras.utils.get_file(
        fname=f"{language}-eng.zip",
        origin=origin or anki_url(language),
        extract=True,
        file_hash=file_hash if file_hash is not None else KNOWN_HASHES.get(language),
        cache_dir=cache_dir,
    )
    # Keras 3 returns the extraction folder; Keras 2 returned the archive and
    # extracted it beside it.
    root = pathlib.Path(path)
    if not root.is_dir():
        root = root.parent
    name = f"{language}.txt"
    candidates = sorted(root.rglob(name))
    if not candidates:
        raise FileNotFoundError(f"No {name} found in the archive extracted at {root}.")
    return os.fspath(candidates[0])


def load_anki_pairs(
    language="spa",
    path=None,
    num_examples=None,
    reverse=False,
    normalization="NFC",
    lowercase=False,
    strip_accents=False,
    space_punctuation=False,
    origin=None,
    file_hash=None,
    cache_dir=None,
):
    """Loads English-`language` sentence pairs from Tatoeba (manythings.org).

    Without `path`, downloads `{language}-eng.zip` once with
    `keras.utils.get_file` (cached under `~/.keras/datasets`) and reads
    `{language}.txt` from it. The Spanish archive comes from the address
    used by the TensorFlow NMT tutorial and keras.io; other languages from
    manythings.org, which may refuse downloads without a browser user
    agent: download by hand then and pass `path`. No checksum is built in
    (see `KNOWN_HASHES`): pass `file_hash` (SHA-256 or MD5) to verify the
    download; otherwise `file_hash=None` and the file is not verified.

    The file has one pair a line, `English<TAB>Other[<TAB>attribution]`,
    roughly by increasing length, so `num_examples` keeps short sentences.

    Args:
        language (str): the manythings.org code of the other language (`"spa"`,
            `"fra"`, `"deu"`, ...).
        path (str | os.PathLike | None): a local tab-separated file to read instead of
            downloading.
        num_examples (int | None): keep the first `num_examples` pairs; `None` for all.
        reverse (bool): `False` for English -> other pairs, `True` for other ->
            English.
        normalization (str | None): Unicode normal form (see `preprocess_sentence`).
        lowercase (bool): whether to lower-case both sides.
        strip_accents (bool): whether to drop accents, as the TensorFlow tutorial.
        space_punctuation (bool): whether to put spaces around punctuation.
        origin (str | None): another download address for the archive.
        file_hash (str | None): the expected SHA-256 or MD5 of the archive, or `None`.
        cache_dir (str | None): where Keras caches the download (default `~/.keras`).

    Returns:
        A list of `(source, target)` string pairs.

    Example:

    ```python
    import os
    import tempfile

    from keras_attention.datasets import load_anki_pairs

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "spa.txt")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write("Go.\\tVe.\\tCC-BY 2.0 (France)\\nWho?\\t¿Quién?\\n")
        pairs = load_anki_pairs(path=path, lowercase=True, space_punctuation=True)
    assert pairs == [("go .", "ve ."), ("who ?", "¿ quién ?")]
    ```
    """
    if path is None:
        path = _download(language, origin, file_hash, cache_dir)
    pairs = read_anki_file(path, num_examples=num_examples)
    options = {
        "normalization": normalization,
        "lowercase": lowercase,
        "strip_accents": strip_accents,
        "space_punctuation": space_punctuation,
    }
    pairs = [
        (preprocess_sentence(english, **options), preprocess_sentence(other, **options))
        for english, other in pairs
    ]
    if reverse:
        pairs = [(other, english) for english, other in pairs]
    return pairs
