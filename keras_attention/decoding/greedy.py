"""Greedy search: the most probable token at every step."""

from keras import ops

from keras_attention.decoding.loop import _decode_one_per_step
from keras_attention.decoding.step import _Decoding, _prepare_start


def _argmax(logits, index):
    """The `pick` of greedy search: the most probable token of every row."""
    return ops.argmax(logits, axis=-1)


def greedy_search(
    step_fn, start_tokens, state, max_length, end_token=None, pad_token=0
):
    """Decode by choosing the most probable token at every step.

    Each step calls `step_fn(tokens, state, index) -> (logits, new_state)`
    with the previous tokens (`start_tokens` at step 0) and keeps the
    `argmax` of the logits. A sequence that emitted `end_token` is finished:
    its later positions hold `pad_token` (which is also what `step_fn`
    receives for it), its score stops changing, and the loop stops as soon
    as every sequence is finished.

    Args:
        step_fn (Callable): `(tokens, state, index) -> (logits, new_state)`;
            `tokens` int32 `(batch,)`, `index` int32 scalar step number,
            `logits` float `(batch, vocab)` (unnormalised logits or
            log-probabilities). `new_state` must keep the structure, shapes
            and dtypes of `state`.
        start_tokens (Tensor): int `(batch,)`, the input of the first step
            (e.g. the start-of-sequence id).
        state (Any): nested structure (dict/list/tuple, or `None`) of tensors
            whose first axis is the batch, passed to and returned by `step_fn`.
        max_length (int): the number of tokens to generate at most (> 0).
        end_token (int | None): id that ends a sequence, or `None` to always
            generate `max_length` tokens.
        pad_token (int): id written after `end_token`. Defaults to `0`.

    Returns:
        A tuple `(tokens, scores)`: int32 `(batch, max_length)` generated
        tokens (the end token included, padding after it) and float32
        `(batch,)` sums of the log-probabilities of the generated tokens up
        to and including the end token.

    Example:

    ```python
    import numpy as np
    from keras import ops
    from keras_attention.decoding import greedy_search

    # A Markov chain over 3 tokens: next-token log-probabilities by token.
    table = ops.convert_to_tensor(
        np.log([[0.1, 0.6, 0.3], [0.2, 0.1, 0.7], [0.8, 0.1, 0.1]]), "float32"
    )

    def step_fn(tokens, state, index):
        return ops.take(table, tokens, axis=0), state

    tokens, scores = greedy_search(
        step_fn, ops.array([0, 2], "int32"), None, max_length=4, end_token=0
    )
    print(ops.convert_to_numpy(tokens))  # [[1 2 0 0], [0 0 0 0]]
    ```
    """
    call = _Decoding("greedy_search", step_fn, max_length, end_token, pad_token)
    start = _prepare_start(call.owner, start_tokens)
    return _decode_one_per_step(call, start, state, _argmax)
