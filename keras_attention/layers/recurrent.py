"""Attention-equipped recurrent decoders for sequence-to-sequence models.

One implementation, two faces:

- `AttentionWrapper` is a Keras RNN *cell* that wraps any cell (`LSTMCell`,
  `GRUCell`, `StackedRNNCells`, ...) with any attention layer of this package.
  It is the migration path for `tfa.seq2seq.AttentionWrapper` users and runs
  inside a plain `keras.layers.RNN`.
- `AttentionDecoder` is a layer that runs `keras.layers.RNN` over its own
  `AttentionWrapper`: teacher-forced training over whole sequences, the
  alignment history on request, Keras masks on both sequences, and a `step`
  method for `keras_attention.decoding` (greedy, beam search, sampling).

Keras 3's `RNN` has no `constants` argument, so the attention memory (the
encoder outputs and their mask) is handed to the cell out of band: it is set
on the wrapper right before the loop runs and cleared right after. The loop
itself is `keras.layers.RNN`, so it compiles with `jit_compile=True` on
TensorFlow and JAX.
"""

import contextlib
import copy

import keras
from keras import ops

from keras_attention.core.validation import (
    ValidatedLayerMixin,
    check_batch_sizes,
    check_choice,
    check_exclusive,
    check_feature_size,
    check_features_known,
    check_mask,
    check_positive_int,
    check_rank,
    check_required_value,
    describe_shape,
    errors_as,
    owner_name,
)

STYLES = ("bahdanau", "luong")


# --------------------------------------------------------------------------
# Argument checks and helpers.
# --------------------------------------------------------------------------


def _as_layer(owner, name, value, dtype=None, allow_none=False):
    """A layer instance from an instance or a `serialize_keras_object` dict.

    A config without a `dtype` gets `dtype` (the owner's policy), so that a
    decoder built from configs under `mixed_float16` is mixed throughout.
    """
    if value is None and allow_none:
        return None
    if isinstance(value, dict):
        value = copy.deepcopy(value)
        if dtype is not None and isinstance(value.get("config"), dict):
            value["config"].setdefault("dtype", dtype)
        value = keras.saving.deserialize_keras_object(value)
    if not isinstance(value, keras.layers.Layer):
        raise ValueError(
            f"{owner_name(owner)}: `{name}` must be a Keras layer (or its "
            f"serialized config); received {name}={value!r}."
        )
    return value


def _check_cell(owner, cell):
    name = owner_name(owner)
    if isinstance(cell, keras.layers.RNN):
        raise ValueError(
            f"{name}: `cell` must be an RNN cell such as "
            f"keras.layers.LSTMCell(units), not an RNN layer; received "
            f"cell={cell.__class__.__name__}. Use the layer's cell instead."
        )
    if getattr(cell, "state_size", None) is None:
        raise ValueError(
            f"{name}: `cell` must be a Keras RNN cell: a layer with a "
            f"`state_size` attribute, such as keras.layers.LSTMCell or "
            f"keras.layers.GRUCell; received cell={cell!r}, which has no "
            f"`state_size`."
        )
    _flat_sizes(cell.state_size, owner)
    return cell


def _flat_sizes(state_size, owner=None):
    sizes = keras.tree.flatten(state_size)
    for size in sizes:
        if isinstance(size, (list, tuple)) or not isinstance(size, int):
            raise ValueError(
                f"{owner_name(owner) or 'AttentionWrapper'}: `cell` must have "
                f"integer state sizes (one vector state per tensor); received "
                f"state_size={state_size!r}."
            )
    return sizes


def _cell_output_size(cell):
    size = getattr(cell, "output_size", None)
    if size is None:
        size = _flat_sizes(cell.state_size)[0]
    return size


def _dim(shape, axis=-1):
    return None if shape is None else shape[axis]


def _policy_config(layer):
    return keras.dtype_policies.serialize(layer.dtype_policy)


def _memory_mask_from_lengths(lengths, memory):
    lengths = ops.convert_to_tensor(lengths)
    positions = ops.arange(ops.shape(memory)[1], dtype=lengths.dtype)
    return ops.less(ops.expand_dims(positions, 0), ops.expand_dims(lengths, 1))


def _from_config(cls, config, sublayers):
    """`cls(**config)` with the sublayers (and `attention_layer`) deserialized."""
    # A copy: some Keras layers' `from_config` pop keys from their config.
    config = copy.deepcopy(config)
    for key in (*sublayers, "attention_layer"):
        if config.get(key) is not None:
            config[key] = keras.saving.deserialize_keras_object(config[key])
    return cls(**config)


class _Memory:
    """What the wrapper attends over during one call (not a tracked state)."""

    __slots__ = ("memory", "mask", "alignments", "shape")

    def __init__(self):
        self.memory = None
        self.mask = None
        self.alignments = False
        self.shape = None


