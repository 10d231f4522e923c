"""TransformerEncoder (layers/transformer_encoder.py)."""

import keras
import numpy as np
import pytest
from harness import CHECKS, LayerCase, run_check, to_numpy
from keras import ops

from keras_attention import TransformerEncoder, TransformerEncoderBlock

CASES = [
    LayerCase(
        TransformerEncoderBlock,
        {"intermediate_dim": 12, "num_heads": 2},
        {"inputs": (2, 5, 8)},
        mask_inputs=("inputs",),
        id="post-norm",
    ),
    LayerCase(
        TransformerEncoderBlock,
        {
            "intermediate_dim": 12,
            "num_heads": 2,
            "normalize_first": True,
            "dropout": 0.1,
            "position_embedding": "rope",
        },
        {"inputs": (2, 5, 8)},
        mask_inputs=("inputs",),
        id="pre-norm-rope",
    ),
]


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_keras_contract(case, check, tmp_path):
    run_check(case, check, tmp_path)


RNG = np.random.default_rng(0)


def _keras_hub_encoder(block, x, padding_mask=None, attention_mask=None):
    """keras-hub's TransformerEncoder.call, written out with Keras' own layers.

    keras-hub merges the padding mask into the attention mask and runs Keras'
    MultiHeadAttention; the residual branches are the same as ours.
    """
    mha = keras.layers.MultiHeadAttention(
        block.num_heads, x.shape[-1] // block.num_heads
    )
    mha.build(x.shape, x.shape)
    ours = block.self_attention
    mha.set_weights(
        [
            to_numpy(w)
            for w in (
                ours.query_kernel,
                ours.query_bias,
                ours.key_kernel,
                ours.key_bias,
                ours.value_kernel,
                ours.value_bias,
                ours.output_kernel,
                ours.output_bias,
            )
        ]
    )
    mask = attention_mask
    if padding_mask is not None:
        pad = padding_mask[:, None, :] & padding_mask[:, :, None]
        mask = pad if mask is None else mask & pad
    x = ops.convert_to_tensor(x)
    h = x
    if block.normalize_first:
        h = block.self_attention_norm(h)
    h = mha(h, h, attention_mask=mask) + x
    if not block.normalize_first:
        h = block.self_attention_norm(h)
    f = block.ffn_norm(h) if block.normalize_first else h
    out = block.ffn_output(block.ffn_intermediate(f)) + h
    return out if block.normalize_first else block.ffn_norm(out)


@pytest.mark.parametrize("normalize_first", [False, True])
def test_encoder_arguments_mean_what_keras_hub_means(normalize_first):
    x = RNG.normal(size=(2, 5, 8)).astype("float32")
    block = TransformerEncoder(
        intermediate_dim=12,
        num_heads=2,
        dropout=0.0,
        activation="gelu",
        layer_norm_epsilon=1e-6,
        kernel_initializer="he_normal",
        bias_initializer="ones",
        normalize_first=normalize_first,
    )
    block(x)
    assert block.self_attention_norm.epsilon == 1e-6
    assert block.ffn_intermediate.activation is keras.activations.gelu
    np.testing.assert_array_equal(to_numpy(block.ffn_output.bias), 1.0)
    attention_mask = np.tril(np.ones((2, 5, 5), bool)) | np.eye(5, k=2, dtype=bool)
    padding_mask = np.array([[True] * 5, [True] * 3 + [False] * 2])
    got = block(x, padding_mask=padding_mask, attention_mask=attention_mask)
    expected = _keras_hub_encoder(block, x, padding_mask, attention_mask)
    real = padding_mask[..., None]  # padded steps: ours are zeroed inputs
    np.testing.assert_allclose(
        to_numpy(got) * real, to_numpy(expected) * real, atol=1e-5
    )


def test_encoder_returns_attention_scores():
    x = RNG.normal(size=(2, 5, 8)).astype("float32")
    block = TransformerEncoder(12, 2)
    out, scores = block(x, return_attention_scores=True, use_causal_mask=True)
    np.testing.assert_allclose(
        to_numpy(out), to_numpy(block(x, use_causal_mask=True)), atol=1e-6
    )
    scores = to_numpy(scores)
    assert scores.shape == (2, 2, 5, 5)
    np.testing.assert_allclose(scores.sum(-1), 1.0, atol=1e-5)
    assert np.all(np.triu(scores, 1) == 0)
    symbolic = keras.Input((5, 8))
    out, scores = TransformerEncoder(12, 2)(symbolic, return_attention_scores=True)
    assert tuple(out.shape) == (None, 5, 8)
    assert tuple(scores.shape) == (None, 2, 5, 5)
