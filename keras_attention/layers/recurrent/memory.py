r"""The attention memory of a recurrent decoder, prepared once per sequence.

A recurrent decoder attends over the same memory $\bar h_{1..S}$ (the
encoder outputs) at every step. What does not depend on the step is computed
once, when the memory is set, and travels in one small object,
`AttentionMemory`:

- `values`: the memory in the compute dtype, its padded steps zeroed (padding
  is inert: NaN or garbage there never reaches an output or a gradient);
- `keys`: the mechanism's projected keys (`W_k \bar h_s` for Bahdanau's
  additive score and Luong's concat score; the values themselves for the dot,
  general and location scores), or `None` when the mechanism is called as a
  black box at every step;
- `mask`: the boolean `(batch, S)` padding mask, `True` for real steps, or
  `None`.

`attend` is one step's attention over such a memory. With projected keys it
runs the mechanism's own query projection, score and masked softmax
(`keras_attention.core.attend`), the computation of its `call` for a
single-step query minus the key projection; otherwise it calls the mechanism.

Projected keys need a mechanism whose `call` is `BaseAttention.call` (the
score layers of this package: `AdditiveAttention`, `MultiplicativeAttention`;
not `LocalAttention`, whose call adds a predicted position), whose `project`
is defined in this package (query and key projections independent of each
other, so each can be computed alone), without dropout on the weights, and
with the decoder's dtype policy (the step runs in the wrapper's autocast
scope). Anything else is called at every step, as before: any layer with
the `attention(query, value, value_mask=..., return_attention_scores=True)`
contract works.
"""

import contextlib

import keras
from keras import ops

from keras_attention.core.attend import attend as attend_explicit
from keras_attention.core.masking import inert_padding, sequence_mask
from keras_attention.core.validation import (
    check_exclusive,
    check_feature_size,
    check_mask,
    check_rank,
)
from keras_attention.layers.base import BaseAttention
from keras_attention.layers.recurrent.cells import cell_output_size, shape_dim

NO_MEMORY = (
    "AttentionWrapper has no memory: call "
    "`wrapper.setup_memory(memory, memory_mask)` before running the cell "
    "(and `clear_memory()` after), or use AttentionDecoder, which does it."
)


class AttentionMemory:
    """What the wrapper attends over during one sequence (not a tracked state).

    Args:
        values (Tensor): `(batch, S, dm)` memory, padded steps zeroed.
        keys (Tensor | None): the mechanism's projected keys `(batch, S, dk)`,
            or `None`.
        mask (Tensor | None): boolean `(batch, S)`, `True` for real steps, or
            `None`.
    """

    __slots__ = ("values", "keys", "mask")

    def __init__(self, values, keys=None, mask=None):
        self.values = values
        self.keys = keys
        self.mask = mask

    @property
    def shape(self):
        """The static shape of `values`, `(batch, S, dm)`."""
        return tuple(self.values.shape)


def projects_keys_once(mechanism, dtype_policy):
    """Whether `mechanism`'s keys can be projected once per sequence (see above)."""
    cls = type(mechanism)
    return (
        isinstance(mechanism, BaseAttention)
        and cls.call is BaseAttention.call
        and cls.project.__module__.startswith("keras_attention.")
        and not getattr(mechanism, "dropout", 0)
        and mechanism.built
        and mechanism.dtype_policy.name == dtype_policy.name
    )


class _UnderPolicy(keras.layers.Layer):
    """Runs `fn(x)` as a call of a layer with `dtype` runs.

    Float inputs are cast to its compute dtype and variables read inside are
    autocast to it under mixed precision, exactly as inside the mechanism's
    own call, wherever the memory is prepared (inside a layer's call or
    eagerly, as `AttentionDecoder.get_initial_state` is). It has no weights
    and is not tracked by any layer: nothing of it is saved.
    """

    def __init__(self, fn, dtype):
        # A name of its own: the class's (`__under_policy_N`) is not a valid
        # TensorFlow root name scope, where a compiled function calls it.
        super().__init__(dtype=dtype, trainable=False, name="under_policy")
        self._fn = fn

    def call(self, x):
        return self._fn(x)


