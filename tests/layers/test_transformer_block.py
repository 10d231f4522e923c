"""The blocks' shared base (layers/transformer_block.py): arguments, seeds."""

import warnings

import numpy as np
import pytest

from keras_attention import (
    TransformerDecoder,
    TransformerDecoderBlock,
    TransformerEncoder,
    TransformerEncoderBlock,
)


@pytest.mark.parametrize(
    "make, argument",
    [
        (lambda: TransformerEncoderBlock(0, 2), "intermediate_dim"),
        (lambda: TransformerEncoderBlock(8, 0), "num_heads"),
        (lambda: TransformerDecoderBlock(8, 2, dropout=1.0), "dropout"),
        (
            lambda: TransformerDecoderBlock(8, 2, position_embedding="x"),
            "position_embedding",
        ),
    ],
)
def test_arguments_are_validated(make, argument):
    with pytest.raises(ValueError, match=f"`{argument}`"):
        make()


def test_hidden_size_must_split_into_heads():
    with pytest.raises(ValueError, match="num_heads"):
        TransformerEncoderBlock(8, 3)(np.zeros((1, 2, 8), "float32"))


@pytest.mark.parametrize("cls", [TransformerEncoder, TransformerDecoder])
def test_norm_first_is_the_deprecated_spelling_of_normalize_first(cls):
    with pytest.warns(DeprecationWarning, match=r"`norm_first` is deprecated; use"):
        old = cls(12, 2, norm_first=True)
    assert old.normalize_first is True and old.norm_first is True
    config = cls(12, 2, normalize_first=True).get_config()
    assert config["normalize_first"] is True and "norm_first" not in config
    config["norm_first"] = config.pop("normalize_first")
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        assert cls.from_config(config).normalize_first is True
    with pytest.raises(ValueError, match="received both `normalize_first`"):
        cls(12, 2, normalize_first=True, norm_first=False)


def test_seed_reaches_the_dropout_layers_and_the_config():
    block = TransformerDecoder(12, 2, dropout=0.1, seed=5)
    block(np.zeros((2, 3, 8), "float32"), np.zeros((2, 4, 8), "float32"))
    seeds = [
        layer.seed
        for layer in (
            block.self_attention_dropout,
            block.cross_attention_dropout,
            block.ffn_dropout,
        )
    ]
    assert None not in seeds and len(set(seeds)) == 3
    assert block.get_config()["seed"] == 5
    assert TransformerDecoder.from_config(block.get_config()).seed == 5
    with pytest.raises(TypeError, match="TransformerEncoder: `seed` must be an int"):
        TransformerEncoder(12, 2, seed=1.5)