# --------------------------------------------------------------------------
# The cell.
# --------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="keras_attention")
class AttentionWrapper(ValidatedLayerMixin, keras.layers.Layer):
    r"""An RNN cell that adds attention over a memory to any Keras RNN cell.

    The wrapper is the Keras 3 counterpart of TF Addons'
    `tfa.seq2seq.AttentionWrapper`. With memory $\bar h_{1..S}$ (the
    encoder outputs), input $x_t$ and wrapped cell $f$, one step computes, in
    the default `style="luong"` (which is what TF Addons computes):

    $$h_t, s_t = f([x_t; a_{t-1}], s_{t-1}), \qquad
    \alpha_t = \mathrm{align}(h_t, \bar h), \qquad
    c_t = \textstyle\sum_s \alpha_{ts} \bar h_s,$$

    and with `style="bahdanau"` (Bahdanau et al., 2015) it attends with the
    previous hidden state and feeds the context into the cell:

    $$\alpha_t = \mathrm{align}(h_{t-1}, \bar h), \qquad
    c_t = \textstyle\sum_s \alpha_{ts} \bar h_s, \qquad
    h_t, s_t = f([x_t; c_t], s_{t-1}).$$

    In both styles the attention vector and the output are

    $$a_t = \begin{cases}
    \phi(W_c [c_t; h_t]) & \text{with } \texttt{attention\_layer\_size} \\
    g([c_t; h_t]) & \text{with } \texttt{attention\_layer}=g \\
    c_t & \text{otherwise}
    \end{cases}, \qquad
    o_t = \begin{cases} a_t & \texttt{output\_attention=True} \\
    h_t & \texttt{output\_attention=False} \end{cases}$$

    with $\phi$ = `attention_activation` (`tanh`: Luong's attentional hidden
    state $\tilde h_t$). $s_t$ is the wrapped cell's state, $h_t$ its output
    and $h_{t-1}$ its previous output, read from its state (the first state
    tensor; for `StackedRNNCells` the first state tensor of the top cell).
    `input_feeding=False` (Luong style only) feeds $x_t$ alone.

    The attention memory is not an input of the cell: call
    `setup_memory(memory, memory_mask)` before running the cell, and
    `clear_memory()` after (Keras 3's `RNN` has no `constants` argument).
    Do this inside a layer's `call` or eagerly; in functional models use
    `AttentionDecoder`, which does it for you.

    The state is a flat list: the wrapped cell's state tensors (flattened),
    then the previous attention vector $a_{t-1}$. `get_initial_state`
    builds it, from the encoder's final state if given.

    Differences from TF Addons: the attention layer $W_c$ has a `tanh`
    (Luong et al.; TF Addons applies none: pass
    `attention_activation=None`), and its input is $[c_t; h_t]$ (TF Addons
    concatenates $[h_t; c_t]$). With `alignment_history=True` the alignments
    of each step are appended to the cell output (there is no
    `TensorArray` in the state): `split_outputs` separates them. Only one
    attention mechanism per wrapper.

    Args:
        cell: the wrapped RNN cell (`keras.layers.LSTMCell(units)`, ...), or
            its serialized config.
        attention_mechanism: an attention layer of this package
            (`AdditiveAttention`, `MultiplicativeAttention`, ...), or any layer
            called as `attention(query, value, value_mask=...,
            return_attention_scores=True)` with a single-step query
            `(batch, dq)`; or its serialized config.
        attention_layer_size: if set, $a_t = \phi(W_c [c_t; h_t])$ with $W_c$
            a bias-free `Dense(attention_layer_size)`.
        alignment_history: whether the cell output carries the alignments
            $\alpha_t$ `(batch, S)` after the output vector.
        output_attention: whether the cell outputs $a_t$ (`True`, the
            default, as in TF Addons) or the wrapped cell's output $h_t$.
        attention_layer: a layer $g$ applied to $[c_t; h_t]$ instead of
            $W_c$ (exclusive with `attention_layer_size`);
            `keras.layers.Identity()` outputs $[c_t; h_t]$ itself.
        style: `"luong"` (attend with $h_t$) or `"bahdanau"` (attend with
            $h_{t-1}$ and feed $c_t$ into the cell).
        input_feeding: Luong style: whether $a_{t-1}$ is concatenated to the
            input. The Bahdanau style always feeds $c_t$ and requires `True`.
        attention_activation: $\phi$, the activation of $W_c$ (default
            `"tanh"`).
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `(batch, dx)`, the input of one step.
        states: the flat state list (see above).
        training: whether dropout in the wrapped layers is active.

    Returns:
        `(output, new_states)`: the output `(batch, output_size)` and the new
        flat state list.

    Example:

    ```python
    import keras
    import numpy as np
    import keras_attention

    encoder_outputs = np.random.rand(2, 7, 16).astype("float32")
    decoder_inputs = np.random.rand(2, 5, 8).astype("float32")
    memory_mask = np.arange(7) < np.array([[7], [4]])  # item 1: 4 source steps

    wrapper = keras_attention.AttentionWrapper(
        keras.layers.LSTMCell(16),
        keras_attention.LuongAttention(score="general"),
        attention_layer_size=16,
        alignment_history=True,
    )
    rnn = keras.layers.RNN(wrapper, return_sequences=True, return_state=True)
    encoder_state = [np.ones((2, 16), "float32")] * 2  # h, c of an encoder
    wrapper.setup_memory(encoder_outputs, memory_mask=memory_mask)
    initial_state = wrapper.get_initial_state(cell_state=encoder_state)
    outputs, *final_state = rnn(decoder_inputs, initial_state=initial_state)
    wrapper.clear_memory()
    outputs, alignments = wrapper.split_outputs(outputs)
    assert outputs.shape == (2, 5, 16) and alignments.shape == (2, 5, 7)
    assert len(final_state) == 3  # h, c and the attention vector
    ```
    """

    def __init__(
        self,
        cell,
        attention_mechanism,
        attention_layer_size=None,
        alignment_history=False,
        output_attention=True,
        attention_layer=None,
        style="luong",
        input_feeding=True,
        attention_activation="tanh",
        **kwargs,
    ):
        super().__init__(**kwargs)
        policy = _policy_config(self) if "dtype" in kwargs else None
        self.cell = _check_cell(self, _as_layer(self, "cell", cell, policy))
        self.attention_mechanism = _as_layer(
            self, "attention_mechanism", attention_mechanism, policy
        )
        self.attention_layer_size = check_positive_int(
            self, "attention_layer_size", attention_layer_size, allow_none=True
        )
        self.style = check_choice(self, "style", style, STYLES)
        self.alignment_history = bool(alignment_history)
        self.output_attention = bool(output_attention)
        self.input_feeding = bool(input_feeding)
        if self.style == "bahdanau":
            check_required_value(
                self,
                "input_feeding",
                self.input_feeding,
                True,
                "with style='bahdanau'",
                "That style always feeds the context c_t into the cell; "
                "input_feeding=False is a Luong-style option.",
            )
        check_exclusive(
            self,
            attention_layer_size=attention_layer_size,
            attention_layer=attention_layer,
        )
        self.attention_activation = keras.activations.get(attention_activation)
        self._custom_attention_layer = attention_layer is not None
        if attention_layer is not None:
            self.attention_layer = _as_layer(
                self, "attention_layer", attention_layer, policy
            )
        elif self.attention_layer_size is not None:
            self.attention_layer = keras.layers.Dense(
                self.attention_layer_size,
                activation=self.attention_activation,
                use_bias=False,
                dtype=self.dtype_policy,
                name="attention_layer",
            )
        else:
            self.attention_layer = None
        self._memory = _Memory()
        # A step's input may carry a Keras mask (an embedded token); masking
        # whole steps is the business of the RNN or of the decoding loop.
        self.supports_masking = True

    # ------------------------------------------------------------- the memory
    def setup_memory(self, memory, memory_mask=None, memory_sequence_length=None):
        """Set the memory that the following steps attend over.

        Args:
            memory: `(batch, S, dm)`, the encoder outputs.
            memory_mask: optional boolean `(batch, S)`, `True` for real steps.
            memory_sequence_length: optional int `(batch,)` lengths, the TF
                Addons way to give the mask (exclusive with `memory_mask`).

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
            memory_mask = _memory_mask_from_lengths(memory_sequence_length, memory)
        if memory_mask is not None:
            memory_mask = ops.convert_to_tensor(memory_mask)
            check_mask(self, "memory_mask", memory_mask, tuple(memory.shape[:2]))
            memory_mask = ops.cast(memory_mask, "bool")
        if self.built:
            self._check_memory_dim(memory.shape)
        self._memory.memory = ops.cast(memory, self.compute_dtype)
        self._memory.mask = memory_mask
        self._memory.shape = tuple(memory.shape)
        return self

    def clear_memory(self):
        """Forget the memory set by `setup_memory` (the tensors, not the shape)."""
        self._memory.memory = None
        self._memory.mask = None

    @contextlib.contextmanager
    def _attending(self, memory, memory_mask=None, alignments=False):
        """Memory (and alignment output) for the duration of a `with` block."""
        previous = (self._memory.memory, self._memory.mask, self._memory.alignments)
        self.setup_memory(memory, memory_mask)
        self._memory.alignments = alignments
        try:
            yield
        finally:
            (
                self._memory.memory,
                self._memory.mask,
                self._memory.alignments,
            ) = previous

    def _check_memory_dim(self, memory_shape):
        check_feature_size(self, "memory", memory_shape, _dim(self._memory.shape))

    def _memory_shape(self, memory_shape=None):
        memory_shape = memory_shape or self._memory.shape
        if memory_shape is None:
            raise ValueError(
                "AttentionWrapper has no memory: call "
                "`wrapper.setup_memory(memory, memory_mask)` before running "
                "the cell (or use AttentionDecoder, which does it)."
            )
        return tuple(memory_shape)

    # ------------------------------------------------------------------ sizes
    @property
    def _emits_alignments(self):
        return self.alignment_history or self._memory.alignments

    def _attention_size(self, memory_dim, cell_output_dim):
        if self.attention_layer_size is not None:
            return self.attention_layer_size
        if self.attention_layer is not None:
            if memory_dim is None:
                return None
            shape = self.attention_layer.compute_output_shape(
                (None, memory_dim + cell_output_dim)
            )
            return shape[-1]
        return memory_dim

    @property
    def attention_size(self):
        """Size of the attention vector $a_t$ (`None` before the memory is known)."""
        return self._attention_size(
            _dim(self._memory.shape), _cell_output_size(self.cell)
        )

    @property
    def state_size(self):
        return _flat_sizes(self.cell.state_size) + [self.attention_size]

    def _output_dim(self, memory_dim):
        if not self.output_attention:
            return _cell_output_size(self.cell)
        return self._attention_size(memory_dim, _cell_output_size(self.cell))

    @property
    def output_size(self):
        size = self._output_dim(_dim(self._memory.shape))
        if size is not None and self.alignment_history:
            length = _dim(self._memory.shape, 1)
            size = None if length is None else size + length
        return size

    def split_outputs(self, outputs):
        """Split `(..., output + S)` outputs of `alignment_history=True`.

        Returns:
            `(outputs, alignments)`: `(..., output_size)` and `(..., S)`.
        """
        size = self._output_dim(_dim(self._memory_shape()))
        return outputs[..., :size], outputs[..., size:]

    # ------------------------------------------------------------------ state
    def get_initial_state(self, batch_size=None, cell_state=None):
        """The initial flat state: the cell state (zeros or given), zero $a_0$.

        Args:
            batch_size: the batch size; defaults to the memory's.
            cell_state: optional initial state of the wrapped cell (e.g. the
                final `[h, c]` of an LSTM encoder), nested as the cell's
                `state_size` or flat.

        Returns:
            A list of tensors: the flat cell state, then $a_0 = 0$.
        """
        return self._initial_state(batch_size, cell_state)

    def _initial_state(self, batch_size, cell_state):
        memory_shape = self._memory_shape()
        sizes = _flat_sizes(self.cell.state_size)
        if batch_size is None:
            if self._memory.memory is not None:
                batch_size = ops.shape(self._memory.memory)[0]
            else:
                batch_size = memory_shape[0]
        if cell_state is None:
            if hasattr(self.cell, "get_initial_state"):
                cell_state = self.cell.get_initial_state(batch_size=batch_size)
            else:
                cell_state = [
                    ops.zeros((batch_size, size), self.compute_dtype) for size in sizes
                ]
        flat = keras.tree.flatten(cell_state)
        name = self.__class__.__name__
        if len(flat) != len(sizes):
            raise ValueError(
                f"{name}: `cell_state` must hold {len(sizes)} tensors (the state "
                f"of {self.cell.__class__.__name__}, sizes {sizes}); received "
                f"{len(flat)}."
            )
        flat = [ops.cast(ops.convert_to_tensor(s), self.compute_dtype) for s in flat]
        for size, state in zip(sizes, flat, strict=True):
            if len(state.shape) != 2 or state.shape[-1] not in (None, size):
                raise ValueError(
                    f"{name}: `cell_state` tensors must have shape (batch, size) "
                    f"with sizes {sizes}; received shapes "
                    f"{[describe_shape(s.shape) for s in flat]}."
                )
        attention_size = self._attention_size(
            memory_shape[-1], _cell_output_size(self.cell)
        )
        zeros = ops.zeros((ops.shape(flat[0])[0], attention_size), self.compute_dtype)
        return flat + [zeros]

    def _pack_cell_state(self, flat):
        if isinstance(self.cell.state_size, int):
            return list(flat)
        return keras.tree.pack_sequence_as(self.cell.state_size, list(flat))

    def _previous_output(self, cell_state):
        """The cell's previous output, $h_{t-1}$, read from its state."""
        if isinstance(self.cell, keras.layers.StackedRNNCells):
            cell_state = cell_state[-1]
        return keras.tree.flatten(cell_state)[0]

    # ------------------------------------------------------------------ Keras
    def _cell_input_dim(self, input_dim, memory_dim, cell_output_dim):
        if self.style == "bahdanau":
            return input_dim + memory_dim
        if self.input_feeding:
            return input_dim + self._attention_size(memory_dim, cell_output_dim)
        return input_dim

    def build(self, input_shape):
        # The memory's shape comes from `setup_memory` (or `_build_for`).
        memory_shape = self._memory_shape()
        check_rank(self, "memory", memory_shape, (3,), "(batch, S, dm)")
        input_shape = tuple(input_shape)
        check_features_known(self, {"inputs": input_shape, "memory": memory_shape})
        input_dim, memory_dim = input_shape[-1], memory_shape[-1]
        self._memory.shape = memory_shape
        batch = input_shape[0]
        cell_output_dim = _cell_output_size(self.cell)
        if not self.cell.built:
            self.cell.build(
                (batch, self._cell_input_dim(input_dim, memory_dim, cell_output_dim))
            )
        if not self.attention_mechanism.built:
            self.attention_mechanism.build((batch, cell_output_dim), memory_shape)
        if self.attention_layer is not None and not self.attention_layer.built:
            self.attention_layer.build((batch, memory_dim + cell_output_dim))
        self._input_dim = input_dim
        self.built = True

    def get_build_config(self):
        if not self.built:
            return None
        return {
            "input_shape": (None, self._input_dim),
            "memory_shape": (None,) + tuple(self._memory.shape[1:]),
        }

    def build_from_config(self, config):
        if config:
            self._build_for(config["input_shape"], config["memory_shape"])

    def _build_for(self, input_shape, memory_shape):
        """Build for inputs `(batch, dx)` and memory `(batch, S, dm)`."""
        self._memory.shape = tuple(memory_shape)
        if not self.built:
            self.build(tuple(input_shape))

    def call(self, inputs, states, training=None):
        memory = self._memory.memory
        if memory is None:
            raise ValueError(
                "AttentionWrapper has no memory: call "
                "`wrapper.setup_memory(memory, memory_mask)` before running "
                "the cell (and `clear_memory()` after), or use AttentionDecoder."
            )
        self._check_attention_dropout(training)
        dtype = self.compute_dtype
        states = list(states)
        cell_state = self._pack_cell_state(states[:-1])
        inputs = ops.cast(inputs, dtype)
        previous_attention = ops.cast(states[-1], dtype)

        def attend(query):
            context, alignments = self.attention_mechanism(
                query,
                memory,
                value_mask=self._memory.mask,
                return_attention_scores=True,
            )
            return ops.cast(context, dtype), alignments

        if self.style == "bahdanau":
            query = ops.cast(self._previous_output(cell_state), dtype)
            context, alignments = attend(query)
            cell_inputs = ops.concatenate([inputs, context], axis=-1)
            cell_output, new_cell_state = self.cell(cell_inputs, cell_state)
            cell_output = ops.cast(cell_output, dtype)
        else:
            cell_inputs = inputs
            if self.input_feeding:
                cell_inputs = ops.concatenate([inputs, previous_attention], axis=-1)
            cell_output, new_cell_state = self.cell(cell_inputs, cell_state)
            cell_output = ops.cast(cell_output, dtype)
            context, alignments = attend(cell_output)

        if self.attention_layer is not None:
            attention = self.attention_layer(
                ops.concatenate([context, cell_output], axis=-1)
            )
            attention = ops.cast(attention, dtype)
        else:
            attention = context
        output = attention if self.output_attention else cell_output
        if self._emits_alignments:
            output = ops.concatenate([output, ops.cast(alignments, dtype)], axis=-1)
        new_states = [ops.cast(s, dtype) for s in keras.tree.flatten(new_cell_state)]
        return output, new_states + [attention]

    def _check_attention_dropout(self, training):
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

    def get_config(self):
        config = super().get_config()
        serialize = keras.saving.serialize_keras_object
        config.update(
            {
                "cell": serialize(self.cell),
                "attention_mechanism": serialize(self.attention_mechanism),
                "attention_layer_size": self.attention_layer_size,
                "alignment_history": self.alignment_history,
                "output_attention": self.output_attention,
                "attention_layer": serialize(self.attention_layer)
                if self._custom_attention_layer
                else None,
                "style": self.style,
                "input_feeding": self.input_feeding,
                "attention_activation": keras.activations.serialize(
                    self.attention_activation
                ),
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        return _from_config(cls, config, ("cell", "attention_mechanism"))


# --------------------------------------------------------------------------
# Dropout masks of the wrapped cells, made before the loop.
# --------------------------------------------------------------------------


def _dropout_cells(cell, input_dim):
    """(cell, input_dim) for the wrapped cells that cache dropout masks."""
    cells = cell.cells if isinstance(cell, keras.layers.StackedRNNCells) else [cell]
    found = []
    for inner in cells:
        if hasattr(inner, "get_dropout_mask") and hasattr(inner, "reset_dropout_mask"):
            found.append((inner, input_dim))
        input_dim = _cell_output_size(inner)
    return found


def _prime_dropout_masks(wrapper, batch_size, input_dim, dtype):
    """Create the wrapped cells' dropout masks outside the loop.

    Keras' `RNN` does this for the cells it knows (it must, on JAX: a mask
    drawn inside `lax.scan` would leak a tracer); it does not look inside a
    wrapper, so the decoder does it.
    """
    memory_dim = wrapper._memory.shape[-1]
    cell_input_dim = wrapper._cell_input_dim(
        input_dim, memory_dim, _cell_output_size(wrapper.cell)
    )
    cells = _dropout_cells(wrapper.cell, cell_input_dim)
    for cell, dim in cells:
        if getattr(cell, "dropout", 0) > 0:
            cell.get_dropout_mask(ops.zeros((batch_size, dim), dtype))
        if getattr(cell, "recurrent_dropout", 0) > 0:
            units = _flat_sizes(cell.state_size)[0]
            cell.get_recurrent_dropout_mask(ops.zeros((batch_size, units), dtype))
    return cells


def _reset_dropout_masks(cells):
    for cell, _ in cells:
        cell.reset_dropout_mask()
        cell.reset_recurrent_dropout_mask()


# --------------------------------------------------------------------------
# The decoder layer.
# --------------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="keras_attention")
class AttentionDecoder(ValidatedLayerMixin, keras.layers.Layer):
    r"""A recurrent decoder with attention over the encoder outputs.

    Runs `keras.layers.RNN` over an `AttentionWrapper` (whose docstring has
    the equations) for teacher-forced training over whole target sequences,
    and offers `step` for step-wise inference with
    `keras_attention.decoding` (greedy, beam search, sampling). For memory
    $\bar h_{1..S}$ (the encoder outputs) and inputs $x_t$ (the embedded
    previous target tokens $y_{t-1}$):

    - `style="bahdanau"`: $c_t = \mathrm{attn}(h_{t-1}, \bar h)$,
      $h_t = f([x_t; c_t], h_{t-1})$;
    - `style="luong"`: $h_t = f([x_t; a_{t-1}], h_{t-1})$ (input feeding;
      $x_t$ alone with `input_feeding=False`), $c_t = \mathrm{attn}(h_t,
      \bar h)$;

    $$a_t = \tanh(W_c [c_t; h_t]) \ \text{(with
    \texttt{attention\_layer\_size}; else } c_t), \qquad
    o_t = a_t \ \text{(or } h_t \text{ with
    \texttt{output\_attention=False})}.$$

    For Luong's attentional hidden state $\tilde h_t$ set
    `attention_layer_size`; to output $[c_t; h_t]$ (a Bahdanau-style
    readout) pass `attention_layer=keras.layers.Identity()`.

    The initial state of the cell is `initial_state` (e.g. the final
    `[h, c]` of an LSTM encoder; concatenate the two directions of a
    bidirectional encoder), zeros otherwise; $a_0 = 0$. The source mask
    (`memory_mask`, filled from the memory's Keras mask) removes padded
    source steps from the attention. The target mask (`inputs_mask`, filled
    from the inputs' Keras mask) makes padded target steps keep the state
    and output zeros (and zero alignments); it is propagated to the output.

    Limitations: the attention layer projects the memory again at every
    step (its call contract has no cached keys); dropout on the attention
    weights inside the loop is refused on JAX (the cell's `dropout` and
    `recurrent_dropout` work everywhere: their masks are drawn before the
    loop).

    Args:
        cell: the RNN cell (`keras.layers.LSTMCell(units)`,
            `keras.layers.GRUCell(units)`, `keras.layers.StackedRNNCells`,
            ...), or its serialized config.
        attention: the attention layer (`AdditiveAttention`,
            `MultiplicativeAttention`, ..., any layer with their call
            contract for a single-step query `(batch, dq)`), or its config.
        style: `"luong"` (default) or `"bahdanau"`.
        attention_layer_size: size of $W_c$; `None`: $a_t = c_t$.
        attention_layer: a layer applied to $[c_t; h_t]$ instead of $W_c$.
        input_feeding: Luong style: feed $a_{t-1}$ with the input (default
            `True`). The Bahdanau style requires `True`.
        output_attention: output $a_t$ (`True`) or $h_t$ (`False`).
        attention_activation: the activation of $W_c$ (default `"tanh"`).
        return_state: whether to also return the final state (the flat
            cell state, then $a_T$), as `keras.layers.RNN` does.
        **kwargs: base layer arguments (`name`, `dtype`, ...). Sublayers
            given as configs without a dtype get this layer's dtype policy.

    Call arguments:
        inputs: `(batch, T, dx)`, the decoder inputs (teacher forcing).
        memory: `(batch, S, dm)`, the encoder outputs.
        initial_state: optional initial cell state, a list of `(batch, size)`
            tensors (nested as the cell's `state_size`, or flat).
        inputs_mask: optional boolean `(batch, T)`; filled from the inputs'
            Keras mask.
        memory_mask: optional boolean `(batch, S)`; filled from the memory's
            Keras mask.
        return_attention_scores: also return the alignment history.
        training: whether dropout is active.

    Returns:
        The outputs `(batch, T, units)`, `units` being the size of $a_t$
        (`attention_layer_size`, or `dm` without attention layer) or of
        $h_t$ (`output_attention=False`); then, if
        `return_attention_scores`, the alignment history `(batch, T, S)`
        (rows sum to 1 over the unmasked source steps); then, if
        `return_state`, the final state tensors.

    Example:

    ```python
    import keras
    import numpy as np
    import keras_attention

    source = keras.Input((None,), dtype="int32")
    target = keras.Input((None,), dtype="int32")
    embedded = keras.layers.Embedding(100, 16, mask_zero=True)(source)
    memory, h, c = keras.layers.LSTM(32, return_sequences=True, return_state=True)(
        embedded
    )
    decoder = keras_attention.AttentionDecoder(
        keras.layers.LSTMCell(32),
        keras_attention.LuongAttention(score="general"),
        attention_layer_size=32,
    )
    target_embedding = keras.layers.Embedding(100, 16, mask_zero=True)
    outputs, alignments = decoder(
        target_embedding(target),
        memory,
        initial_state=[h, c],
        return_attention_scores=True,
    )
    output_layer = keras.layers.Dense(100)
    model = keras.Model([source, target], [output_layer(outputs), alignments])
    x = np.array([[5, 6, 7, 0], [8, 9, 0, 0]])
    y = np.array([[1, 4, 5], [1, 3, 0]])
    logits, alignments = model([x, y])
    assert logits.shape == (2, 3, 100) and alignments.shape == (2, 3, 4)
    row_sums = keras.ops.convert_to_numpy(alignments).sum(-1)
    np.testing.assert_allclose(row_sums[0], 1.0, rtol=1e-5)  # y[0] has no padding

    # Step-wise: greedy decoding with keras_attention.decoding.
    encoder = keras.Model(source, [memory, h, c])
    memory_value, h_value, c_value = encoder(x)
    state = decoder.get_initial_state(
        memory_value, cell_state=[h_value, c_value], memory_mask=x != 0
    )

    def step_fn(tokens, state, index):
        outputs, state = decoder.step(target_embedding(tokens), state)
        return output_layer(outputs), state

    tokens, scores = keras_attention.decoding.greedy_search(
        step_fn, np.array([1, 1], "int32"), state, max_length=6, end_token=2
    )
    assert tokens.shape == (2, 6)
    ```
    """

    def __init__(
        self,
        cell,
        attention,
        style="luong",
        attention_layer_size=None,
        attention_layer=None,
        input_feeding=True,
        output_attention=True,
        attention_activation="tanh",
        return_state=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        policy = _policy_config(self) if "dtype" in kwargs else None
        with self._wrapper_errors():
            self.wrapper = AttentionWrapper(
                _check_cell(self, _as_layer(self, "cell", cell, policy)),
                _as_layer(self, "attention", attention, policy),
                attention_layer_size=attention_layer_size,
                attention_layer=_as_layer(
                    self, "attention_layer", attention_layer, policy, allow_none=True
                ),
                style=style,
                input_feeding=input_feeding,
                output_attention=output_attention,
                attention_activation=attention_activation,
                dtype=self.dtype_policy,
                name="attention_wrapper",
            )
        self.return_state = bool(return_state)
        self._rnn = keras.layers.RNN(
            self.wrapper,
            return_sequences=True,
            return_state=True,
            zero_output_for_mask=True,
            dtype=self.dtype_policy,
            name="rnn",
        )
        self.supports_masking = True

    # ------------------------------------------------------------ properties
    @property
    def cell(self):
        """The wrapped RNN cell."""
        return self.wrapper.cell

    @property
    def attention(self):
        """The attention layer."""
        return self.wrapper.attention_mechanism

    @property
    def style(self):
        return self.wrapper.style

    # ------------------------------------------------------------- checking
    def _wrapper_errors(self):
        """The wrapper validates memory, masks and states; in our names."""
        return errors_as(
            self,
            AttentionWrapper,
            {"attention_mechanism": "attention", "cell_state": "initial_state"},
        )

    def _check_inputs(self, inputs_shape, memory_shape):
        inputs_shape, memory_shape = tuple(inputs_shape), tuple(memory_shape)
        check_rank(self, "inputs", inputs_shape, (3,), "(batch, T, dx)")
        check_rank(self, "memory", memory_shape, (3,), "(batch, S, dm)")
        check_features_known(self, {"inputs": inputs_shape, "memory": memory_shape})
        check_batch_sizes(self, {"inputs": inputs_shape, "memory": memory_shape})
        if self.built:
            check_feature_size(self, "inputs", inputs_shape, self.wrapper._input_dim)

    def _check_memory_mask(self, memory_mask, memory_shape):
        check_mask(self, "memory_mask", memory_mask, tuple(memory_shape[:2]))

    # ------------------------------------------------------------------ Keras
    def build(self, inputs_shape, memory_shape):
        self._check_inputs(inputs_shape, memory_shape)
        self.wrapper._build_for((inputs_shape[0], inputs_shape[-1]), memory_shape)
        self._rnn.build(tuple(inputs_shape))
        self._rnn.built = True
        self.built = True

    def call(
        self,
        inputs,
        memory,
        initial_state=None,
        *,
        inputs_mask=None,
        memory_mask=None,
        return_attention_scores=False,
        training=None,
    ):
        self._check_inputs(tuple(inputs.shape), tuple(memory.shape))
        self._check_memory_mask(memory_mask, tuple(memory.shape))
        check_mask(self, "inputs_mask", inputs_mask, tuple(inputs.shape[:2]))
        wrapper = self.wrapper
        with (
            self._wrapper_errors(),
            wrapper._attending(memory, memory_mask, alignments=return_attention_scores),
        ):
            state = wrapper._initial_state(ops.shape(inputs)[0], initial_state)
            primed = []
            if training:
                primed = _prime_dropout_masks(
                    wrapper, ops.shape(inputs)[0], inputs.shape[-1], self.compute_dtype
                )
            try:
                outputs, *states = self._rnn(
                    inputs, initial_state=state, mask=inputs_mask, training=training
                )
            finally:
                _reset_dropout_masks(primed)
            result = [outputs]
            if return_attention_scores:
                result = list(wrapper.split_outputs(outputs))
        if self.return_state:
            result += states
        return result[0] if len(result) == 1 else tuple(result)

    def compute_mask(self, inputs, previous_mask=None):
        # The outputs are aligned with the inputs: they keep the inputs' mask.
        return previous_mask

    def _output_dim(self, memory_dim):
        return self.wrapper._output_dim(memory_dim)

    def compute_output_shape(self, inputs_shape, memory_shape):
        self._check_inputs(inputs_shape, memory_shape)
        return tuple(inputs_shape[:2]) + (self._output_dim(memory_shape[-1]),)

    def compute_output_spec(
        self,
        inputs,
        memory,
        initial_state=None,
        *,
        return_attention_scores=False,
        **kwargs,
    ):
        shape = self.compute_output_shape(tuple(inputs.shape), tuple(memory.shape))
        dtype = self.compute_dtype
        result = [keras.KerasTensor(shape, dtype=dtype)]
        if return_attention_scores:
            alignments = tuple(inputs.shape[:2]) + (memory.shape[1],)
            result.append(keras.KerasTensor(alignments, dtype=dtype))
        if self.return_state:
            batch = inputs.shape[0]
            sizes = _flat_sizes(self.cell.state_size)
            attention = self.wrapper._attention_size(
                memory.shape[-1], _cell_output_size(self.cell)
            )
            for size in sizes + [attention]:
                result.append(keras.KerasTensor((batch, size), dtype=dtype))
        return result[0] if len(result) == 1 else tuple(result)

    # ----------------------------------------------------- step-wise decoding
    def get_initial_state(self, memory, cell_state=None, memory_mask=None):
        """The state of step-wise decoding (`step`), a dict of tensors.

        Args:
            memory: `(batch, S, dm)`, the encoder outputs.
            cell_state: optional initial cell state (e.g. the encoder's final
                `[h, c]`); zeros otherwise.
            memory_mask: optional boolean `(batch, S)`, `True` for real
                source steps.

        Returns:
            A dict with `"cell_state"` (list of tensors), `"attention"`
            ($a_0 = 0$), `"alignments"` (zeros `(batch, S)`; the last step's
            alignments after each `step`), `"memory"` and `"memory_mask"`
            (`None` without mask). Every tensor has the batch first, as
            `keras_attention.decoding` expects; beam search repeats and
            reorders all of them, the memory included.
        """
        memory = ops.convert_to_tensor(memory)
        check_rank(self, "memory", tuple(memory.shape), (3,), "(batch, S, dm)")
        if memory_mask is not None:
            memory_mask = ops.convert_to_tensor(memory_mask)
            self._check_memory_mask(memory_mask, tuple(memory.shape))
            memory_mask = ops.cast(memory_mask, "bool")
        with self._wrapper_errors(), self.wrapper._attending(memory, memory_mask):
            flat = self.wrapper.get_initial_state(cell_state=cell_state)
            memory = self.wrapper._memory.memory
        zeros = ops.zeros(ops.shape(memory)[:2], self.compute_dtype)
        return {
            "cell_state": flat[:-1],
            "attention": flat[-1],
            "alignments": zeros,
            "memory": memory,
            "memory_mask": memory_mask,
        }

    def step(self, inputs, state, training=False):
        """One decoder step: `(inputs at t, state) -> (output at t, new state)`.

        The same computation as one step of the teacher-forced call, for
        step functions of `keras_attention.decoding`:

        ```
        def step_fn(tokens, state, index):
            outputs, state = decoder.step(embedding(tokens), state)
            return output_layer(outputs), state
        ```

        Args:
            inputs: `(batch, dx)`, the input of this step (e.g. the embedded
                previous token).
            state: the dict of `get_initial_state` or of the previous step.
            training: whether dropout is active (default `False`).

        Returns:
            `(outputs, new_state)`: `(batch, units)` and a dict of the
            structure of `state`, its `"alignments"` those of this step.
        """
        if not self.built:
            raise ValueError(
                f"{self.__class__.__name__}.step needs a built decoder: call it "
                "once on a batch, or call `decoder.build(inputs_shape, "
                "memory_shape)` first."
            )
        inputs = ops.convert_to_tensor(inputs)
        check_rank(self, "inputs", tuple(inputs.shape), (2,), "(batch, dx)")
        flat = list(state["cell_state"]) + [state["attention"]]
        with (
            self._wrapper_errors(),
            self.wrapper._attending(
                state["memory"], state["memory_mask"], alignments=True
            ),
        ):
            outputs, new_flat = self.wrapper(inputs, flat, training=training)
            outputs, alignments = self.wrapper.split_outputs(outputs)
        new_state = dict(state)
        new_state["cell_state"] = list(new_flat[:-1])
        new_state["attention"] = new_flat[-1]
        new_state["alignments"] = ops.cast(alignments, state["alignments"].dtype)
        return outputs, new_state

    def get_config(self):
        config = super().get_config()
        serialize = keras.saving.serialize_keras_object
        wrapper = self.wrapper
        config.update(
            {
                "cell": serialize(wrapper.cell),
                "attention": serialize(wrapper.attention_mechanism),
                "style": wrapper.style,
                "attention_layer_size": wrapper.attention_layer_size,
                "attention_layer": serialize(wrapper.attention_layer)
                if wrapper._custom_attention_layer
                else None,
                "input_feeding": wrapper.input_feeding,
                "output_attention": wrapper.output_attention,
                "attention_activation": keras.activations.serialize(
                    wrapper.attention_activation
                ),
                "return_state": self.return_state,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        return _from_config(cls, config, ("cell", "attention"))
