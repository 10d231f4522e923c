"""AlibiBias: keras-hub's arguments over our positions core."""

import numpy as np
import pytest
from harness import CHECKS, LayerCase, run_check, to_numpy

import keras_attention
from keras_attention import AlibiBias, MultiHeadAttention
from keras_attention.core.positions import alibi_bias, alibi_slopes

CASES = [
    LayerCase(AlibiBias, {}, {"attention_scores": (2, 4, 5, 5)}),
    LayerCase(
        AlibiBias, {"alibi_bias_max": 6}, {"attention_scores": (2, 3, 2, 5)}, id="b6"
    ),
]


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_keras_contract(case, check, tmp_path):
    run_check(case, check, tmp_path)


RNG = np.random.default_rng(0)


@pytest.mark.parametrize(
    ("make", "error", "words"),
    [
        (lambda: AlibiBias(alibi_bias_max=0), ValueError, "`alibi_bias_max`"),
        (lambda: AlibiBias()(np.ones((2, 3, 4))), ValueError, "`attention_scores`"),
    ],
)
def test_bad_arguments_are_named(make, error, words):
    with pytest.raises(error, match=words) as caught:
        make()
    assert "AlibiBias: " in str(caught.value)


def keras_hub_slopes(num_heads, alibi_bias_max=8):
    """keras-hub's AlibiBias._get_slopes, from the formula in its docstring."""

    def power_of_two(n):
        start = 2 ** (-(2 ** -(np.log2(n) - np.log2(alibi_bias_max))))
        return [start * start**i for i in range(n)]

    if np.log2(num_heads).is_integer():
        return power_of_two(num_heads)
    lower = 2 ** int(np.floor(np.log2(num_heads)))
    return (
        power_of_two(lower)
        + keras_hub_slopes(2 * lower, alibi_bias_max)[0::2][: num_heads - lower]
    )


@pytest.mark.parametrize("num_heads", [1, 3, 4, 6, 8, 12])
@pytest.mark.parametrize("alibi_bias_max", [8, 4, 6])
def test_alibi_bias_matches_keras_hub(num_heads, alibi_bias_max):
    scores = RNG.normal(size=(2, num_heads, 3, 5)).astype("float32")
    layer = AlibiBias(alibi_bias_max=alibi_bias_max)
    slopes = np.array(keras_hub_slopes(num_heads, alibi_bias_max))
    np.testing.assert_allclose(layer.slopes(num_heads), slopes, rtol=1e-12)
    if alibi_bias_max == 8:
        np.testing.assert_allclose(slopes, alibi_slopes(num_heads), rtol=1e-12)
    bias = slopes[None, :, None, None] * (np.arange(5) - 4)[None, None, None, :]
    np.testing.assert_allclose(to_numpy(layer(scores)), scores + bias, atol=1e-6)


def test_alibi_weights_equal_multi_head_attentions_alibi_under_a_causal_mask():
    """keras-hub's bias differs from the paper's -m (i - j) by a row constant."""
    scores = RNG.normal(size=(2, 4, 6, 6)).astype("float32")
    causal = np.tril(np.ones((6, 6), bool))
    ours = to_numpy(AlibiBias()(scores))
    paper = scores + to_numpy(alibi_bias(4, 6, 6, causal=True))

    def softmax(s):
        s = np.where(causal, s, -np.inf)
        e = np.exp(s - s.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    np.testing.assert_allclose(softmax(ours), softmax(paper), atol=1e-6)
    assert MultiHeadAttention(4, 2, position_embedding="alibi").num_heads == 4


def test_exported_from_both_namespaces():
    assert "AlibiBias" in keras_attention.__all__
    assert keras_attention.layers.AlibiBias is keras_attention.AlibiBias
