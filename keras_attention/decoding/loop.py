"""The decoding loop: a `keras.ops.while_loop` over fixed-shape buffers.

`_decode_one_per_step` is the loop of greedy search and sampling (one token
per step and sequence); beam search (`decoding.beam`) builds its own on the
same pieces.
"""

import contextlib

import keras
from keras import ops

from keras_attention.decoding.step import (
    _call_step,
    _check_end_token_in_vocab,
    _State,
)

# Score of a hypothesis that does not exist (the dead beams of step 0, or
# beams left over when `beam_size` exceeds the number of hypotheses), and
# the logit of a token sampling filtered out. Finite, so that sums and
# divisions never produce NaN.
_NEG = -1e9


def _while_loop(cond, body, loop_vars):
    """`ops.while_loop`, without autograd recording on eager PyTorch.

    Decoding cuts gradients at every step anyway (see
    `decoding.step._State.unpack`), so the result is the same;
    `torch.no_grad` only spares eager PyTorch from recording a graph for
    every op of every step (about a fifth of a cached Transformer step on a
    CPU). The other backends record nothing outside a gradient tape or
    transform.
    """
    context = contextlib.nullcontext()
    if keras.backend.backend() == "torch":
        import torch  # guarded fast path; the fallback is the same loop

        context = torch.no_grad()
    with context:
        return ops.while_loop(cond, body, loop_vars)


def _write(buffer, positions, index, values):
    """Write `values` (shape of `buffer` minus the last axis) at `index`."""
    return ops.where(positions == index, ops.expand_dims(values, -1), buffer)


def _decode_one_per_step(call, start, state, pick):
    """The loop shared by greedy search and sampling.

    `call` holds the checked arguments (a `decoding.step._Decoding`),
    `start` the int32 start tokens, `state` the `state` argument, and
    `pick(logits, index)` chooses the next token of every sequence.
    """
    step_fn, max_length = call.step_fn, call.max_length
    end_token, pad_token = call.end_token, call.pad_token
    state = _State(call.owner, state)
    zeros = start * 0
    positions = ops.arange(max_length, dtype="int32")
    tokens = ops.expand_dims(zeros, 1) + ops.full((1, max_length), pad_token, "int32")
    scores = ops.cast(zeros, "float32")
    finished = ops.not_equal(zeros, zeros)
    index = ops.convert_to_tensor(0, "int32")

    def cond(index, previous, tokens, scores, finished, leaves):
        running = ops.less(index, max_length)
        if end_token is None:
            return running
        return ops.logical_and(running, ops.logical_not(ops.all(finished)))

    def body(index, previous, tokens, scores, finished, leaves):
        logits, leaves = _call_step(step_fn, previous, state, leaves, index)
        _check_end_token_in_vocab(state.owner, end_token, logits.shape[-1])
        log_probs = ops.log_softmax(logits, axis=-1)
        token = ops.cast(pick(logits, index), "int32")
        token_log_prob = ops.take_along_axis(
            log_probs, ops.expand_dims(token, -1), axis=-1
        )[:, 0]
        scores = scores + ops.where(finished, 0.0, token_log_prob)
        token = ops.where(finished, pad_token, token)
        tokens = _write(tokens, positions, index, token)
        if end_token is not None:
            finished = ops.logical_or(finished, ops.equal(token, end_token))
        return index + 1, token, tokens, scores, finished, leaves

    loop_vars = (index, start, tokens, scores, finished, state.leaves)
    _, _, tokens, scores, _, _ = _while_loop(cond, body, loop_vars)
    return tokens, scores
