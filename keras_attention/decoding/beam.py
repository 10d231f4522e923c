"""Beam search: the `beam_size` best hypotheses per batch item.

`beam_search` checks its arguments and hands them to `_BeamSearch`, whose
named steps are the loop's `cond` (`settled_items`) and `body` (score the
candidates, choose the best, follow their parents), and the final ranking.
"""

import numbers

from keras import ops

from keras_attention.core.validation import check_positive_int
from keras_attention.decoding.loop import _NEG, _while_loop, _write
from keras_attention.decoding.step import (
    _call_step,
    _check_end_token_in_vocab,
    _check_step_fn,
    _check_token,
    _prepare_start,
    _State,
)


def _check_length_penalty(owner, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(
            f"{owner}: `length_penalty` must be a real number; "
            f"received length_penalty={value!r}."
        )
    value = float(value)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(
            f"{owner}: `length_penalty` must be finite; received "
            f"length_penalty={value!r}."
        )
    return value


def _length_penalty(length, alpha):
    """GNMT length penalty `((5 + length) / 6) ** alpha` (Wu et al., 2016)."""
    length = ops.cast(length, "float32")
    if alpha == 0.0:
        return ops.ones_like(length)
    return ops.power((5.0 + length) / 6.0, alpha)


def _expand_leaf(leaf, beam_size):
    """Repeat a batch-first state tensor once per beam (rank 0: shared)."""
    if len(leaf.shape) == 0:
        return leaf
    return ops.repeat(leaf, beam_size, axis=0)


def _reorder_leaf(leaf, flat_parents):
    if len(leaf.shape) == 0:
        return leaf
    return ops.take(leaf, flat_parents, axis=0)


def _by_parent(x, flat_parents):
    """`(B, K, ...)` -> the same, every row taken from its parent beam."""
    flat = ops.reshape(x, (-1,) + tuple(x.shape[2:]))
    return ops.reshape(ops.take(flat, flat_parents, axis=0), ops.shape(x))


def _flat_parents(parents, beams):
    """`(B * K,)` rows of the `(B, K)` parent beams in the flat batch."""
    items = ops.arange(ops.shape(parents)[0], dtype="int32")
    return ops.reshape(ops.expand_dims(items, 1) * beams + parents, (-1,))


class _BeamSearch:
    """One beam search: its checked arguments and the steps of its loop.

    The loop variables are `(index, previous, sequences, raw_scores,
    lengths, finished, leaves)`: the int32 step, the `(B * K,)` previous
    tokens, the `(B, K, max_length)` hypotheses, their `(B, K)` unpenalised
    scores, lengths and end flags, and the state leaves with `B * K` rows
    (`B` batch items, `K = beam_size` beams each).
    """

    owner = "beam_search"

    def __init__(self, step_fn, max_length, beam_size, end_token, alpha, pad_token):
        owner = self.owner
        _check_step_fn(owner, step_fn)
        self.step_fn = step_fn
        self.max_length = check_positive_int(owner, "max_length", max_length)
        self.beams = check_positive_int(owner, "beam_size", beam_size)
        self.end_token = _check_token(owner, "end_token", end_token, allow_none=True)
        self.pad_token = _check_token(owner, "pad_token", pad_token, allow_none=False)
        self.alpha = _check_length_penalty(owner, alpha)

    def run(self, start_tokens, state, return_all_beams):
        if not isinstance(return_all_beams, bool):
            raise TypeError(
                f"{self.owner}: `return_all_beams` must be a bool; "
                f"received return_all_beams={return_all_beams!r}."
            )
        start = _prepare_start(self.owner, start_tokens)
        self.state = _State(self.owner, state)
        self.positions = ops.arange(self.max_length, dtype="int32")
        outputs = _while_loop(self.cond, self.body, self.initial(start))
        _, _, sequences, raw_scores, lengths, _, _ = outputs
        return self.ranked(sequences, raw_scores, lengths, return_all_beams)

    def initial(self, start):
        """The loop variables of step 0."""
        beams = self.beams
        zeros = ops.expand_dims(start * 0, 1) + ops.zeros((1, beams), "int32")  # (B, K)
        sequences = ops.expand_dims(zeros, -1) + ops.full(
            (1, 1, self.max_length), self.pad_token, "int32"
        )
        # Only the first beam of each item is live at the start.
        first_beam = ops.expand_dims(ops.equal(ops.arange(beams, dtype="int32"), 0), 0)
        raw_scores = ops.where(first_beam, 0.0, _NEG) + ops.cast(zeros, "float32")
        finished = ops.not_equal(zeros, zeros)
        previous = ops.repeat(start, beams, axis=0)
        leaves = tuple(_expand_leaf(leaf, beams) for leaf in self.state.leaves)
        index = ops.convert_to_tensor(0, "int32")
        return (index, previous, sequences, raw_scores, zeros, finished, leaves)

    def settled_items(self, index, raw_scores, lengths, finished):
        """(B,) bool: items whose best finished hypothesis cannot be beaten.

        Log-probabilities are <= 0, so a live hypothesis' raw score only
        decreases; its penalised score is bounded by its raw score over the
        penalty of the shortest or of the longest length it can still reach
        (the penalty is monotonic in length). Exact, not a heuristic.
        """
        valid = ops.greater(raw_scores, _NEG / 2)
        live = ops.logical_and(valid, ops.logical_not(finished))
        done = ops.logical_and(valid, finished)
        done_scores = raw_scores / _length_penalty(lengths, self.alpha)
        best_done = ops.max(ops.where(done, done_scores, _NEG), axis=1)
        bound = ops.maximum(
            raw_scores / _length_penalty(index + 1, self.alpha),
            raw_scores / _length_penalty(self.max_length, self.alpha),
        )
        best_live = ops.max(ops.where(live, bound, 2 * _NEG), axis=1)
        return ops.greater_equal(best_done, best_live)

    def cond(self, index, previous, sequences, raw_scores, lengths, finished, leaves):
        running = ops.less(index, self.max_length)
        if self.end_token is None:
            return running
        settled = ops.all(self.settled_items(index, raw_scores, lengths, finished))
        return ops.logical_and(running, ops.logical_not(settled))

    def body(self, index, previous, sequences, raw_scores, lengths, finished, leaves):
        logits, leaves = _call_step(self.step_fn, previous, self.state, leaves, index)
        vocab = logits.shape[-1]
        _check_end_token_in_vocab(self.owner, self.end_token, vocab)
        log_probs = ops.log_softmax(logits, axis=-1)
        log_probs = ops.reshape(log_probs, (-1, self.beams, vocab))
        candidates, keys = self.candidates(
            index, log_probs, raw_scores, lengths, finished
        )
        new_raw_scores, parents, tokens = self.choose(candidates, keys)
        keep = self.frozen(index, raw_scores, lengths, finished)
        if self.end_token is not None:
            parents = ops.where(keep, ops.arange(self.beams, dtype="int32"), parents)
        flat_parents = _flat_parents(parents, self.beams)

        parent_finished = _by_parent(finished, flat_parents)
        new_lengths = ops.where(
            parent_finished, _by_parent(lengths, flat_parents), index + 1
        )
        tokens = ops.where(
            ops.logical_or(keep, parent_finished), self.pad_token, tokens
        )
        new_finished = parent_finished
        if self.end_token is not None:
            new_finished = ops.logical_or(
                new_finished, ops.equal(tokens, self.end_token)
            )
        raw_scores = ops.where(keep, raw_scores, new_raw_scores)
        lengths = ops.where(keep, lengths, new_lengths)
        finished = ops.where(keep, finished, new_finished)
        sequences = _by_parent(sequences, flat_parents)
        sequences = _write(sequences, self.positions, index, tokens)
        leaves = tuple(_reorder_leaf(leaf, flat_parents) for leaf in leaves)
        previous = ops.reshape(tokens, (-1,))
        return index + 1, previous, sequences, raw_scores, lengths, finished, leaves

    def candidates(self, index, log_probs, raw_scores, lengths, finished):
        """Candidate raw scores `(B, K, V)` and their ranking keys.

        Live beams add a token's log-prob; a finished beam has a single
        candidate (column 0) with its own score. The keys are the
        length-penalised scores, `_NEG` for candidates that do not exist.
        """
        extended = ops.expand_dims(raw_scores, -1) + log_probs
        only_first = ops.equal(ops.arange(log_probs.shape[-1], dtype="int32"), 0)
        frozen = ops.where(only_first, ops.expand_dims(raw_scores, -1), _NEG)
        candidates = ops.where(ops.expand_dims(finished, -1), frozen, extended)
        candidate_lengths = ops.where(finished, lengths, index + 1)
        penalised = candidates / ops.expand_dims(
            _length_penalty(candidate_lengths, self.alpha), -1
        )
        return candidates, ops.where(candidates > _NEG / 2, penalised, _NEG)

    def choose(self, candidates, keys):
        """The `K` best candidates per item, best first: `(B, K)` raw scores,
        parent beams and tokens."""
        vocab = candidates.shape[-1]
        flat_keys = ops.reshape(keys, (-1, self.beams * vocab))
        _, chosen = ops.top_k(flat_keys, self.beams)  # (B, K), best first
        chosen = ops.cast(chosen, "int32")
        raw_scores = ops.take_along_axis(
            ops.reshape(candidates, (-1, self.beams * vocab)), chosen, axis=1
        )
        return raw_scores, chosen // vocab, chosen % vocab

    def frozen(self, index, raw_scores, lengths, finished):
        """`(B, K)` bool: the beams that do not move this step.

        Items already settled are frozen, so that each item's beams do not
        depend on how long the other items of the batch run.
        """
        if self.end_token is None:
            return ops.zeros_like(finished)
        return ops.logical_or(
            ops.zeros_like(finished),
            ops.expand_dims(
                self.settled_items(index, raw_scores, lengths, finished), 1
            ),
        )

    def ranked(self, sequences, raw_scores, lengths, return_all_beams):
        """The final hypotheses, best first (`-inf` for those that do not
        exist): all of them, or the best one per item."""
        final = raw_scores / _length_penalty(lengths, self.alpha)
        final = ops.where(raw_scores > _NEG / 2, final, float("-inf"))
        final, order = ops.top_k(final, self.beams)
        sequences = ops.take_along_axis(
            sequences, ops.expand_dims(ops.cast(order, "int32"), -1), axis=1
        )
        if return_all_beams:
            return sequences, final
        return sequences[:, 0], final[:, 0]


def beam_search(
    step_fn,
    start_tokens,
    state,
    max_length,
    beam_size=4,
    end_token=None,
    length_penalty=0.0,
    pad_token=0,
    return_all_beams=False,
):
    """Decode with beam search: keep the `beam_size` best hypotheses per item.

    Every batch item is expanded to `beam_size` hypotheses, the tensors of
    `state` repeated along the batch axis: `step_fn` sees `batch * beam_size`
    rows, item-major (the beams of item 0 first). At step 0 only the first
    hypothesis is live, so the beams start distinct. Each step extends every
    live hypothesis by every token (a finished one, which emitted
    `end_token`, keeps its score and is extended by `pad_token` only), keeps
    the `beam_size` best candidates by length-penalised score and reorders
    the state along its first axis to follow their parents. An item is
    settled, and its beams frozen, as soon as none of its live hypotheses can
    still beat its best finished one (an exact bound, as log-probabilities
    are never positive); the loop stops when every item is settled, or at
    `max_length`, where hypotheses without an end token compete as they are
    (their length being the number of steps run). Each item's result is thus
    independent of the other items of the batch.

    Scores are length-penalised with the GNMT penalty of Wu et al. (2016):
    `score = sum_log_probs / ((5 + length) / 6) ** length_penalty`, where
    `length` counts the generated tokens including the end token.
    `length_penalty=0` ranks by the plain sum of log-probabilities (which
    favours short hypotheses), larger values favour longer ones. With
    `beam_size=1` and `length_penalty=0`, beam search is greedy search.

    Args:
        step_fn (Callable): see `greedy_search`; called on `batch * beam_size` rows.
        start_tokens (Tensor): int `(batch,)`, the input of the first step.
        state (Any): nested structure (or `None`) of tensors whose first axis
            is the batch; rank-0 tensors are shared by all rows, not repeated.
        max_length (int): the number of tokens to generate at most (> 0).
        beam_size (int): the hypotheses kept per item (> 0). Defaults to `4`.
        end_token (int | None): id that ends a hypothesis, or `None`.
        length_penalty (float): `alpha` of the GNMT penalty. Defaults to `0.0`.
        pad_token (int): id written after `end_token`. Defaults to `0`.
        return_all_beams (bool): `True` returns every final hypothesis, best first.

    Returns:
        A tuple `(tokens, scores)`. By default `tokens` is the int32
        `(batch, max_length)` best hypothesis per item (padding after its end
        token) and `scores` its float32 `(batch,)` length-penalised score.
        With `return_all_beams=True`: `(batch, beam_size, max_length)` and
        `(batch, beam_size)`, sorted best first; hypotheses that do not exist
        (more beams than possible sequences) score `-inf`.

    Example:

    ```python
    import numpy as np
    from keras import ops
    from keras_attention.decoding import beam_search, greedy_search

    # Greedy takes 1 (p=0.5) then anything (p<=0.4): at best 0.2. Beam search
    # finds 2 then 2 (p=0.4 * 0.9 = 0.36).
    chain = np.log([[0.1, 0.5, 0.4], [0.3, 0.3, 0.4], [0.05, 0.05, 0.9]])
    table = ops.convert_to_tensor(chain, "float32")

    def step_fn(tokens, state, index):
        return ops.take(table, tokens, axis=0), state

    start = ops.zeros((1,), "int32")
    greedy, _ = greedy_search(step_fn, start, None, max_length=2)
    best, score = beam_search(step_fn, start, None, max_length=2, beam_size=2)
    print(ops.convert_to_numpy(greedy), ops.convert_to_numpy(best))  # [[1 2]] [[2 2]]
    print(np.exp(ops.convert_to_numpy(score)))  # [0.36]
    ```
    """
    return _BeamSearch(
        step_fn, max_length, beam_size, end_token, length_penalty, pad_token
    ).run(start_tokens, state, return_all_beams)
