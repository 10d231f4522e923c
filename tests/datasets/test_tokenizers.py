"""Sentence preprocessing and the word and character tokenizers."""

import pytest

from keras_attention import datasets
from keras_attention.datasets import pairs, text, tokenizers, vocabulary


def test_character_tokenizer():
    vocab = datasets.Vocabulary.build(["ab c"], tokenizer="characters")
    assert vocab.decode(vocab.encode("c ba")) == "c ba"
    assert vocab.decode(vocab.encode("d")) == "<unk>"


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


def test_text_module_re_exports_the_concept_modules():
    """`keras_attention.datasets.text` keeps every name it held before the split."""
    for module in (tokenizers, vocabulary, pairs):
        for name in text.__all__:
            if hasattr(module, name):
                assert getattr(text, name) is getattr(module, name), name
    assert (text.PAD_ID, text.START_ID, text.END_ID, text.UNK_ID) == (0, 1, 2, 3)
    assert text.RESERVED_TOKENS == (text.PAD, text.START, text.END, text.UNK)
    assert text.tokenize_characters("ab c") == ["a", "b", " ", "c"]
    assert text.detokenize_characters(["a", " ", "b"]) == "a b"
    for name in ("Vocabulary", "TranslationData", "encode_pairs", "make_splits"):
        assert getattr(text, name) is getattr(datasets, name), name
