"""`AttentionDecoder`: `keras.layers.RNN` over an `AttentionWrapper`."""

import keras
from keras import ops

from keras_attention.core.validation import (
    ValidatedLayerMixin,
    check_batch_sizes,
    check_feature_size,
    check_features_known,
    check_mask,
    check_rank,
    errors_as,
)
from keras_attention.layers.recurrent.cells import (
    as_layer,
    check_cell,
    flat_sizes,
    from_config,
    policy_config,
    prime_dropout_masks,
    reset_dropout_masks,
)
from keras_attention.layers.recurrent.stepwise import StepwiseMixin
from keras_attention.layers.recurrent.wrapper import AttentionWrapper

# The decoder's config keys, and the wrapper's config key of each.
_CONFIG_KEYS = {
    "cell": "cell",
    "attention": "attention_mechanism",
    "style": "style",
    "attention_layer_size": "attention_layer_size",
    "attention_layer": "attention_layer",
    "input_feeding": "input_feeding",
    "output_attention": "output_attention",
    "attention_activation": "attention_activation",
}


@keras.saving.register_keras_serializable(package="keras_attention")
class AttentionDecoder(StepwiseMixin, ValidatedLayerMixin, keras.layers.Layer):
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

    The memory is prepared once per sequence (see `AttentionWrapper`): with
    this package's score layers the keys are projected once (the
    $W_k \bar h_s$ of the additive and concat scores), not at every step; other
    attention layers are called at every step. Limitation: dropout on the
    attention weights inside the loop is refused on JAX (the cell's
    `dropout` and `recurrent_dropout` work everywhere: their masks are
    drawn before the loop).

    Args:
        cell (keras.layers.Layer | dict): the RNN cell
            (`keras.layers.LSTMCell(units)`, `keras.layers.GRUCell(units)`,
            `keras.layers.StackedRNNCells`, ...), or its serialized config.
        attention (keras.layers.Layer | dict): the attention layer
            (`AdditiveAttention`, `MultiplicativeAttention`, ..., any layer with
            their call contract for a single-step query `(batch, dq)`), or its
            config.
        style (str): `"luong"` (default) or `"bahdanau"`.
        attention_layer_size (int | None): size of $W_c$; `None`: $a_t = c_t$.
        attention_layer (keras.layers.Layer | dict | None): a layer applied to
            $[c_t; h_t]$ instead of $W_c$.
        input_feeding (bool): Luong style: feed $a_{t-1}$ with the input
            (default `True`). The Bahdanau style requires `True`.
        output_attention (bool): output $a_t$ (`True`) or $h_t$ (`False`).
        attention_activation (str | Callable | None): the activation of $W_c$
            (default `"tanh"`).
        return_state (bool): whether to also return the final state (the flat
            cell state, then $a_T$), as `keras.layers.RNN` does.
        **kwargs (Any): base layer arguments (`name`, `dtype`, ...). Sublayers
            given as configs without a dtype get this layer's dtype policy.

    Call arguments:
        inputs (Tensor): `(batch, T, dx)`, the decoder inputs (teacher forcing).
        memory (Tensor): `(batch, S, dm)`, the encoder outputs.
        initial_state (list[Tensor] | None): optional initial cell state, a list
            of `(batch, size)` tensors (nested as the cell's `state_size`, or
            flat).
        inputs_mask (Tensor | None): optional boolean `(batch, T)`; filled from
            the inputs' Keras mask.
        memory_mask (Tensor | None): optional boolean `(batch, S)`; filled from
            the memory's Keras mask.
        return_attention_scores (bool): also return the alignment history.
        training (bool | None): whether dropout is active.

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
        policy = policy_config(self) if "dtype" in kwargs else None
        with self._wrapper_errors():
            self.wrapper = AttentionWrapper(
                check_cell(self, as_layer(self, "cell", cell, policy)),
                as_layer(self, "attention", attention, policy),
                attention_layer_size=attention_layer_size,
                attention_layer=as_layer(
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
            check_feature_size(self, "inputs", inputs_shape, self.wrapper.input_size)

    def _check_memory_mask(self, memory_mask, memory_shape):
        check_mask(self, "memory_mask", memory_mask, tuple(memory_shape[:2]))

    # ------------------------------------------------------------------ Keras
    def build(self, inputs_shape, memory_shape):
        self._check_inputs(inputs_shape, memory_shape)
        self.wrapper.build_for((inputs_shape[0], inputs_shape[-1]), memory_shape)
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
        batch_size = ops.shape(inputs)[0]
        with (
            self._wrapper_errors(),
            wrapper.attending(memory, memory_mask, alignments=return_attention_scores),
        ):
            state = wrapper.get_initial_state(batch_size, initial_state)
            primed = []
            if training:
                cell_input_size = wrapper.cell_input_size(
                    inputs.shape[-1], memory.shape[-1]
                )
                primed = prime_dropout_masks(
                    wrapper.cell, batch_size, cell_input_size, self.compute_dtype
                )
            try:
                outputs, *states = self._rnn(
                    inputs, initial_state=state, mask=inputs_mask, training=training
                )
            finally:
                reset_dropout_masks(primed)
            result = [outputs]
            if return_attention_scores:
                result = list(wrapper.split_outputs(outputs))
        if self.return_state:
            result += states
        return result[0] if len(result) == 1 else tuple(result)

    def compute_mask(self, inputs, previous_mask=None):
        # The outputs are aligned with the inputs: they keep the inputs' mask.
        return previous_mask

    def compute_output_shape(self, inputs_shape, memory_shape):
        self._check_inputs(inputs_shape, memory_shape)
        output_size = self.wrapper.output_size_for(memory_shape[-1])
        return tuple(inputs_shape[:2]) + (output_size,)

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
            sizes = flat_sizes(self.cell.state_size)
            attention = self.wrapper.attention_size_for(memory.shape[-1])
            for size in sizes + [attention]:
                result.append(keras.KerasTensor((batch, size), dtype=dtype))
        return result[0] if len(result) == 1 else tuple(result)

    def get_config(self):
        config = super().get_config()
        wrapped = self.wrapper.get_config()
        config.update({key: wrapped[name] for key, name in _CONFIG_KEYS.items()})
        config["return_state"] = self.return_state
        return config

    @classmethod
    def from_config(cls, config):
        return from_config(cls, config, ("cell", "attention"))
