"""The three steps every attention in this library shares.

    scores  = score(query, key)            # (..., Tq, Tk), float32
    weights = masked_softmax(scores, mask) # zeros for fully masked rows
    output  = weights @ value              # (..., Tq, dv)

`attend` runs them with an explicit weights matrix (any score function,
dropout on the weights, weights returned on request, optional chunking over
the query axis to bound memory). `fused_attention` runs the scaled-dot case
through `keras.ops.dot_product_attention`, so each backend's fused kernel is
used when nothing needs the explicit weights.
"""

import keras
from keras import ops

from keras_attention.core import _backend
from keras_attention.core.masking import (
    _MASK_VALUE,
    causal_mask,
    masked_softmax,
    pairwise_4d,
    zero_rows,
)


def _slice_queries(x, start, stop):
    """Slice axis -2 of a query-aligned tensor, leaving broadcast axes alone."""
    if x is None or x.shape[-2] == 1:
        return x
    return x[..., start:stop, :]


def _attend_dense(
    query,
    key,
    value,
    score_fn,
    mask,
    dropout_fn,
    score_args=(),
    bias=None,
    weights_needed=True,
):
    """One dense pass. Without `weights_needed`, fully masked rows are zeroed
    in the `(Tq, dv)` output instead of the `(Tq, Tk)` weights (the other
    masked weights are exact zeros either way), and the weights returned are
    not those zeros."""
    scores = score_fn(query, key, *score_args)
    if bias is not None:
        scores = scores + ops.cast(bias, "float32")
    weights = masked_softmax(scores, mask, zero_empty_rows=weights_needed)
    if dropout_fn is not None:
        weights = dropout_fn(weights)
    output = ops.matmul(ops.cast(weights, value.dtype), value)
    if not (weights_needed or mask is None):
        row_valid = ops.any(ops.cast(mask, "bool"), axis=-1, keepdims=True)
        output = zero_rows(output, row_valid)
    return output, weights


def _chunk_function(score_fn, dropout_fn, has_mask, has_bias=False):
    """The output of one query chunk, rematerialised in the backward pass.

    Without rematerialisation the backward pass keeps every chunk's score
    intermediates alive until their gradients are computed, which is all of
    them: chunking would bound the forward pass only. With `keras.remat` each
    chunk keeps just its inputs and recomputes its scores when its gradient is
    needed. Dropout on the weights draws new random numbers when recomputed,
    so chunks with dropout are not rematerialised.
    """

    def run(query, key, value, *rest):
        mask, rest = (rest[0], rest[1:]) if has_mask else (None, rest)
        bias, score_args = (rest[0], rest[1:]) if has_bias else (None, rest)
        if mask is not None:
            mask = ops.greater(mask, 0.5)
        dense = (score_fn, mask, dropout_fn, score_args, bias, False)
        output, _ = _attend_dense(query, key, value, *dense)
        return output

    if dropout_fn is None:
        run = keras.remat(run)

    def run_chunk(query, key, value, *rest):
        if has_mask:
            # The mask travels as float32: TensorFlow's recompute_grad asks
            # for a gradient of every argument, and bool has none.
            rest = (ops.cast(rest[0], "float32"),) + tuple(rest[1:])
        return run(query, key, value, *rest)

    return run_chunk


