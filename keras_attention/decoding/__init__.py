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

from keras_attention.decoding.beam import beam_search
from keras_attention.decoding.greedy import greedy_search
from keras_attention.decoding.sampling import sample

__all__ = ["beam_search", "greedy_search", "sample"]
