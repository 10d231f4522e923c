"""Autoregressive decoding over a step function: greedy, beam search, sampling.

Every search drives the same kind of model, a *step function*

    logits, new_state = step_fn(tokens, state, index)

where `tokens` is the int32 `(batch,)` tensor of the previous tokens (the
start tokens at step 0), `index` the int32 scalar step number (0-based; a
Transformer decoder uses it as its cache position), `state` any nested
structure (dict, list, tuple) of tensors whose first axis is the batch (RNN
states, a key/value cache, the encoder outputs and their mask, ...) and
`logits` a float `(batch, vocab)` tensor of unnormalised logits or
log-probabilities (a `log_softmax` is always applied). `new_state` must have
the structure, shapes and dtypes of `state`. `None` leaves are allowed and
passed through; rank-0 leaves are treated as shared by the whole batch.

The loops are `keras.ops.while_loop`s over fixed-shape buffers, so the same
code runs eagerly on every backend and compiles under `jax.jit` and
`tf.function(jit_compile=True)`. Each loop stops early once every sequence
has emitted `end_token`; positions after the end token hold `pad_token`.
Decoding computes no gradients: the logits and the state are cut from the
autograd graph at every step (`ops.stop_gradient`), so eager PyTorch does not
keep a graph that grows with every token, and on PyTorch the loop runs under
`torch.no_grad`, so it records none at all.
"""

import contextlib
import numbers

import keras
from keras import ops

from keras_attention.core.validation import (
    check_integer_dtype,
    check_non_negative_int,
    check_positive_float,
    check_positive_int,
    check_rank,
    check_seed,
)

__all__ = ["beam_search", "greedy_search", "sample"]

# Score of a hypothesis that does not exist (the dead beams of step 0, or
# beams left over when `beam_size` exceeds the number of hypotheses).
# Finite, so that sums and divisions never produce NaN.
_NEG = -1e9
_SEED_MODULUS = 2**30


# --------------------------------------------------------------------------
# Argument checks. `owner` is the public function's name, which every
# message starts with: "beam_search: `beam_size` must be ...".
# --------------------------------------------------------------------------


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_step_fn(owner, step_fn):
    if not callable(step_fn):
        raise TypeError(
            f"{owner}: `step_fn` must be a callable `(tokens, state, index) -> "
            f"(logits, new_state)`; received step_fn={step_fn!r}."
        )


def _check_token(owner, name, value, allow_none):
    if value is None and allow_none:
        return None
    return check_non_negative_int(owner, name, value)


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


def _check_top_p(owner, value):
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not 0.0 < value <= 1.0
    ):
        raise ValueError(
            f"{owner}: `top_p` must be a float in (0, 1] or None; received "
            f"top_p={value!r}."
        )
    return float(value)


def _prepare_start(owner, start_tokens):
    start = ops.convert_to_tensor(start_tokens)
    check_rank(owner, "start_tokens", start.shape, (1,), "(batch,) of token ids")
    check_integer_dtype(owner, "start_tokens", start)
    return ops.cast(start, "int32")


def _while_loop(cond, body, loop_vars):
    """`ops.while_loop`, without autograd recording on eager PyTorch.

    Decoding cuts gradients at every step anyway (see `_State.unpack`), so
    the result is the same; `torch.no_grad` only spares eager PyTorch from
    recording a graph for every op of every step (about a fifth of a
    cached Transformer step on a CPU). The other backends record nothing
    outside a gradient tape or transform.
    """
    context = contextlib.nullcontext()
    if keras.backend.backend() == "torch":
        import torch  # guarded fast path; the fallback is the same loop

        context = torch.no_grad()
    with context:
        return ops.while_loop(cond, body, loop_vars)


# --------------------------------------------------------------------------
# The decoder state: a nested structure carried through the loop as a flat
# tuple of tensors.
# --------------------------------------------------------------------------