def _project_keys(mechanism, values, query_dim):
    def project(values):
        no_query = ops.zeros((ops.shape(values)[0], 0, query_dim), values.dtype)
        return mechanism.project(no_query, values)[1]

    return _UnderPolicy(project, mechanism.dtype_policy)(values)


def prepare_memory(mechanism, memory, mask, dtype, query_dim=None):
    """The `AttentionMemory` of `memory` for `mechanism`.

    Args:
        mechanism (keras.layers.Layer): the attention layer (built when
            `query_dim` is given).
        memory (Tensor): `(batch, S, dm)` tensor.
        mask (Tensor | None): boolean `(batch, S)` tensor or `None`.
        dtype (str): the compute dtype of the values.
        query_dim (int | None): the size of the queries (the cell's output), to
            project the keys now; `None` leaves them to the mechanism at every
            step.

    Returns:
        An `AttentionMemory`.
    """
    values = inert_padding(ops.cast(memory, dtype), mask)
    keys = None
    if query_dim is not None:
        keys = _project_keys(mechanism, values, query_dim)
    return AttentionMemory(values, keys, mask)


def attend(mechanism, query, memory):
    """One step's attention: `(context, alignments)` for a `(batch, dq)` query.

    Args:
        mechanism (keras.layers.Layer): the attention layer.
        query (Tensor): `(batch, dq)`, in the mechanism's compute dtype.
        memory (AttentionMemory): the prepared memory.

    Returns:
        `(batch, dm)` context and `(batch, S)` alignments, in the mechanism's
        compute dtype.
    """
    if memory.keys is None:
        return mechanism(
            query,
            memory.values,
            value_mask=memory.mask,
            return_attention_scores=True,
        )
    query = ops.expand_dims(query, 1)
    no_keys = memory.values[:, :0]
    projected_query = mechanism.project(query, no_keys)[0]
    mask = None if memory.mask is None else ops.expand_dims(memory.mask, 1)
    context, alignments = attend_explicit(
        projected_query,
        memory.keys,
        memory.values,
        mechanism.score,
        mask=mask,
        return_weights=True,
    )
    dtype = mechanism.compute_dtype
    return (
        ops.squeeze(ops.cast(context, dtype), 1),
        ops.squeeze(ops.cast(alignments, dtype), 1),
    )