def _attend_chunked_sequential(
    query, key, value, score_fn, mask, dropout_fn, size, score_args, bias=None
):
    """Chunked attention whose chunks run one after the other in a loop.

    Used when the query length is only known at run time, and whenever a
    compiler schedules the program (JAX, TensorFlow graphs and XLA): there a
    Python loop of independent chunks may keep them all alive at once, so
    only an explicit loop (`ops.map`) bounds memory. Measured with XLA on
    CPU, forward+backward at batch 2, Tq=Tk=512, units=128, chunks of 64:
    773 MiB of temporaries with a Python loop (as many as without chunking)
    and 99 MiB with `ops.map`. The query (and the mask) are padded by one
    chunk so that every fixed-size slice is in range.
    """
    rank = len(query.shape)
    query_length = ops.shape(query)[-2]
    pad = [[0, 0]] * (rank - 2) + [[0, size], [0, 0]]
    padded_query = ops.pad(query, pad)
    has_mask, has_bias = mask is not None, bias is not None

    def pad_rows(x, value):
        # Query-aligned masks and biases get the query's padding; a
        # broadcast query axis (size 1) is passed whole to every chunk.
        if x is None or x.shape[-2] == 1:
            return x, False
        rows = [[0, 0]] * (len(x.shape) - 2) + [[0, size], [0, 0]]
        return ops.pad(x, rows, constant_values=value), True

    padded_mask, chunked_mask = pad_rows(
        None if mask is None else ops.cast(mask, "bool"), False
    )
    padded_bias, chunked_bias = pad_rows(bias, 0.0)
    num_chunks = (query_length + size - 1) // size
    starts = ops.arange(num_chunks, dtype="int32") * size
    chunk_fn = _chunk_function(score_fn, dropout_fn, has_mask, has_bias)

    def _chunk(x, start):
        begin = [0] * (len(x.shape) - 2) + [start, 0]
        shape = list(ops.shape(x)[:-2]) + [size, ops.shape(x)[-1]]
        return ops.slice(x, begin, shape)

    def run(start):
        extras = []
        if has_mask:
            extras.append(_chunk(padded_mask, start) if chunked_mask else padded_mask)
        if has_bias:
            extras.append(_chunk(padded_bias, start) if chunked_bias else padded_bias)
        return chunk_fn(_chunk(padded_query, start), key, value, *extras, *score_args)

    outputs = ops.map(run, starts)  # (chunks, ..., size, dv)
    outputs = ops.moveaxis(outputs, 0, -3)  # (..., chunks, size, dv)
    lead = list(ops.shape(outputs)[:-3])
    outputs = ops.reshape(outputs, lead + [num_chunks * size, ops.shape(outputs)[-1]])
    return outputs[..., :query_length, :]


def _query_chunks(query, mask, bias, size):
    """`(query, mask, bias)` of each chunk of `size` queries (known length)."""
    for start in range(0, query.shape[-2], size):
        stop = start + size
        yield (
            query[..., start:stop, :],
            _slice_queries(mask, start, stop),
            _slice_queries(bias, start, stop),
        )


def _attend_chunked_static(
    query, key, value, score_fn, mask, dropout_fn, size, score_args, bias=None
):
    """Chunked attention as a Python loop over a known query length."""
    chunk_fn = _chunk_function(score_fn, dropout_fn, mask is not None, bias is not None)
    outputs = []
    for chunk, *extras in _query_chunks(query, mask, bias, size):
        extras = [x for x in extras if x is not None]
        outputs.append(chunk_fn(chunk, key, value, *extras, *score_args))
    return ops.concatenate(outputs, axis=-2)


def _attend_chunked_with_weights(
    query, key, value, score_fn, mask, dropout_fn, size, score_args, bias=None
):
    """Chunked attention returning `(output, weights)`, a Python loop.

    The `(..., Tq, Tk)` weights are returned anyway; chunking still bounds
    the larger score intermediates (additive: `units` times more). No
    rematerialisation: the weights of every chunk are kept.
    """
    outputs, all_weights = [], []
    for chunk, chunk_mask, chunk_bias in _query_chunks(query, mask, bias, size):
        output, weights = _attend_dense(
            chunk, key, value, score_fn, chunk_mask, dropout_fn, score_args, chunk_bias
        )
        outputs.append(output)
        all_weights.append(weights)
    return ops.concatenate(outputs, axis=-2), ops.concatenate(all_weights, axis=-2)