class _State:
    """Flattens `state` for the loop and rebuilds it for `step_fn`."""

    def __init__(self, owner, state):
        self.owner = owner
        self.template = () if state is None else state
        flat = keras.tree.flatten(self.template)
        self.present = [leaf is not None for leaf in flat]
        self.leaves = tuple(
            ops.convert_to_tensor(leaf) for leaf in flat if leaf is not None
        )

    def pack(self, leaves):
        leaves = iter(leaves)
        flat = [next(leaves) if present else None for present in self.present]
        return keras.tree.pack_sequence_as(self.template, flat)

    def unpack(self, new_state, old_leaves):
        """Validate `step_fn`'s new state; return its leaves in loop form."""
        new_state = () if new_state is None else new_state
        try:
            keras.tree.assert_same_structure(
                keras.tree.lists_to_tuples(self.template),
                keras.tree.lists_to_tuples(new_state),
            )
        except (ValueError, TypeError) as error:
            raise ValueError(
                f"{self.owner}: `step_fn` must return a new state with the "
                f"structure of `state`; {error}"
            ) from None
        flat = keras.tree.flatten(new_state)
        if [leaf is not None for leaf in flat] != self.present:
            raise ValueError(
                f"{self.owner}: `step_fn` must return a new state with `None` "
                f"exactly where `state` has `None`."
            )
        leaves = []
        for old, new in zip(
            old_leaves, [x for x in flat if x is not None], strict=True
        ):
            new = ops.convert_to_tensor(new)
            if _shape_changed(old.shape, new.shape):
                raise ValueError(
                    f"{self.owner}: `step_fn` must keep the shapes of the state "
                    f"tensors; a state tensor of shape {tuple(old.shape)} came "
                    f"back with shape {tuple(new.shape)}."
                )
            # No gradient flows through decoding: cutting it here keeps eager
            # PyTorch from holding every step's autograd graph (the state of
            # step t would otherwise reference all steps before it).
            leaves.append(ops.stop_gradient(ops.cast(new, old.dtype)))
        return tuple(leaves)


def _shape_changed(old, new):
    if len(old) != len(new):
        return True
    return any(
        a is not None and b is not None and a != b
        for a, b in zip(old, new, strict=True)
    )


def _call_step(step_fn, tokens, state, leaves, index):
    """Run one step; return float32 `(batch, vocab)` logits and new leaves."""
    outputs = step_fn(tokens, state.pack(leaves), index)
    if not isinstance(outputs, (tuple, list)) or len(outputs) != 2:
        raise ValueError(
            f"{state.owner}: `step_fn` must return a pair `(logits, new_state)`; "
            f"received {type(outputs).__name__}."
        )
    logits, new_state = outputs
    logits = ops.stop_gradient(ops.cast(ops.convert_to_tensor(logits), "float32"))
    if len(logits.shape) != 2 or logits.shape[-1] is None:
        raise ValueError(
            f"{state.owner}: `step_fn` must return logits of shape `(batch, "
            f"vocab)` with a known vocabulary size; received shape "
            f"{tuple(logits.shape)}."
        )
    return logits, state.unpack(new_state, leaves)


def _check_end_token_in_vocab(owner, end_token, vocab):
    if end_token is not None and end_token >= vocab:
        raise ValueError(
            f"{owner}: `end_token` must be smaller than the vocabulary size "
            f"{vocab} (the last axis of `step_fn`'s logits); received "
            f"end_token={end_token}."
        )


def _write(buffer, positions, index, values):
    """Write `values` (shape of `buffer` minus the last axis) at `index`."""
    return ops.where(positions == index, ops.expand_dims(values, -1), buffer)


# --------------------------------------------------------------------------
# Greedy search and sampling: one token per step and sequence.
# --------------------------------------------------------------------------


