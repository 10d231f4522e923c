import keras
import numpy as np
import pytest
from keras import ops

from keras_attention.core import _backend, attend, fused_attention, masked_softmax
from keras_attention.core.attend import _attend_chunked_sequential
from keras_attention.core.scores import dot_score, scaled_dot_score

RNG = np.random.default_rng(0)


def np_(x):
    return ops.convert_to_numpy(x)


def reference(q, k, v, mask=None, scale=None):
    scale = 1 / np.sqrt(q.shape[-1]) if scale is None else scale
    scores = np.einsum("...qd,...kd->...qk", q, k) * scale
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    with np.errstate(invalid="ignore"):
        weights = np.exp(scores - scores.max(-1, keepdims=True))
        weights = weights / weights.sum(-1, keepdims=True)
    weights = np.nan_to_num(weights)  # fully masked rows -> zeros
    return weights @ v, weights


def data(tq=7, tk=5, d=4, dv=3):
    q = RNG.normal(size=(2, tq, d)).astype("float32")
    k = RNG.normal(size=(2, tk, d)).astype("float32")
    v = RNG.normal(size=(2, tk, dv)).astype("float32")
    mask = RNG.random((2, tq, tk)) > 0.3
    mask[0, 2] = False  # a fully masked row
    return q, k, v, mask


def test_attend_matches_reference_with_masks():
    q, k, v, mask = data()
    out, weights = attend(q, k, v, scaled_dot_score, mask=mask, return_weights=True)
    ref_out, ref_weights = reference(q, k, v, mask)
    np.testing.assert_allclose(np_(out), ref_out, atol=1e-5)
    np.testing.assert_allclose(np_(weights), ref_weights, atol=1e-6)
    np.testing.assert_array_equal(np_(out)[0, 2], 0.0)


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 100])
def test_query_chunking_is_exact(chunk):
    q, k, v, mask = data()
    full, full_w = attend(q, k, v, dot_score, mask=mask, return_weights=True)
    out, weights = attend(
        q, k, v, dot_score, mask=mask, query_chunk_size=chunk, return_weights=True
    )
    np.testing.assert_allclose(np_(out), np_(full), atol=1e-6)
    np.testing.assert_allclose(np_(weights), np_(full_w), atol=1e-7)
    # A mask that broadcasts over queries is not sliced.
    key_only = mask[:, :1]
    out = attend(q, k, v, dot_score, mask=key_only, query_chunk_size=chunk)
    full = attend(q, k, v, dot_score, mask=key_only)
    np.testing.assert_allclose(np_(out), np_(full), atol=1e-6)


@pytest.mark.parametrize("chunk", [2, 3, 8])
def test_dynamic_length_chunking_is_exact(chunk):
    # The ops.map path (Tq unknown at trace time, or a TensorFlow graph); it runs on
    # concrete tensors, which is how it is checked on every backend.
    q, k, v, mask = data()
    out = _attend_chunked_sequential(q, k, v, dot_score, mask, None, chunk, ())
    full = attend(q, k, v, dot_score, mask=mask)
    np.testing.assert_allclose(np_(out), np_(full), atol=1e-6)


def test_fused_attention_matches_explicit_and_zeroes_empty_rows():
    q, k, v, mask = data(d=4, dv=4)
    heads = [ops.expand_dims(x, 2) for x in (q, k, v)]  # (b, t, 1, d)
    out = np_(fused_attention(*heads, mask=mask))[:, :, 0]
    ref_out, _ = reference(q, k, v, mask)
    np.testing.assert_allclose(out, ref_out, atol=1e-5)
    assert np.all(np.isfinite(out))
    np.testing.assert_array_equal(out[0, 2], 0.0)
    # (Tq, Tk) masks and causal flags broadcast over the batch.
    tri = np.tril(np.ones((7, 5), bool))
    out = np_(fused_attention(*heads, mask=tri))[:, :, 0]
    np.testing.assert_allclose(out, reference(q, k, v, tri)[0], atol=1e-5)
    out = np_(fused_attention(*heads, mask=mask, is_causal=True))[:, :, 0]
    np.testing.assert_allclose(out, reference(q, k, v, mask & tri)[0], atol=1e-5)
    out = np_(fused_attention(*heads, scale=0.3))[:, :, 0]
    np.testing.assert_allclose(out, reference(q, k, v, scale=0.3)[0], atol=1e-5)


def test_attend_weights_float32_and_value_dtype_output():
    q, k, v, mask = data()
    v16 = ops.cast(v, "float16")
    out, weights = attend(q, k, v16, dot_score, mask=mask, return_weights=True)
    assert str(np_(out).dtype) == "float16"
    assert str(np_(weights).dtype) == "float32"
    np.testing.assert_allclose(
        np_(weights), np_(masked_softmax(np_(dot_score(q, k)), mask)), atol=1e-6
    )


@pytest.mark.skipif(
    keras.backend.backend() != "torch",
    reason="memory layout is PyTorch's concern: TensorFlow's transpose copies, "
    "and XLA (JAX, TF jit) chooses the layouts itself",
)
@pytest.mark.parametrize("on_cuda", [False, True])
@pytest.mark.parametrize("is_causal", [False, True])
def test_fused_attention_feeds_torch_contiguous_heads_first(
    monkeypatch, is_causal, on_cuda
):
    import torch

    # Without a mask Keras may pick the flash kernel, which runs on
    # `x.transpose(1, 2)` of what Keras receives: on a GPU that view must be
    # contiguous, i.e. the memory heads-first. (With a mask Keras makes the
    # tensors contiguous itself.) On a CPU the copy is not worth it. The
    # CUDA branch is the same code on CPU tensors, with the device check
    # answering "cuda".
    if on_cuda:
        monkeypatch.setattr(_backend, "on_cuda", lambda x: True)
    seen = []
    dot_product_attention = keras.ops.dot_product_attention

    def recording(query, key, value, *args, **kwargs):
        seen.append(
            [torch.transpose(x, 1, 2).is_contiguous() for x in (query, key, value)]
        )
        return dot_product_attention(query, key, value, *args, **kwargs)

    monkeypatch.setattr(keras.ops, "dot_product_attention", recording)
    rng = np.random.default_rng(0)
    # (batch, T, heads, d), as projections make them: heads-first is strided.
    q, k, v = (rng.normal(size=(2, 7, 3, 4)).astype("float32") for _ in range(3))
    out = fused_attention(
        *(ops.convert_to_tensor(x) for x in (q, k, v)), is_causal=is_causal
    )
    assert seen == [[on_cuda] * 3]
    m = np.tril(np.ones((7, 7), bool)) if is_causal else None
    expected, _ = reference(*(np.transpose(x, (0, 2, 1, 3)) for x in (q, k, v)), m)
    np.testing.assert_allclose(
        np_(out), np.transpose(expected, (0, 2, 1, 3)), rtol=1e-5, atol=1e-5
    )


def test_without_weights_fully_masked_rows_are_zeroed_in_the_output():
    """`attend` without `return_weights` zeroes rows with no key in the
    output (not in the weights): the same outputs as with the weights."""
    q, k, v, mask = data()
    out = attend(q, k, v, scaled_dot_score, mask=mask)
    with_weights, _ = attend(q, k, v, scaled_dot_score, mask=mask, return_weights=True)
    ref_out, _ = reference(q, k, v, mask)
    np.testing.assert_allclose(np_(out), ref_out, atol=1e-5)
    np.testing.assert_allclose(np_(out), np_(with_weights), atol=1e-6)
    np.testing.assert_array_equal(np_(out)[0, 2], 0.0)
