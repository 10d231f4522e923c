"""Text preprocessing and tokenizers: sentences to tokens and back.

`preprocess_sentence` cleans a sentence (Unicode form, case, accents,
spacing); `tokenize_words` / `detokenize_words` and the character tokenizer
split texts into tokens and join them back; `get_tokenizer` names them for
`Vocabulary` (`"words"`, `"characters"`, `"german_numbers"`). Plain Python,
the same on every Keras backend.
"""

import re
import unicodedata

_PUNCTUATION = re.compile(r"([^\w\s])")
_SPACES = re.compile(r"\s+")
_WORDS = re.compile(r"\w+|[^\w\s]")


def preprocess_sentence(
    text,
    normalization="NFC",
    lowercase=False,
    strip_accents=False,
    space_punctuation=False,
):
    """Cleans one sentence: Unicode normalisation, case, accents, spacing.

    Args:
        text (str): the sentence.
        normalization (str | None): Unicode normal form applied first (`"NFC"`,
            `"NFKC"`, `"NFD"`, `"NFKD"`) or `None` to leave the text as it is.
        lowercase (bool): whether to lower-case the text.
        strip_accents (bool): whether to drop combining marks (`"qué"` -> `"que"`),
            as the TensorFlow NMT tutorial does.
        space_punctuation (bool): whether to put spaces around every punctuation
            character (`"¿Qué?"` -> `"¿ Qué ?"`).

    Returns:
        The cleaned `str`, with runs of whitespace collapsed to one space and
        no leading or trailing whitespace.

    Example:

    ```python
    from keras_attention.datasets import preprocess_sentence

    text = preprocess_sentence(
        "¿Qué hora es?", lowercase=True, strip_accents=True, space_punctuation=True
    )
    assert text == "¿ que hora es ?"
    ```
    """
    if not isinstance(text, str):
        raise TypeError(f"`text` must be a str; received {type(text).__name__}.")
    if strip_accents:
        text = "".join(
            c
            for c in unicodedata.normalize("NFD", text)
            if unicodedata.category(c) != "Mn"
        )
    if normalization is not None:
        text = unicodedata.normalize(normalization, text)
    if lowercase:
        text = text.lower()
    if space_punctuation:
        text = _PUNCTUATION.sub(r" \1 ", text)
    return _SPACES.sub(" ", text).strip()


def tokenize_words(text):
    """Splits text into words and single punctuation characters.

    A word is a run of letters, digits or underscores; every other
    non-space character is a token of its own, so hyphenated words split
    (`"ninety-seven"` -> `["ninety", "-", "seven"]`) and so does `"05.01.2021"`.

    Args:
        text (str): the text.

    Returns:
        A list of token strings.

    Example:

    ```python
    from keras_attention.datasets import tokenize_words

    tokens = tokenize_words("one hundred and ninety-seven")
    assert tokens == ["one", "hundred", "and", "ninety", "-", "seven"]
    ```
    """
    return _WORDS.findall(text)


_DETOKENIZE_RULES = (
    (re.compile(r" ([,.!?;:)\]}%])"), r"\1"),  # no space before closers
    (re.compile(r"([¿¡(\[{]) "), r"\1"),  # no space after openers
    (re.compile(r" ?([-/']) ?"), r"\1"),  # hyphens, slashes, apostrophes join
    (re.compile(r"(\d)\. (?=\d)"), r"\1."),  # 05.01.2021
)


def detokenize_words(tokens):
    """Joins word tokens back into text: the inverse of `tokenize_words`.

    Tokens are joined with spaces, then no space is left before closing
    punctuation (`, . ! ? ; : ) %`), after opening punctuation (`¿ ¡ (`),
    around hyphens, slashes and apostrophes, or inside dotted digits.
    This restores exactly the texts of this package's generated corpora
    (number words and the dates of every format), which the tests check;
    for free text it is a best effort, so compare token lists there.

    Args:
        tokens (Sequence[str]): a sequence of token strings.

    Returns:
        The text, a `str`.

    Example:

    ```python
    from keras_attention.datasets import detokenize_words, tokenize_words

    text = "one thousand, two hundred and thirty-four"
    assert detokenize_words(tokenize_words(text)) == text
    ```
    """
    text = " ".join(tokens)
    for pattern, replacement in _DETOKENIZE_RULES:
        text = pattern.sub(replacement, text)
    return text


def tokenize_characters(text):
    """Splits text into characters, spaces included."""
    return list(text)


def detokenize_characters(tokens):
    """Joins characters back into text: the inverse of `tokenize_characters`."""
    return "".join(tokens)


def get_tokenizer(name):
    """Returns the `(tokenize, detokenize)` functions registered under `name`.

    Args:
        name (str): `"words"` (`tokenize_words`), `"characters"` (one token per
            character) or `"german_numbers"` (German number words split into
            sub-words, see `split_german_number_words`).

    Returns:
        A pair of functions: `str -> list[str]` and `list[str] -> str`.

    Example:

    ```python
    from keras_attention.datasets import get_tokenizer

    tokenize, detokenize = get_tokenizer("german_numbers")
    assert tokenize("siebenundneunzig") == ["sieben", "und", "neunzig"]
    assert detokenize(["sieben", "und", "neunzig"]) == "siebenundneunzig"
    ```
    """
    if name == "words":
        return tokenize_words, detokenize_words
    if name == "characters":
        return tokenize_characters, detokenize_characters
    if name == "german_numbers":
        from keras_attention.datasets.german_numbers import (
            join_german_number_words,
            split_german_number_words,
        )

        return split_german_number_words, join_german_number_words
    raise ValueError(
        "`tokenizer` must be one of 'words', 'characters', 'german_numbers' "
        f"or a (tokenize, detokenize) pair of functions; received {name!r}."
    )


def resolve_tokenizer(tokenizer):
    """`(name, tokenize, detokenize)` of a tokenizer name or function pair.

    The name is `None` for a `(tokenize, detokenize)` pair of functions (a
    vocabulary with such a tokenizer cannot be serialized).
    """
    if isinstance(tokenizer, str):
        return (tokenizer, *get_tokenizer(tokenizer))
    if (
        isinstance(tokenizer, (tuple, list))
        and len(tokenizer) == 2
        and all(callable(f) for f in tokenizer)
    ):
        return (None, *tokenizer)
    raise ValueError(
        "`tokenizer` must be one of 'words', 'characters', 'german_numbers' "
        f"or a (tokenize, detokenize) pair of functions; received {tokenizer!r}."
    )