def _decode_one_per_step(step_fn, start, state, max_length, end_token, pad_token, pick):
    """The loop shared by greedy search and sampling.

    `pick(logits, index)` chooses the next token of every sequence.
    """
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
        step_fn: callable `(tokens, state, index) -> (logits, new_state)`;
            `tokens` int32 `(batch,)`, `index` int32 scalar step number,
            `logits` float `(batch, vocab)` (unnormalised logits or
            log-probabilities). `new_state` must keep the structure, shapes
            and dtypes of `state`.
        start_tokens: int `(batch,)` tensor, the input of the first step
            (e.g. the start-of-sequence id).
        state: nested structure (dict/list/tuple, or `None`) of tensors whose
            first axis is the batch, passed to and returned by `step_fn`.
        max_length: Python int > 0, the number of tokens to generate at most.
        end_token: int id that ends a sequence, or `None` to always generate
            `max_length` tokens.
        pad_token: int id written after `end_token`. Defaults to `0`.

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
    owner = "greedy_search"
    _check_step_fn(owner, step_fn)
    max_length = check_positive_int(owner, "max_length", max_length)
    end_token = _check_token(owner, "end_token", end_token, allow_none=True)
    pad_token = _check_token(owner, "pad_token", pad_token, allow_none=False)
    start = _prepare_start(owner, start_tokens)

    def pick(logits, index):
        return ops.argmax(logits, axis=-1)

    return _decode_one_per_step(
        step_fn, start, _State(owner, state), max_length, end_token, pad_token, pick
    )


class _FixedSeed(keras.random.SeedGenerator):
    """Hands a seed tensor to `keras.random`, which takes ints or generators.

    `keras.random` functions draw their seed with `seed.next()`; this one
    returns a precomputed per-step seed and holds no variable, so it can be
    used inside a compiled loop on every backend.
    """

    def __init__(self, value):  # no variable, unlike the base class
        self._value = value

    def next(self, ordered=True):
        return self._value


def _base_seed(seed):
    """Two int32 words in [0, 2**30) from an int, a generator or `None`."""
    if isinstance(seed, keras.random.SeedGenerator):
        words = seed.next()
    elif seed is None:
        return keras.random.randint((2,), 0, _SEED_MODULUS, dtype="int32")
    else:
        words = ops.convert_to_tensor([seed % _SEED_MODULUS, 0])
    return ops.cast(ops.mod(words, _SEED_MODULUS), "int32")


def _step_seed(base, index):
    # A distinct first word per step. A `SeedGenerator` advances the second
    # word by one per draw, so the next decoding call with the same
    # generator gets different seeds for every step.
    first = ops.mod(base[0] + (index + 1) * 7919, _SEED_MODULUS)
    seed_dtype = "uint32" if keras.backend.backend() == "jax" else "int32"
    return _FixedSeed(ops.cast(ops.stack([first, base[1]]), seed_dtype))


def _filter_logits(logits, temperature, top_k, top_p):
    """Temperature, then top-k, then top-p (nucleus) on float32 logits."""
    if temperature != 1.0:
        logits = logits / temperature
    vocab = logits.shape[-1]
    if top_k is not None and top_k < vocab:
        kth_largest = ops.top_k(logits, top_k)[0][:, -1:]
        logits = ops.where(logits < kth_largest, _NEG, logits)
    if top_p is not None and top_p < 1.0:
        sorted_logits = ops.top_k(logits, vocab)[0]
        probs = ops.softmax(sorted_logits, axis=-1)
        mass_before = ops.cumsum(probs, axis=-1) - probs
        # Keep the smallest prefix whose mass reaches `top_p`: a token is kept
        # while the mass of the tokens ranked above it is still below `top_p`
        # (always true for the most probable token).
        kept = ops.less(mass_before, top_p)
        threshold = ops.min(
            ops.where(kept, sorted_logits, float("inf")), axis=-1, keepdims=True
        )
        logits = ops.where(logits < threshold, _NEG, logits)
    return logits