def attend(
    query,
    key,
    value,
    score_fn,
    mask=None,
    dropout_fn=None,
    query_chunk_size=None,
    return_weights=False,
    score_args=(),
    bias=None,
):
    """Attention with an explicit weights matrix.

    Args:
        query (Tensor): `(..., Tq, dq)`.
        key (Tensor): `(..., Tk, dk)`.
        value (Tensor): `(..., Tk, dv)`.
        score_fn (Callable): `score_fn(query, key, *score_args) -> (..., Tq, Tk)`
            float32 scores (see `keras_attention.core.scores`).
        mask (Tensor | None): boolean, broadcastable to `(..., Tq, Tk)`, `True` =
            attend.
        dropout_fn (Callable | None): optional function applied to the weights (training
            dropout).
        query_chunk_size (int | None): if set, queries are processed in chunks of this
            many, so that the score intermediates of only one chunk exist at a
            time (the softmax runs over keys, so chunks are independent). This
            bounds the backward pass too: each chunk is rematerialised
            (`keras.remat`), recomputing its scores when its gradient is
            needed, unless `dropout_fn` is set. Chunks run in a Python loop
            when ops execute eagerly (torch, eager TensorFlow), and in an
            `ops.map` loop under a compiler (JAX, TensorFlow graphs and XLA)
            or when the query length is unknown.
        return_weights (bool): also return the attention weights. Chunks then
            run in a Python loop without rematerialisation (or not at all
            when the query length is unknown).
        score_args (tuple): extra tensors passed to `score_fn` (for example weights
            read from variables: passing them explicitly lets the
            rematerialised chunks differentiate with respect to them).
        bias (Tensor | None): optional additive bias, broadcastable to `(..., Tq, Tk)`,
            added to the float32 scores before the masked softmax (chunked
            along the query axis like `mask`).

    Returns:
        `output` of shape `(..., Tq, dv)` in `value`'s dtype, and the float32
        weights `(..., Tq, Tk)` if `return_weights`.
    """
    query_length = query.shape[-2]
    if (
        not query_chunk_size
        or (query_length is not None and query_length <= query_chunk_size)
        or (return_weights and query_length is None)
    ):
        dense = (score_fn, mask, dropout_fn, score_args, bias, return_weights)
        output, weights = _attend_dense(query, key, value, *dense)
        return (output, weights) if return_weights else output
    if return_weights:
        chunked = _attend_chunked_with_weights
    elif query_length is not None and _backend.executing_eagerly(query):
        chunked = _attend_chunked_static
    else:
        chunked = _attend_chunked_sequential
    return chunked(
        query,
        key,
        value,
        score_fn,
        mask,
        dropout_fn,
        query_chunk_size,
        score_args,
        bias,
    )


def _heads_first_memory(x):
    """The same `(batch, T, heads, d)` values, stored heads-first (PyTorch).

    PyTorch's fused kernels take `(batch, heads, T, d)`; Keras' torch
    `dot_product_attention` transposes its `(batch, T, heads, d)` inputs to
    that layout as strided views, and the flash kernels are slower on those
    than on contiguous memory (Keras' other branch, taken with a mask, makes
    them contiguous itself). Reshaping the transposed view copies it into
    contiguous heads-first memory once; the transpose back is a view, which
    Keras' transpose undoes, so the kernel reads contiguous tensors.
    `ops.transpose` is a view in torch; the reshape is what copies (a no-op
    for one step or one head).
    """
    batch, length, heads, dim = ops.shape(x)
    x = ops.reshape(ops.transpose(x, (0, 2, 1, 3)), (batch * heads, length, dim))
    return ops.transpose(ops.reshape(x, (batch, heads, length, dim)), (0, 2, 1, 3))


