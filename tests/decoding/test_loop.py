"""The decoding loop (keras_attention.decoding.loop), for every decoder:
end tokens, padding, early stopping, the threaded state and no autograd
graph on PyTorch."""

import keras
import numpy as np
import pytest
from decoding_models import (
    BACKEND,
    DECODERS,
    counting,
    expected_index_tokens,
    index_model,
    to_np,
)
from keras import ops


@pytest.mark.skipif(
    BACKEND != "torch",
    reason="only eager PyTorch records an autograd graph in a forward loop; JAX "
    "and TensorFlow record nothing outside a gradient transformation or tape",
)
@pytest.mark.parametrize("decoder", sorted(DECODERS))
def test_decoding_keeps_no_autograd_graph_across_steps(decoder):
    # A trainable weight in the step: without the cut, the state of step t
    # would carry the autograd graph of every step before it.
    weight = keras.Variable(np.full((3, 3), 0.5, "float32"))
    received, recorded = [], []

    def step_fn(tokens, state, index):
        received.append(state["h"].requires_grad)
        h = ops.tanh(ops.matmul(state["h"], weight))
        # The loop runs under torch.no_grad: not even one step's graph is
        # recorded.
        recorded.append(h.requires_grad)
        return ops.matmul(h, weight), {"h": h}

    start = np.zeros((2,), "int32")
    tokens, scores = DECODERS[decoder](
        step_fn, start, {"h": np.ones((2, 3), "float32")}, 5
    )
    assert len(received) >= 5 and not any(received)
    assert len(recorded) == len(received) and not any(recorded)
    assert not scores.requires_grad and not tokens.requires_grad
    # Gradient recording is back on after decoding.
    assert ops.matmul(ops.ones((2, 3)), weight).requires_grad


@pytest.mark.parametrize("decoder", sorted(DECODERS))
def test_end_token_padding_and_early_stop(decoder):
    """Items end at steps 4, 1, 3 and 2; everything after is padding, and
    the loop stops after the step where the last item ends."""
    vocab, max_length, end_token, pad = 10, 12, 7, 9
    offsets = [9, 5, 1, 3]  # (offset + 2 * i) % 10 == 7 at i = 4, 1, 3, 2
    step_fn, make_state = index_model(vocab)
    counted, calls = counting(step_fn)
    tokens, scores = DECODERS[decoder](
        counted,
        np.zeros(4, "int32"),
        make_state(offsets),
        max_length,
        end_token=end_token,
        pad_token=pad,
    )
    expected = expected_index_tokens(offsets, vocab, max_length, end_token, pad)
    np.testing.assert_array_equal(to_np(tokens), expected)
    assert to_np(tokens).dtype == np.int32
    assert calls() == [0, 1, 2, 3, 4]
    np.testing.assert_allclose(to_np(scores), 0.0, atol=1e-5)


@pytest.mark.parametrize("decoder", sorted(DECODERS))
def test_no_end_token_runs_max_length(decoder):
    vocab, max_length = 10, 6
    step_fn, make_state = index_model(vocab)
    counted, calls = counting(step_fn)
    offsets = [0, 4, 7]
    tokens, _ = DECODERS[decoder](
        counted, np.zeros(3, "int32"), make_state(offsets), max_length
    )
    expected = expected_index_tokens(offsets, vocab, max_length, None, 0)
    np.testing.assert_array_equal(to_np(tokens), expected)
    assert calls() == list(range(max_length))