def sample(
    step_fn,
    start_tokens,
    state,
    max_length,
    end_token=None,
    temperature=1.0,
    top_k=None,
    top_p=None,
    seed=None,
    pad_token=0,
):
    """Decode by sampling every token, with temperature, top-k and top-p.

    At every step the logits returned by `step_fn` are divided by
    `temperature`, restricted to the `top_k` largest (if given), then to the
    nucleus, the smallest set of most probable tokens whose probability
    reaches `top_p` (if given; the most probable token is always kept), and
    one token per sequence is drawn with `keras.random.categorical`. Tokens
    tied with the last kept one are kept too. End-token handling is that of
    `greedy_search`.

    The random stream is stateless: each step uses its own seed derived from
    `seed`, so an int seed gives the same tokens on every call, eagerly and
    compiled. A `keras.random.SeedGenerator` is advanced once per call. With
    `seed=None` the global Keras generator is used, which JAX refuses inside
    `jax.jit`: pass an int or a generator there.

    Args:
        step_fn: callable `(tokens, state, index) -> (logits, new_state)`, see
            `greedy_search`.
        start_tokens: int `(batch,)` tensor, the input of the first step.
        state: nested structure (or `None`) of tensors whose first axis is the
            batch, passed to and returned by `step_fn`.
        max_length: Python int > 0, the number of tokens to generate at most.
        end_token: int id that ends a sequence, or `None`.
        temperature: float > 0; below 1 sharpens the distribution, above 1
            flattens it. Defaults to `1.0`.
        top_k: int >= 1 or `None`: sample only among the `top_k` most
            probable tokens (`top_k=1` is greedy decoding).
        top_p: float in (0, 1] or `None`: nucleus sampling threshold.
        seed: `None`, an int, or a `keras.random.SeedGenerator`.
        pad_token: int id written after `end_token`. Defaults to `0`.

    Returns:
        A tuple `(tokens, scores)`: int32 `(batch, max_length)` sampled
        tokens (padding after the end token) and float32 `(batch,)` sums of
        the log-probabilities of the sampled tokens under the model's own
        distribution (the `log_softmax` of the logits, before temperature,
        top-k and top-p).

    Example:

    ```python
    import numpy as np
    from keras import ops
    from keras_attention.decoding import sample

    table = ops.convert_to_tensor(
        np.log([[0.1, 0.6, 0.3], [0.2, 0.1, 0.7], [0.8, 0.1, 0.1]]), "float32"
    )

    def step_fn(tokens, state, index):
        return ops.take(table, tokens, axis=0), state

    tokens, scores = sample(
        step_fn, ops.zeros((4,), "int32"), None, max_length=5,
        end_token=0, top_k=2, temperature=0.8, seed=1,
    )
    print(tuple(tokens.shape), tuple(scores.shape))  # (4, 5) (4,)
    ```
    """
    owner = "sample"
    _check_step_fn(owner, step_fn)
    max_length = check_positive_int(owner, "max_length", max_length)
    end_token = _check_token(owner, "end_token", end_token, allow_none=True)
    pad_token = _check_token(owner, "pad_token", pad_token, allow_none=False)
    temperature = check_positive_float(owner, "temperature", temperature)
    top_k = check_positive_int(owner, "top_k", top_k, allow_none=True)
    top_p = _check_top_p(owner, top_p)
    seed = check_seed(owner, seed, allow_generator=True)
    start = _prepare_start(owner, start_tokens)
    base = _base_seed(seed)

    def pick(logits, index):
        logits = _filter_logits(logits, temperature, top_k, top_p)
        drawn = keras.random.categorical(
            logits, 1, dtype="int32", seed=_step_seed(base, index)
        )
        return drawn[:, 0]

    return _decode_one_per_step(
        step_fn, start, _State(owner, state), max_length, end_token, pad_token, pick
    )


