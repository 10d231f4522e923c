"""Attention-equipped recurrent decoders for sequence-to-sequence models.

One implementation, two faces:

- `AttentionWrapper` (`wrapper.py`) is a Keras RNN *cell* that wraps any
  cell (`LSTMCell`, `GRUCell`, `StackedRNNCells`, ...) with any attention
  layer of this package. It is the migration path for
  `tfa.seq2seq.AttentionWrapper` users and runs inside a plain
  `keras.layers.RNN`.
- `AttentionDecoder` (`decoder.py`) is a layer that runs `keras.layers.RNN`
  over its own `AttentionWrapper`: teacher-forced training over whole
  sequences, the alignment history on request, Keras masks on both
  sequences, and a `step` method for `keras_attention.decoding` (greedy,
  beam search, sampling).

Keras 3's `RNN` has no `constants` argument, so the attention memory (the
encoder outputs and their mask) is handed to the cell out of band: an
`AttentionMemory` (`memory.py`: the values with padding zeroed, the keys
projected once per sequence, the mask) is set on the wrapper right before
the loop runs and cleared right after. The loop itself is
`keras.layers.RNN`, so it compiles with `jit_compile=True` on TensorFlow and
JAX. `cells.py` holds what concerns the wrapped cell alone (checks, state
sizes, initial states, dropout masks).
"""

from keras_attention.layers.recurrent.decoder import AttentionDecoder
from keras_attention.layers.recurrent.memory import AttentionMemory
from keras_attention.layers.recurrent.wrapper import STYLES, AttentionWrapper

__all__ = ["STYLES", "AttentionDecoder", "AttentionMemory", "AttentionWrapper"]
