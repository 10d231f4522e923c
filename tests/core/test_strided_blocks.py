"""The PyTorch blocked window: overlapping views of the context, one fused call.

`core.strided_blocks` applies only on PyTorch (its views are
`Tensor.as_strided`); elsewhere it must step aside (`None`) for the explicit
blocks. On PyTorch: the windows' own backward against `as_strided`'s, and
the whole window against the explicit blocks for the layouts a layer hands
over (transposed views, several sequences, padding masks, ALiBi, a length
that is not a multiple of the block).
"""

import keras
import numpy as np
import pytest
from keras import ops

from keras_attention.core import strided_blocks, window_blocks
from keras_attention.core.windowed import sliding_window_attention

BACKEND = keras.backend.backend()
torch_only = pytest.mark.skipif(
    BACKEND != "torch", reason="the strided views are PyTorch's Tensor.as_strided"
)


def test_steps_aside_elsewhere_and_with_dropout():
    blocks = window_blocks.WindowBlocks(16, 3, 0, 4)
    query = key = value = ops.zeros((1, 2, 16, 4))
    mask = blocks.mask()
    args = (blocks, query, key, value, mask, None)
    expected_none = BACKEND != "torch"
    assert (strided_blocks.strided_blocks_attention(*args, None) is None) == (
        expected_none
    )
    # No fused kernel takes our dropout on the weights: explicit blocks then.
    assert strided_blocks.strided_blocks_attention(*args, lambda w: w) is None


@torch_only
@pytest.mark.parametrize("rows,step", [(12, 4), (4, 4), (15, 5)])
def test_window_gradient_matches_as_strided(rows, step):
    import torch

    rng = np.random.default_rng(0)
    count = 5
    length = (count - 1) * step + rows
    # A transposed view of (batch, L, heads, d), as the projections give it.
    x = torch.tensor(rng.standard_normal((2, length, 3, 4)), dtype=torch.float32)
    x = x.transpose(1, 2).requires_grad_()
    cotangent = torch.tensor(rng.standard_normal((count, 6, rows, 4)))
    windows = strided_blocks._windows(x, count, rows, step)
    (windows * cotangent).sum().backward()

    y = x.detach().contiguous().requires_grad_()
    expected = y.as_strided((count, 6, rows, 4), (step * 4, length * 4, 4, 1))
    np.testing.assert_array_equal(windows.detach(), expected.detach())
    (expected * cotangent).sum().backward()
    np.testing.assert_allclose(x.grad, y.grad, rtol=1e-6, atol=1e-6)
    assert x.grad.abs().max() > 0


@torch_only
@pytest.mark.parametrize("causal", [True, False], ids=["causal", "symmetric"])
@pytest.mark.parametrize("alibi", [False, True], ids=["plain", "alibi"])
# 37 is not a multiple of the block (8): the whole sequence is padded once;
# at 40 a causal window reads its context from the keys as they are, the
# first blocks from a padded copy of the first rows (`_block_ranges`).
@pytest.mark.parametrize("length", [37, 40])
def test_matches_explicit_blocks_with_gradients(causal, alibi, length, monkeypatch):
    import torch

    rng = np.random.default_rng(1)
    batch, heads = 3, 2

    def inputs():
        return [
            torch.tensor(rng.standard_normal((batch, length, heads, d)))
            .float()
            .transpose(1, 2)
            .requires_grad_()
            for d in (8, 8, 6)
        ]

    query_mask = rng.random((batch, length)) > 0.2
    key_mask = rng.random((batch, length)) > 0.2
    key_mask[-1] = False  # a sequence without keys: zero rows
    kwargs = dict(
        causal=causal,
        block_size=8,
        query_mask=query_mask,
        key_mask=key_mask,
        alibi_slopes=[0.5, 0.25] if alibi else None,
    )
    cotangent = torch.tensor(rng.standard_normal((batch, heads, length, 6))).float()
    results, first = [], inputs()
    for strided in (True, False):
        if not strided:
            monkeypatch.setattr(
                window_blocks, "strided_blocks_attention", lambda *args: None
            )
        xs = [x.detach().clone().requires_grad_() for x in first]
        output = sliding_window_attention(*xs, 9, **kwargs)
        (output * cotangent).sum().backward()
        results.append([output.detach(), *(x.grad for x in xs)])
    for got, expected in zip(*results, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert np.all(results[0][0].numpy()[-1] == 0.0)
    assert all(np.abs(g.numpy()).max() > 0 for g in results[1][1:])


@torch_only
def test_causal_whole_blocks_read_the_keys_unpadded():
    import torch

    key = torch.zeros((1, 2, 40, 4))
    causal = window_blocks.WindowBlocks(40, 8, 0, 8)  # window 9, blocks of 8
    ranges = strided_blocks._block_ranges(causal, key, key)
    assert [(first, n) for first, n, *_ in ranges] == [(0, 1), (1, 4)]
    assert ranges[1][2] is key  # no copy of the sequence
    assert tuple(ranges[0][2].shape) == (1, 2, 16, 4)  # 8 zero rows, 8 keys
    symmetric = window_blocks.WindowBlocks(40, 9, 9, 8)
    ranges = strided_blocks._block_ranges(symmetric, key, key)
    assert [(first, n) for first, n, *_ in ranges] == [(0, 5)]
