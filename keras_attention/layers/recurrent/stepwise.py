"""Step-wise decoding with `AttentionDecoder`: its state and its `step`.

`keras_attention.decoding` (greedy, beam search, sampling) calls a step
function once per token with a state whose tensors all have the batch first.
The decoder's state carries the cell state, the attention vector, the last
alignments and the memory prepared once per decode (`AttentionMemory`): the
steps do not project the memory's keys again.
"""

from keras import ops

from keras_attention.core.validation import check_rank
from keras_attention.layers.recurrent.memory import AttentionMemory


class StepwiseMixin:
    """`get_initial_state` and `step` of `AttentionDecoder`.

    Uses the decoder's `wrapper` (an `AttentionWrapper`), `built`,
    `compute_dtype`, `_wrapper_errors` and `_check_memory_mask`.
    """

    def get_initial_state(self, memory, cell_state=None, memory_mask=None):
        """The state of step-wise decoding (`step`), a dict of tensors.

        The memory is prepared here, once for the whole decode: the steps do
        not project its keys again.

        Args:
            memory (Tensor): `(batch, S, dm)`, the encoder outputs.
            cell_state (list[Tensor] | None): optional initial cell state (e.g.
                the encoder's final `[h, c]`); zeros otherwise.
            memory_mask (Tensor | None): optional boolean `(batch, S)`, `True`
                for real source steps.

        Returns:
            A dict with `"cell_state"` (list of tensors), `"attention"`
            ($a_0 = 0$), `"alignments"` (zeros `(batch, S)`; the last step's
            alignments after each `step`), `"memory"` (in the compute dtype,
            padded steps zeroed), `"memory_mask"` (`None` without mask) and
            `"memory_keys"` (the attention layer's projected keys; `None`
            when they are the memory itself or when the layer is called at
            every step). Every tensor has the batch
            first, as `keras_attention.decoding` expects; beam search repeats
            and reorders all of them, the memory included.
        """
        memory = ops.convert_to_tensor(memory)
        check_rank(self, "memory", tuple(memory.shape), (3,), "(batch, S, dm)")
        if memory_mask is not None:
            memory_mask = ops.convert_to_tensor(memory_mask)
            self._check_memory_mask(memory_mask, tuple(memory.shape))
            memory_mask = ops.cast(memory_mask, "bool")
        with (
            self._wrapper_errors(),
            self.wrapper.attending(memory, memory_mask) as prepared,
        ):
            flat = self.wrapper.get_initial_state(cell_state=cell_state)
        zeros = ops.zeros(ops.shape(prepared.values)[:2], self.compute_dtype)
        return {
            "cell_state": flat[:-1],
            "attention": flat[-1],
            "alignments": zeros,
            "memory": prepared.values,
            "memory_mask": prepared.mask,
            # The keys of the dot, general and location scores are the memory
            # itself: not carried twice (beam search would repeat both).
            "memory_keys": None if prepared.keys is prepared.values else prepared.keys,
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
            inputs (Tensor): `(batch, dx)`, the input of this step (e.g. the
                embedded previous token).
            state (dict): the dict of `get_initial_state` or of the previous
                step (without `"memory_keys"`, the keys are projected at this
                step).
            training (bool): whether dropout is active (default `False`).

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
        memory = self._state_memory(state)
        with (
            self._wrapper_errors(),
            self.wrapper.attending(memory, alignments=True),
        ):
            outputs, new_flat = self.wrapper(inputs, flat, training=training)
            outputs, alignments = self.wrapper.split_outputs(outputs)
        new_state = dict(state)
        new_state["cell_state"] = list(new_flat[:-1])
        new_state["attention"] = new_flat[-1]
        new_state["alignments"] = ops.cast(alignments, state["alignments"].dtype)
        return outputs, new_state

    def _state_memory(self, state):
        """The `AttentionMemory` a step state carries."""
        memory = ops.convert_to_tensor(state["memory"])
        check_rank(self, "memory", tuple(memory.shape), (3,), "(batch, S, dm)")
        mask = state.get("memory_mask")
        keys = state.get("memory_keys")
        if keys is None:
            # Keys that are the memory itself, or none: prepared as
            # `get_initial_state` does (cheap: no projection).
            with self._wrapper_errors():
                return self.wrapper.prepare_memory(memory, mask)
        return AttentionMemory(memory, keys, mask)
