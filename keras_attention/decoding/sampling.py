"""Sampling: temperature, top-k and top-p (nucleus) filtering, and a
stateless random stream with one seed per step."""

import numbers

import keras
from keras import ops

from keras_attention.core.validation import (
    check_positive_float,
    check_positive_int,
    check_seed,
)
from keras_attention.decoding.loop import _NEG, _decode_one_per_step
from keras_attention.decoding.step import _Decoding, _prepare_start

_SEED_MODULUS = 2**30


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


def _check_filters(owner, temperature, top_k, top_p):
    """Return the checked `temperature`, `top_k` and `top_p` of `sample`."""
    temperature = check_positive_float(owner, "temperature", temperature)
    top_k = check_positive_int(owner, "top_k", top_k, allow_none=True)
    return temperature, top_k, _check_top_p(owner, top_p)


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


class _Sampler:
    """The `pick` of `sample`: filter the logits, draw one token per row."""

    def __init__(self, temperature, top_k, top_p, base):
        self.temperature, self.top_k, self.top_p = temperature, top_k, top_p
        self.base = base  # the two int32 words of `_base_seed`

    def __call__(self, logits, index):
        logits = _filter_logits(logits, self.temperature, self.top_k, self.top_p)
        drawn = keras.random.categorical(
            logits, 1, dtype="int32", seed=_step_seed(self.base, index)
        )
        return drawn[:, 0]


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
        step_fn (Callable): `(tokens, state, index) -> (logits, new_state)`,
            see `greedy_search`.
        start_tokens (Tensor): int `(batch,)`, the input of the first step.
        state (Any): nested structure (or `None`) of tensors whose first axis
            is the batch, passed to and returned by `step_fn`.
        max_length (int): the number of tokens to generate at most (> 0).
        end_token (int | None): id that ends a sequence, or `None`.
        temperature (float): > 0; below 1 sharpens the distribution, above 1
            flattens it. Defaults to `1.0`.
        top_k (int | None): >= 1: sample only among the `top_k` most probable
            tokens (`top_k=1` is greedy decoding); `None`: among all of them.
        top_p (float | None): nucleus sampling threshold in (0, 1], or `None`.
        seed (int | keras.random.SeedGenerator | None): the seed of the random
            stream (see above).
        pad_token (int): id written after `end_token`. Defaults to `0`.

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

    # Every sequence has its own next-token distribution, held in the state
    # (as a model's encoder outputs would be); the previous token is ignored.
    probs = np.array([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]] * 2)
    state = {"logits": ops.convert_to_tensor(np.log(probs), "float32")}

    def step_fn(tokens, state, index):
        return state["logits"], state

    tokens, scores = sample(
        step_fn, ops.zeros((4,), "int32"), state, max_length=5,
        end_token=0, top_k=2, temperature=0.8, seed=1,
    )
    print(tuple(tokens.shape), tuple(scores.shape))  # (4, 5) (4,)
    ```
    """
    call = _Decoding("sample", step_fn, max_length, end_token, pad_token)
    filters = _check_filters(call.owner, temperature, top_k, top_p)
    seed = check_seed(call.owner, seed, allow_generator=True)
    start = _prepare_start(call.owner, start_tokens)
    pick = _Sampler(*filters, _base_seed(seed))
    return _decode_one_per_step(call, start, state, pick)