def fused_attention(
    query,
    key,
    value,
    mask=None,
    scale=None,
    is_causal=False,
    bias=None,
    query_mask=None,
):
    """Scaled dot-product attention through the backend's fused kernel.

    Layout is Keras': `query` `(batch, Tq, heads, d)`, `key` and `value`
    `(batch, Tk, kv_heads, d)`. Rows whose keys are all masked return zeros
    (the fused kernels would give NaN or uniform weights there).

    Args:
        query (Tensor): `(batch, Tq, heads, d)`.
        key (Tensor): `(batch, Tk, kv_heads, d)`.
        value (Tensor): `(batch, Tk, kv_heads, d)`.
        mask (Tensor | None): boolean, broadcastable to `(batch, heads, Tq, Tk)`, or
            `None`.
        scale (float | None): multiplier of the scores; default `1 / sqrt(d)`.
        is_causal (bool): apply a top-left aligned causal mask in the kernel.
        bias (Tensor | None): optional additive float bias, broadcastable to `(batch,
            heads, Tq, Tk)` (`(Tq, Tk)` and `(batch, Tq, Tk)` forms too), added to the
            scaled scores. With a mask, masked entries are folded into it (PyTorch's
            kernel takes one or the other).
        query_mask (Tensor | None): boolean `(batch, Tq)`: the outputs of padded
            queries are zeros (in the `where` of the empty-row guard), or `None`.

    Returns:
        `(batch, Tq, heads, d)` in `query`'s dtype.
    """
    if _backend.jax_cpu_low_precision(query):
        # XLA on CPU has no float16/bfloat16 dot with float32 accumulation
        # ("precision 'F16_F16_F32' is not supported by dot_general on CPU"
        # under jit, Keras' own MultiHeadAttention included): compute in
        # float32 there, as the softmax is anyway, and cast back.
        dtype = query.dtype
        query, key, value = (ops.cast(x, "float32") for x in (query, key, value))
        output = fused_attention(
            query, key, value, mask, scale, is_causal, bias, query_mask
        )
        return ops.cast(output, dtype)
    keep = None if query_mask is None else ops.cast(query_mask, "bool")[..., None, None]
    heads, kv_heads = query.shape[2], key.shape[2]
    if kv_heads == 1 and heads not in (None, 1) and _backend.name() == "tensorflow":
        # Keras 3.15's TensorFlow dot_product_attention repeats key/value heads
        # only for 1 < kv_heads < heads; its einsum cannot broadcast one head.
        key = ops.repeat(key, heads, axis=2)
        value = ops.repeat(value, heads, axis=2)
    if bias is not None:
        bias = pairwise_4d(ops.cast(bias, "float32"))
        if is_causal:
            causal = causal_mask(ops.shape(query)[1], ops.shape(key)[1])
            mask = causal if mask is None else ops.logical_and(mask, causal)
            is_causal = False
    if mask is None:
        output = _fused_unmasked(query, key, value, bias, scale, is_causal)
        return zero_rows(output, keep)
    return _fused_under_mask(query, key, value, mask, bias, scale, is_causal, keep)


def _fused_unmasked(query, key, value, bias, scale, is_causal):
    """The fused kernel without a mask (every row has a key)."""
    if bias is not None:
        return ops.dot_product_attention(query, key, value, bias=bias, scale=scale)
    if _backend.name() == "torch" and _backend.on_cuda(query):
        # Only the unmasked call can reach the flash kernels; with a mask,
        # Keras makes the tensors contiguous itself. On a CPU the copy
        # costs more than it saves (3-10% of a layer's forward+backward
        # at batch 4, T=1024, 8 heads x 32).
        query, key, value = (_heads_first_memory(x) for x in (query, key, value))
    return ops.dot_product_attention(
        query, key, value, scale=scale, is_causal=is_causal
    )


def _fused_under_mask(query, key, value, mask, bias, scale, is_causal, keep):
    """The fused kernel under a boolean mask, rows without a key (and the
    queries `keep` excludes) zeroed in one `where`."""
    mask = pairwise_4d(ops.cast(mask, "bool"))
    if is_causal:
        mask = ops.logical_and(
            mask, causal_mask(ops.shape(query)[1], ops.shape(key)[1])
        )
    row_valid = ops.any(mask, axis=-1, keepdims=True)  # (b|1, h|1, Tq, 1)
    safe_mask = ops.logical_or(mask, ops.logical_not(row_valid))
    if bias is None:
        output = ops.dot_product_attention(
            query, key, value, mask=safe_mask, scale=scale
        )
    else:
        output = ops.dot_product_attention(
            query, key, value, bias=ops.where(safe_mask, bias, _MASK_VALUE), scale=scale
        )
    valid = ops.transpose(row_valid, (0, 2, 1, 3))  # (b|1, Tq|1, h|1, 1)
    # One `where` for both guards; its zero is a scalar (no zeros-sized fill).
    return zero_rows(output, valid if keep is None else ops.logical_and(valid, keep))
