"""`AttentionWrapper`: attention over a memory around any Keras RNN cell."""

import keras
from keras import ops

from keras_attention.core.validation import (
    ValidatedLayerMixin,
    check_choice,
    check_exclusive,
    check_features_known,
    check_positive_int,
    check_rank,
    check_required_value,
)
from keras_attention.layers.recurrent.cells import (
    as_layer,
    cell_output_size,
    check_cell,
    flat_sizes,
    from_config,
    initial_cell_state,
    make_attention_layer,
    pack_cell_state,
    policy_config,
    previous_output,
    shape_dim,
)
from keras_attention.layers.recurrent.memory import (
    MemoryMixin,
    attend,
)

STYLES = ("bahdanau", "luong")


@keras.saving.register_keras_serializable(package="keras_attention")
class AttentionWrapper(MemoryMixin, ValidatedLayerMixin, keras.layers.Layer):
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
    `AttentionDecoder`, which does it for you. `setup_memory` prepares the
    memory once per sequence (an `AttentionMemory`: the values with padding
    zeroed, the mechanism's projected keys $W_k \bar h_s$ where its score
    has them, the mask): the steps do not project the keys again.

    The state is a flat list: the wrapped cell's state tensors (flattened),
    then the previous attention vector $a_{t-1}$. `get_initial_state`
    builds it, from the encoder's final state if given.

    Differences from TF Addons: the attention layer $W_c$ has a `tanh`
    (Luong et al.; TF Addons applies none: pass
    `attention_activation=None`), and its input is $[c_t; h_t]$ (TF Addons
    concatenates $[h_t; c_t]$). With `alignment_history=True` the alignments
    of each step are appended to the cell output (there is no
    `TensorArray` in the state, and `keras.layers.RNN` takes one output
    tensor per step): `split_outputs` separates them. Only one
    attention mechanism per wrapper.

    Args:
        cell (keras.layers.Layer | dict): the wrapped RNN cell
            (`keras.layers.LSTMCell(units)`, ...), or its serialized config.
        attention_mechanism (keras.layers.Layer | dict): an attention layer of
            this package (`AdditiveAttention`, `MultiplicativeAttention`, ...),
            or any layer called as
            `attention(query, value, value_mask=..., return_attention_scores=True)`
            with a single-step query `(batch, dq)`; or its serialized config.
        attention_layer_size (int | None): if set, $a_t = \phi(W_c [c_t; h_t])$
            with $W_c$ a bias-free `Dense(attention_layer_size)`.
        alignment_history (bool): whether the cell output carries the alignments
            $\alpha_t$ `(batch, S)` after the output vector.
        output_attention (bool): whether the cell outputs $a_t$ (`True`, the
            default, as in TF Addons) or the wrapped cell's output $h_t$.
        attention_layer (keras.layers.Layer | dict | None): a layer $g$ applied
            to $[c_t; h_t]$ instead of $W_c$ (exclusive with
            `attention_layer_size`); `keras.layers.Identity()` outputs
            $[c_t; h_t]$ itself.
        style (str): `"luong"` (attend with $h_t$) or `"bahdanau"` (attend with
            $h_{t-1}$ and feed $c_t$ into the cell).
        input_feeding (bool): Luong style: whether $a_{t-1}$ is concatenated to
            the input. The Bahdanau style always feeds $c_t$ and requires
            `True`.
        attention_activation (str | Callable | None): $\phi$, the activation of
            $W_c$ (default `"tanh"`).
        **kwargs (Any): base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs (Tensor): `(batch, dx)`, the input of one step.
        states (list[Tensor]): the flat state list (see above).
        training (bool | None): whether dropout in the wrapped layers is active.

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
        policy = policy_config(self) if "dtype" in kwargs else None
        self.cell = check_cell(self, as_layer(self, "cell", cell, policy))
        self.attention_mechanism = as_layer(
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
        self.attention_layer = make_attention_layer(self, attention_layer, policy)
        self._init_memory()
        # A step's input may carry a Keras mask (an embedded token); masking
        # whole steps is the business of the RNN or of the decoding loop.
        self.supports_masking = True

    # ------------------------------------------------------------------ sizes
    def attention_size_for(self, memory_dim):
        """Size of $a_t$ for a memory of `memory_dim` features (`None` if unknown)."""
        if self.attention_layer_size is not None:
            return self.attention_layer_size
        if self.attention_layer is not None:
            if memory_dim is None:
                return None
            shape = self.attention_layer.compute_output_shape(
                (None, memory_dim + cell_output_size(self.cell))
            )
            return shape[-1]
        return memory_dim

    def output_size_for(self, memory_dim):
        """Size of $o_t$ (without alignments) for `memory_dim` memory features."""
        if not self.output_attention:
            return cell_output_size(self.cell)
        return self.attention_size_for(memory_dim)

    def cell_input_size(self, input_dim, memory_dim):
        """Size of the wrapped cell's input for inputs of `input_dim` features."""
        if self.style == "bahdanau":
            return input_dim + memory_dim
        if self.input_feeding:
            return input_dim + self.attention_size_for(memory_dim)
        return input_dim

    @property
    def input_size(self):
        """The size `dx` of a step's input the wrapper was built for."""
        return self._input_dim

    @property
    def attention_size(self):
        """Size of the attention vector $a_t$ (`None` before the memory is known)."""
        return self.attention_size_for(shape_dim(self._memory_shape))

    @property
    def state_size(self):
        return flat_sizes(self.cell.state_size) + [self.attention_size]

    @property
    def output_size(self):
        size = self.output_size_for(shape_dim(self._memory_shape))
        if size is not None and self.alignment_history:
            length = shape_dim(self._memory_shape, 1)
            size = None if length is None else size + length
        return size

    def split_outputs(self, outputs):
        """Split `(..., output + S)` outputs of `alignment_history=True`.

        Returns:
            `(outputs, alignments)`: `(..., output_size)` and `(..., S)`.
        """
        size = self.output_size_for(shape_dim(self._required_memory_shape()))
        return outputs[..., :size], outputs[..., size:]

    # ------------------------------------------------------------------ state
    def get_initial_state(self, batch_size=None, cell_state=None):
        """The initial flat state: the cell state (zeros or given), zero $a_0$.

        Args:
            batch_size (int | Tensor | None): the batch size; defaults to the
                memory's.
            cell_state (list[Tensor] | None): optional initial state of the
                wrapped cell (e.g. the final `[h, c]` of an LSTM encoder),
                nested as the cell's `state_size` or flat.

        Returns:
            A list of tensors: the flat cell state, then $a_0 = 0$.
        """
        memory_shape = self._required_memory_shape()
        if batch_size is None:
            if self._memory is not None:
                batch_size = ops.shape(self._memory.values)[0]
            else:
                batch_size = memory_shape[0]
        dtype = self.compute_dtype
        flat = initial_cell_state(self, self.cell, batch_size, cell_state, dtype)
        attention_size = self.attention_size_for(memory_shape[-1])
        zeros = ops.zeros((ops.shape(flat[0])[0], attention_size), dtype)
        return flat + [zeros]

    # ------------------------------------------------------------------ Keras
    def build(self, input_shape):
        # The memory's shape comes from `setup_memory` (or `build_for`).
        memory_shape = self._required_memory_shape()
        check_rank(self, "memory", memory_shape, (3,), "(batch, S, dm)")
        input_shape = tuple(input_shape)
        check_features_known(self, {"inputs": input_shape, "memory": memory_shape})
        input_dim, memory_dim = input_shape[-1], memory_shape[-1]
        batch = input_shape[0]
        cell_output_dim = cell_output_size(self.cell)
        if not self.cell.built:
            self.cell.build((batch, self.cell_input_size(input_dim, memory_dim)))
        if not self.attention_mechanism.built:
            self.attention_mechanism.build((batch, cell_output_dim), memory_shape)
        if self.attention_layer is not None and not self.attention_layer.built:
            self.attention_layer.build((batch, memory_dim + cell_output_dim))
        self._input_dim = input_dim
        self.built = True
        if self._memory is not None and self._memory.keys is None:
            # Set before the wrapper was built: its keys can be projected now,
            # once, before the loop runs.
            memory = self._memory
            self._memory = self.prepare_memory(memory.values, memory.mask)

    def get_build_config(self):
        if not self.built:
            return None
        return {
            "input_shape": (None, self._input_dim),
            "memory_shape": (None,) + tuple(self._memory_shape[1:]),
        }

    def build_from_config(self, config):
        if config:
            self.build_for(config["input_shape"], config["memory_shape"])

    def build_for(self, input_shape, memory_shape):
        """Build for step inputs `(batch, dx)` and a memory `(batch, S, dm)`."""
        self._memory_shape = tuple(memory_shape)
        if not self.built:
            self.build(tuple(input_shape))

    def call(self, inputs, states, training=None):
        memory = self._required_memory()
        self.check_attention_dropout(training)
        dtype = self.compute_dtype
        states = list(states)
        cell_state = pack_cell_state(self.cell, states[:-1])
        inputs = ops.cast(inputs, dtype)
        if self.style == "bahdanau":
            query = ops.cast(previous_output(self.cell, cell_state), dtype)
            context, alignments = attend(self.attention_mechanism, query, memory)
            cell_inputs = ops.concatenate([inputs, ops.cast(context, dtype)], axis=-1)
            cell_output, new_cell_state = self.cell(cell_inputs, cell_state)
            cell_output = ops.cast(cell_output, dtype)
        else:
            cell_inputs = inputs
            if self.input_feeding:
                previous = ops.cast(states[-1], dtype)
                cell_inputs = ops.concatenate([inputs, previous], axis=-1)
            cell_output, new_cell_state = self.cell(cell_inputs, cell_state)
            cell_output = ops.cast(cell_output, dtype)
            context, alignments = attend(self.attention_mechanism, cell_output, memory)
        context = ops.cast(context, dtype)
        attention = context
        if self.attention_layer is not None:
            attention = self.attention_layer(
                ops.concatenate([context, cell_output], axis=-1)
            )
            attention = ops.cast(attention, dtype)
        output = attention if self.output_attention else cell_output
        if self.alignment_history or self._emit_alignments:
            output = ops.concatenate([output, ops.cast(alignments, dtype)], axis=-1)
        new_states = [ops.cast(s, dtype) for s in keras.tree.flatten(new_cell_state)]
        return output, new_states + [attention]

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
        return from_config(cls, config, ("cell", "attention_mechanism"))
