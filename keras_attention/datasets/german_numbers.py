"""The German number-word tokenizer: compounds into sub-words and back.

German numbers below a million are single compound words
("siebenundneunzig"); `split_german_number_words` cuts them into their parts
("sieben", "und", "neunzig") so that a vocabulary of a few dozen tokens covers
every number, and `join_german_number_words` glues them back. This is the
`"german_numbers"` tokenizer of `get_tokenizer`.
"""

import re

from keras_attention.datasets.tokenizers import detokenize_words, tokenize_words

# German number morphemes below a million. Teens and tens are whole tokens;
# greedy longest match splits every compound (e.g. "achtzehn" stays whole,
# "achtundachtzig" is "acht und achtzig").
GERMAN_NUMBER_MORPHEMES = (
    "null",
    "ein",
    "eins",
    "zwei",
    "drei",
    "vier",
    "fünf",
    "sechs",
    "sieben",
    "acht",
    "neun",
    "zehn",
    "elf",
    "zwölf",
    "dreizehn",
    "vierzehn",
    "fünfzehn",
    "sechzehn",
    "siebzehn",
    "achtzehn",
    "neunzehn",
    "zwanzig",
    "dreißig",
    "vierzig",
    "fünfzig",
    "sechzig",
    "siebzig",
    "achtzig",
    "neunzig",
    "hundert",
    "tausend",
    "und",
)
_MORPHEME = re.compile("|".join(sorted(GERMAN_NUMBER_MORPHEMES, key=len, reverse=True)))


def split_german_number_words(text):
    """Splits German number words into sub-word tokens.

    Each compound is cut at its units, teens, tens, "hundert", "tausend"
    and "und"; punctuation (the ", " between the numbers of a list) is a
    token of its own. `join_german_number_words` is the exact inverse.

    Args:
        text (str): German number words below a million, e.g.
            `"zwölf, neunhundertvier"`. Words must be separated by
            punctuation, not by spaces alone.

    Returns:
        A list of token strings.

    Raises:
        ValueError: if a word is not made of German number morphemes.

    Example:

    ```python
    from keras_attention.datasets import split_german_number_words

    tokens = split_german_number_words("zwölf, neunhundertvier")
    assert tokens == ["zwölf", ",", "neun", "hundert", "vier"]
    ```
    """
    tokens = []
    for word in tokenize_words(text):
        if not word[0].isalnum():
            tokens.append(word)
            continue
        parts = _MORPHEME.findall(word)
        if "".join(parts) != word:
            raise ValueError(
                f"{word!r} is not made of German number morphemes "
                f"({', '.join(GERMAN_NUMBER_MORPHEMES)})."
            )
        tokens.extend(parts)
    return tokens


def join_german_number_words(tokens):
    """Joins sub-word tokens back into German number words.

    The inverse of `split_german_number_words`: consecutive sub-words are
    concatenated into one word, and punctuation is spaced as in
    `detokenize_words` (", " between the numbers of a list).

    Args:
        tokens (Sequence[str]): a sequence of sub-word and punctuation tokens, such as
            `split_german_number_words` makes.

    Returns:
        The German number words, a `str`.

    Example:

    ```python
    from keras_attention.datasets import join_german_number_words

    tokens = ["sieben", "und", "neunzig", ",", "zwei", "tausend"]
    assert join_german_number_words(tokens) == "siebenundneunzig, zweitausend"
    ```
    """
    words = []
    glue = False
    for token in tokens:
        if token and token[0].isalnum():
            if glue:
                words[-1] += token
            else:
                words.append(token)
            glue = True
        else:
            words.append(token)
            glue = False
    return detokenize_words(words)
