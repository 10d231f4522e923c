"""Word vocabularies: token <-> id maps with reserved special tokens.

Ids 0-3 are reserved for padding, start, end and unknown tokens, so padded
arrays work with `keras.layers.Embedding(mask_zero=True)`.
"""

import collections

import numpy as np

from keras_attention.datasets.tokenizers import resolve_tokenizer

PAD = "<pad>"
START = "<start>"
END = "<end>"
UNK = "<unk>"
RESERVED_TOKENS = (PAD, START, END, UNK)
PAD_ID, START_ID, END_ID, UNK_ID = range(4)


class Vocabulary:
    """Maps tokens to integer ids and back, with reserved special tokens.

    Ids 0-3 are reserved: 0 is padding (`"<pad>"`, so that
    `keras.layers.Embedding(mask_zero=True)` masks it), 1 the start token
    (`"<start>"`), 2 the end token (`"<end>"`) and 3 the unknown token
    (`"<unk>"`), which stands for every token not in the vocabulary. The
    other tokens follow from id 4 on.

    Args:
        tokens (Sequence[str]): the ordinary tokens, in id order (ids 4, 5, ...); they
            must be distinct and must not include the reserved tokens.
        tokenizer (str | tuple[Callable, Callable]): how texts are split into tokens and
            joined back: a name for `get_tokenizer` (`"words"`, `"characters"`,
            `"german_numbers"`) or a `(tokenize, detokenize)` pair of functions.

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
        self.tokenizer_name, self._tokenize, self._detokenize = resolve_tokenizer(
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
            texts (Iterable[str]): an iterable of `str` (use the training split only).
            tokenizer (str | tuple[Callable, Callable]): see the class arguments.
            min_count (int): tokens seen fewer times are left out (they will
                encode as the unknown token).
            max_size (int | None): the largest vocabulary size, reserved ids included;
                `None` for no limit.

        Returns:
            A `Vocabulary`.
        """
        if max_size is not None and max_size < len(RESERVED_TOKENS):
            raise ValueError(
                f"`max_size` must be at least {len(RESERVED_TOKENS)} (the "
                f"reserved tokens); received max_size={max_size}."
            )
        _, tokenize, _ = resolve_tokenizer(tokenizer)
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
            text (str): the text.
            add_start (bool): whether to put the start id first.
            add_end (bool): whether to put the end id last.

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
            ids (Sequence[int] | np.ndarray): a sequence (or 1-D array) of ids.

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
            ids (Sequence[int] | np.ndarray): a sequence (or 1-D array) of ids, such as
                a row of `encode_pairs(...)["decoder_target"]` or a model's argmax.

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