# --------------------------------------------------------------------------
# Beam search.
# --------------------------------------------------------------------------


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

    Every batch item is expanded to `beam_size` hypotheses: the tensors of
    `state` are repeated along the batch axis, so `step_fn` sees a batch of
    `batch * beam_size` (item-major: the beams of item 0 first). At step 0
    only the first hypothesis is live, so the beams start distinct. At every
    step each live hypothesis is extended by every token; a finished one
    (it emitted `end_token`) keeps its score and is extended by `pad_token`
    only. The `beam_size` best candidates by length-penalised score survive,
    and the state is reordered along its first axis to follow their parents.
    An item is settled, and its beams frozen, as soon as none of its live
    hypotheses can still beat its best finished one (an exact bound, as
    log-probabilities are never positive); the loop stops when every item is
    settled, or at `max_length`. Hypotheses without an end token at that
    point compete as they are (their length being the number of steps run).
    Each item's result is thus independent of the other items of the batch.

    Scores are length-penalised with the GNMT penalty of Wu et al. (2016):
    `score = sum_log_probs / ((5 + length) / 6) ** length_penalty`, where
    `length` counts the generated tokens including the end token.
    `length_penalty=0` ranks by the plain sum of log-probabilities (which
    favours short hypotheses); larger values favour longer ones.

    With `beam_size=1` and `length_penalty=0`, beam search is greedy search.

    Args:
        step_fn: callable `(tokens, state, index) -> (logits, new_state)`, see
            `greedy_search`; here called with `batch * beam_size` rows.
        start_tokens: int `(batch,)` tensor, the input of the first step.
        state: nested structure (or `None`) of tensors whose first axis is the
            batch; rank-0 tensors are shared by all rows and not repeated.
        max_length: Python int > 0, the number of tokens to generate at most.
        beam_size: Python int > 0, the number of hypotheses kept per item.
            Defaults to `4`.
        end_token: int id that ends a hypothesis, or `None`.
        length_penalty: float `alpha` of the GNMT length penalty. Defaults to
            `0.0` (no penalty).
        pad_token: int id written after `end_token`. Defaults to `0`.
        return_all_beams: if `True`, return every final hypothesis, best
            first, instead of the best one only.

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
    table = ops.convert_to_tensor(
        np.log([[0.1, 0.5, 0.4], [0.3, 0.3, 0.4], [0.05, 0.05, 0.9]]), "float32"
    )

    def step_fn(tokens, state, index):
        return ops.take(table, tokens, axis=0), state

    start = ops.zeros((1,), "int32")
    greedy, _ = greedy_search(step_fn, start, None, max_length=2)
    best, score = beam_search(step_fn, start, None, max_length=2, beam_size=2)
    print(ops.convert_to_numpy(greedy), ops.convert_to_numpy(best))  # [[1 2]] [[2 2]]
    print(np.exp(ops.convert_to_numpy(score)))  # [0.36]
    ```
    """
    owner = "beam_search"
    _check_step_fn(owner, step_fn)
    max_length = check_positive_int(owner, "max_length", max_length)
    beam_size = check_positive_int(owner, "beam_size", beam_size)
    end_token = _check_token(owner, "end_token", end_token, allow_none=True)
    pad_token = _check_token(owner, "pad_token", pad_token, allow_none=False)
    alpha = _check_length_penalty(owner, length_penalty)
    if not isinstance(return_all_beams, bool):
        raise TypeError(
            f"{owner}: `return_all_beams` must be a bool; "
            f"received return_all_beams={return_all_beams!r}."
        )
    start = _prepare_start(owner, start_tokens)
    state = _State(owner, state)
    beams = beam_size

    zeros = ops.expand_dims(start * 0, 1) + ops.zeros((1, beams), "int32")  # (B, K)
    positions = ops.arange(max_length, dtype="int32")
    sequences = ops.expand_dims(zeros, -1) + ops.full(
        (1, 1, max_length), pad_token, "int32"
    )
    # Only the first beam of each item is live at the start.
    first_beam = ops.expand_dims(ops.equal(ops.arange(beams, dtype="int32"), 0), 0)
    raw_scores = ops.where(first_beam, 0.0, _NEG) + ops.cast(zeros, "float32")
    lengths = zeros
    finished = ops.not_equal(zeros, zeros)
    previous = ops.repeat(start, beams, axis=0)
    leaves = tuple(_expand_leaf(leaf, beams) for leaf in state.leaves)
    index = ops.convert_to_tensor(0, "int32")

    def settled_items(index, raw_scores, lengths, finished):
        """(B,) bool: items whose best finished hypothesis cannot be beaten.

        Log-probabilities are <= 0, so a live hypothesis' raw score only
        decreases; its penalised score is bounded by its raw score over the
        penalty of the shortest or of the longest length it can still reach
        (the penalty is monotonic in length). Exact, not a heuristic.
        """
        valid = ops.greater(raw_scores, _NEG / 2)
        live = ops.logical_and(valid, ops.logical_not(finished))
        done = ops.logical_and(valid, finished)
        done_scores = raw_scores / _length_penalty(lengths, alpha)
        best_done = ops.max(ops.where(done, done_scores, _NEG), axis=1)
        bound = ops.maximum(
            raw_scores / _length_penalty(index + 1, alpha),
            raw_scores / _length_penalty(max_length, alpha),
        )
        best_live = ops.max(ops.where(live, bound, 2 * _NEG), axis=1)
        return ops.greater_equal(best_done, best_live)

    def cond(index, previous, sequences, raw_scores, lengths, finished, leaves):
        running = ops.less(index, max_length)
        if end_token is None:
            return running
        settled = ops.all(settled_items(index, raw_scores, lengths, finished))
        return ops.logical_and(running, ops.logical_not(settled))

    def body(index, previous, sequences, raw_scores, lengths, finished, leaves):
        logits, leaves = _call_step(step_fn, previous, state, leaves, index)
        vocab = logits.shape[-1]
        _check_end_token_in_vocab(state.owner, end_token, vocab)
        log_probs = ops.reshape(ops.log_softmax(logits, axis=-1), (-1, beams, vocab))

        # Candidate scores (B, K, V): live beams add a token's log-prob; a
        # finished beam has a single candidate (column 0) with its own score.
        extended = ops.expand_dims(raw_scores, -1) + log_probs
        only_first = ops.equal(ops.arange(vocab, dtype="int32"), 0)
        frozen = ops.where(only_first, ops.expand_dims(raw_scores, -1), _NEG)
        candidates = ops.where(ops.expand_dims(finished, -1), frozen, extended)
        candidate_lengths = ops.where(finished, lengths, index + 1)
        penalised = candidates / ops.expand_dims(
            _length_penalty(candidate_lengths, alpha), -1
        )
        keys = ops.where(candidates > _NEG / 2, penalised, _NEG)

        flat_keys = ops.reshape(keys, (-1, beams * vocab))
        _, chosen = ops.top_k(flat_keys, beams)  # (B, K), best first
        chosen = ops.cast(chosen, "int32")
        new_raw_scores = ops.take_along_axis(
            ops.reshape(candidates, (-1, beams * vocab)), chosen, axis=1
        )
        parents = chosen // vocab
        tokens = chosen % vocab
        if end_token is None:
            keep = ops.zeros_like(finished)
        else:
            # Items already settled are frozen, so that each item's beams do
            # not depend on how long the other items of the batch run.
            keep = ops.logical_or(
                ops.zeros_like(finished),
                ops.expand_dims(settled_items(index, raw_scores, lengths, finished), 1),
            )
            parents = ops.where(keep, ops.arange(beams, dtype="int32"), parents)
        flat_parents = ops.reshape(
            ops.expand_dims(ops.arange(ops.shape(parents)[0], dtype="int32"), 1) * beams
            + parents,
            (-1,),
        )

        def by_parent(x):  # (B, K, ...) -> same, rows taken from the parents
            flat = ops.reshape(x, (-1,) + tuple(x.shape[2:]))
            return ops.reshape(ops.take(flat, flat_parents, axis=0), ops.shape(x))

        parent_finished = by_parent(finished)
        new_lengths = ops.where(parent_finished, by_parent(lengths), index + 1)
        tokens = ops.where(ops.logical_or(keep, parent_finished), pad_token, tokens)
        new_finished = parent_finished
        if end_token is not None:
            new_finished = ops.logical_or(new_finished, ops.equal(tokens, end_token))
        raw_scores = ops.where(keep, raw_scores, new_raw_scores)
        lengths = ops.where(keep, lengths, new_lengths)
        finished = ops.where(keep, finished, new_finished)
        sequences = _write(by_parent(sequences), positions, index, tokens)
        leaves = tuple(_reorder_leaf(leaf, flat_parents) for leaf in leaves)
        previous = ops.reshape(tokens, (-1,))
        return index + 1, previous, sequences, raw_scores, lengths, finished, leaves

    loop_vars = (index, previous, sequences, raw_scores, lengths, finished, leaves)
    outputs = _while_loop(cond, body, loop_vars)
    _, _, sequences, raw_scores, lengths, _, _ = outputs

    final = raw_scores / _length_penalty(lengths, alpha)
    final = ops.where(raw_scores > _NEG / 2, final, float("-inf"))
    final, order = ops.top_k(final, beams)
    sequences = ops.take_along_axis(
        sequences, ops.expand_dims(ops.cast(order, "int32"), -1), axis=1
    )
    if return_all_beams:
        return sequences, final
    return sequences[:, 0], final[:, 0]