class MemoryMixin:
    """The memory side of `AttentionWrapper`: set, prepare, attend over, forget.

    The memory is not an input of the cell (Keras 3's `RNN` has no
    `constants`): it is set on the wrapper before the loop runs and cleared
    after. The wrapper holds the `AttentionMemory` (or `None`), the memory's
    static shape (kept after `clear_memory`: it sizes the state and the
    output) and whether the outputs carry the alignments.
    """

    def _init_memory(self):
        self._memory = None
        self._memory_shape = None
        self._emit_alignments = False

    def setup_memory(self, memory, memory_mask=None, memory_sequence_length=None):
        """Set the memory that the following steps attend over.

        The memory is prepared once here (see `prepare_memory`): the steps
        do not project its keys again.

        Args:
            memory (Tensor): `(batch, S, dm)`, the encoder outputs.
            memory_mask (Tensor | None): optional boolean `(batch, S)`, `True`
                for real steps.
            memory_sequence_length (Tensor | None): optional int `(batch,)`
                lengths, the TF Addons way to give the mask (exclusive with
                `memory_mask`).

        Returns:
            The wrapper itself.
        """
        memory = ops.convert_to_tensor(memory)
        check_rank(self, "memory", tuple(memory.shape), (3,), "(batch, S, dm)")
        check_exclusive(
            self,
            memory_mask=memory_mask,
            memory_sequence_length=memory_sequence_length,
        )
        if memory_sequence_length is not None:
            memory_mask = sequence_mask(memory_sequence_length, ops.shape(memory)[1])
        if memory_mask is not None:
            memory_mask = ops.convert_to_tensor(memory_mask)
            check_mask(self, "memory_mask", memory_mask, tuple(memory.shape[:2]))
            memory_mask = ops.cast(memory_mask, "bool")
        self._use_memory(self.prepare_memory(memory, memory_mask))
        return self

    def prepare_memory(self, memory, memory_mask=None):
        """The `AttentionMemory` of `memory`, without setting it.

        Its values are the memory in the compute dtype with padded steps
        zeroed; its keys the mechanism's projected keys, computed now when
        the wrapper is built and the mechanism allows it (the score layers
        of this package), else `None` (the mechanism is then called at
        every step); its mask `memory_mask`.

        Args:
            memory (Tensor): `(batch, S, dm)` tensor.
            memory_mask (Tensor | None): optional boolean `(batch, S)` tensor.
        """
        query_dim = None
        if self.built and projects_keys_once(
            self.attention_mechanism, self.dtype_policy
        ):
            query_dim = cell_output_size(self.cell)
        return prepare_memory(
            self.attention_mechanism,
            memory,
            memory_mask,
            self.compute_dtype,
            query_dim,
        )

    def _use_memory(self, memory):
        if self.built:
            check_feature_size(
                self, "memory", memory.shape, shape_dim(self._memory_shape)
            )
        self._memory = memory
        self._memory_shape = memory.shape

    def clear_memory(self):
        """Forget the memory set by `setup_memory` (the tensors, not the shape)."""
        self._memory = None

    @property
    def memory(self):
        """The `AttentionMemory` the steps attend over, or `None`."""
        return self._memory

    @property
    def memory_shape(self):
        """The static shape `(batch, S, dm)` of the last memory, or `None`."""
        return self._memory_shape

    @contextlib.contextmanager
    def attending(self, memory, memory_mask=None, *, alignments=False):
        """Attend over `memory` for the duration of a `with` block.

        What `AttentionDecoder` uses around its loop and its steps; the
        previous memory comes back after the block.

        Args:
            memory (Tensor | AttentionMemory): a `(batch, S, dm)` tensor (set
                as `setup_memory` does), or an `AttentionMemory` already
                prepared (`prepare_memory`), used as it is.
            memory_mask (Tensor | None): optional boolean `(batch, S)` (tensors
                only).
            alignments (bool): whether the outputs carry the alignments as with
                `alignment_history=True` (`split_outputs` separates them).

        Yields:
            The `AttentionMemory`.
        """
        previous = (self._memory, self._emit_alignments)
        if isinstance(memory, AttentionMemory):
            self._use_memory(memory)
        else:
            self.setup_memory(memory, memory_mask)
        self._emit_alignments = bool(alignments)
        try:
            yield self._memory
        finally:
            self._memory, self._emit_alignments = previous

    def _required_memory_shape(self):
        if self._memory_shape is None:
            raise ValueError(NO_MEMORY)
        return tuple(self._memory_shape)

    def _required_memory(self):
        if self._memory is None:
            raise ValueError(NO_MEMORY)
        return self._memory

    def check_attention_dropout(self, training):
        """Refuse dropout on the attention weights inside a JAX loop."""
        if (
            training
            and keras.backend.backend() == "jax"
            and getattr(self.attention_mechanism, "dropout", 0) > 0
        ):
            raise ValueError(
                "Dropout on the attention weights inside the recurrent loop is "
                "not supported on the JAX backend (a random draw inside "
                "`lax.scan` escapes the compiled function); received an "
                "`attention_mechanism` with dropout="
                f"{self.attention_mechanism.dropout}. Use the cell's `dropout`/"
                "`recurrent_dropout` or dropout on the decoder's inputs and "
                "outputs instead."
            )
