"""Shared text utilities: preprocessing, tokenizers, vocabularies, padding, splits.

Everything here is plain Python and NumPy, so it behaves the same on every
Keras backend and is deterministic given a seed.
"""

import collections
import dataclasses
import re
import unicodedata

import numpy as np

PAD = "<pad>"
START = "<start>"
END = "<end>"
UNK = "<unk>"
RESERVED_TOKENS = (PAD, START, END, UNK)
PAD_ID, START_ID, END_ID, UNK_ID = range(4)

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
        text: the sentence, a `str`.
        normalization: Unicode normal form applied first (`"NFC"`, `"NFKC"`,
            `"NFD"`, `"NFKD"`) or `None` to leave the text as it is.
        lowercase: whether to lower-case the text.
        strip_accents: whether to drop combining marks (`"qué"` -> `"que"`),
            as the TensorFlow NMT tutorial does.
        space_punctuation: whether to put spaces around every punctuation
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
        text: a `str`.

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
        tokens: a sequence of token strings.

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
        name: `"words"` (`tokenize_words`), `"characters"` (one token per
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
        from keras_attention.datasets.number_words import (
            join_german_number_words,
            split_german_number_words,
        )

        return split_german_number_words, join_german_number_words
    raise ValueError(
        "`tokenizer` must be one of 'words', 'characters', 'german_numbers' "
        f"or a (tokenize, detokenize) pair of functions; received {name!r}."
    )


def _resolve_tokenizer(tokenizer):
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


class Vocabulary:
    """Maps tokens to integer ids and back, with reserved special tokens.

    Ids 0-3 are reserved: 0 is padding (`"<pad>"`, so that
    `keras.layers.Embedding(mask_zero=True)` masks it), 1 the start token
    (`"<start>"`), 2 the end token (`"<end>"`) and 3 the unknown token
    (`"<unk>"`), which stands for every token not in the vocabulary. The
    other tokens follow from id 4 on.

    Args:
        tokens: the ordinary tokens, in id order (ids 4, 5, ...); they must
            be distinct and must not include the reserved tokens.
        tokenizer: how texts are split into tokens and joined back: a name
            for `get_tokenizer` (`"words"`, `"characters"`,
            `"german_numbers"`) or a `(tokenize, detokenize)` pair of
            functions.

    Returns:
        A `Vocabulary`; `Vocabulary.build(texts)` makes one from a corpus.

    Example:

    ```python
    from keras_attention.datasets import Vocabulary

    vocab = Vocabulary.build(["one hundred and five", "five"])
    ids = vocab.encode("five hundred", add_end=True)
    assert ids[-1] == vocab.end_id and len(ids) == 3
    assert vocab.decode(ids) == "five hundred"
    assert vocab.decode(vocab.encode("six")) == "<unk>"
    ```
    """

    def __init__(self, tokens, tokenizer="words"):
        tokens = list(tokens)
        reserved = set(RESERVED_TOKENS).intersection(tokens)
        if reserved:
            raise ValueError(
                f"`tokens` must not contain the reserved tokens; found {reserved}."
            )
        if len(set(tokens)) != len(tokens):
            raise ValueError("`tokens` must be distinct.")
        self.tokenizer_name, self._tokenize, self._detokenize = _resolve_tokenizer(
            tokenizer
        )
        self.tokens = list(RESERVED_TOKENS) + tokens
        self._ids = {token: i for i, token in enumerate(self.tokens)}

    pad_id = PAD_ID
    start_id = START_ID
    end_id = END_ID
    unknown_id = UNK_ID

    @classmethod
    def build(cls, texts, tokenizer="words", min_count=1, max_size=None):
        """Builds a vocabulary from the tokens of `texts`.

        Tokens are ordered by decreasing count, ties alphabetically, so the
        result depends only on the texts, not on their order.

        Args:
            texts: an iterable of `str` (use the training split only).
            tokenizer: see the class arguments.
            min_count: tokens seen fewer times are left out (they will
                encode as the unknown token).
            max_size: the largest vocabulary size, reserved ids included;
                `None` for no limit.

        Returns:
            A `Vocabulary`.
        """
        if max_size is not None and max_size < len(RESERVED_TOKENS):
            raise ValueError(
                f"`max_size` must be at least {len(RESERVED_TOKENS)} (the "
                f"reserved tokens); received max_size={max_size}."
            )
        _, tokenize, _ = _resolve_tokenizer(tokenizer)
        counts = collections.Counter()
        for text in texts:
            counts.update(tokenize(text))
        for token in RESERVED_TOKENS:
            counts.pop(token, None)
        ordered = sorted(
            (t for t, c in counts.items() if c >= min_count),
            key=lambda t: (-counts[t], t),
        )
        if max_size is not None:
            ordered = ordered[: max_size - len(RESERVED_TOKENS)]
        return cls(ordered, tokenizer=tokenizer)

    @property
    def size(self):
        """The number of ids, reserved ones included (the `input_dim`)."""
        return len(self.tokens)

    def __len__(self):
        return self.size

    def __contains__(self, token):
        return token in self._ids

    def __repr__(self):
        return f"Vocabulary(size={self.size}, tokenizer={self.tokenizer_name!r})"

    def token_to_id(self, token):
        """The id of `token`, or the unknown id for a token not in the vocabulary."""
        return self._ids.get(token, UNK_ID)

    def id_to_token(self, token_id):
        """The token of id `token_id`."""
        return self.tokens[int(token_id)]

    def tokenize(self, text):
        """Splits `text` into tokens with this vocabulary's tokenizer."""
        return self._tokenize(text)

    def detokenize(self, tokens):
        """Joins tokens into text with this vocabulary's tokenizer."""
        return self._detokenize(list(tokens))

    def encode(self, text, add_start=False, add_end=False):
        """Encodes one text into a list of ids.

        Args:
            text: a `str`.
            add_start: whether to put the start id first.
            add_end: whether to put the end id last.

        Returns:
            A list of `int`.
        """
        ids = [self.token_to_id(t) for t in self._tokenize(text)]
        if add_start:
            ids.insert(0, START_ID)
        if add_end:
            ids.append(END_ID)
        return ids

    def decode_tokens(self, ids):
        """Turns ids into tokens, stopping at the first end id.

        Padding and start ids are dropped; unknown ids become `"<unk>"`.

        Args:
            ids: a sequence (or 1-D array) of ids.

        Returns:
            A list of token strings.
        """
        tokens = []
        for token_id in np.asarray(ids).reshape(-1).tolist():
            if token_id == END_ID:
                break
            if token_id in (PAD_ID, START_ID):
                continue
            tokens.append(self.tokens[token_id])
        return tokens

    def decode(self, ids):
        """Turns ids back into text, stopping at the first end id.

        Args:
            ids: a sequence (or 1-D array) of ids, such as a row of
                `encode_pairs(...)["decoder_target"]` or a model's argmax.

        Returns:
            The text, a `str`.
        """
        return self._detokenize(self.decode_tokens(ids))

    def get_config(self):
        """The vocabulary as a JSON-friendly `dict` (see `from_config`)."""
        if self.tokenizer_name is None:
            raise ValueError(
                "A Vocabulary with a custom tokenizer cannot be serialized; "
                "use a named tokenizer."
            )
        return {
            "tokens": self.tokens[len(RESERVED_TOKENS) :],
            "tokenizer": self.tokenizer_name,
        }

    @classmethod
    def from_config(cls, config):
        """Rebuilds a vocabulary from `get_config()`."""
        return cls(**config)


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
        pairs: a sequence of `(source_text, target_text)`.
        source_vocab: the `Vocabulary` of the source texts.
        target_vocab: the `Vocabulary` of the target texts.
        max_source_length: the width of `"source"`; `None` for the longest
            source in `pairs`.
        max_target_length: the width of `"decoder_input"` and
            `"decoder_target"` (target tokens plus one); `None` for the
            longest target in `pairs` plus one.
        truncate: what to do with a sequence longer than its width: `False`
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
        train: list of `(source_text, target_text)` pairs to train on.
        validation: list of pairs for model selection and early stopping.
        test: list of held-out pairs for the final evaluation.

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
        pairs: a sequence of `(source_text, target_text)`.
        validation: the share of source texts for validation: a float
            fraction in [0, 1) of all distinct source texts, or an int count.
        test: the share for the held-out test split, likewise.
        seed: the random seed of the shuffle.
        keep_in_train: source texts (or pairs) that always go to the training
            split, e.g. `number_pairs(range(100))` so that a model sees every
            number word below 100; `None` for none.
        deduplicate: whether to drop repeated identical pairs.

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
