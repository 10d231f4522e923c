import keras
import numpy as np
import pytest
from harness import BACKEND, CHECKS, LayerCase, run_check, to_numpy
from keras import ops

from keras_attention import MultiHeadAttention
from keras_attention.core import alibi_bias, alibi_slopes, band_mask, rotate_half

SELF = {"query": (2, 6, 16), "value": (2, 6, 16)}
CASES = [
    LayerCase(
        MultiHeadAttention,
        {"num_heads": 4, "key_dim": 8},
        {"query": (2, 5, 16), "value": (2, 7, 12)},
        scores=True,
        mask_inputs=("query", "value"),
        id="cross",
    ),
    LayerCase(
        MultiHeadAttention,
        {
            "num_heads": 4,
            "key_dim": 8,
            "num_key_value_heads": 2,
            "position_embedding": "rope",
        },
        SELF,
        call_kwargs={"use_causal_mask": True},
        scores=True,
        mask_inputs=("query", "value"),
        id="gqa-rope-causal",
    ),
    LayerCase(
        MultiHeadAttention,
        {"num_heads": 2, "key_dim": 4, "num_key_value_heads": 1, "window": 2},
        SELF,
        scores=True,
        mask_inputs=("query", "value"),
        id="mqa-window",
    ),
    LayerCase(
        MultiHeadAttention,
        {
            "num_heads": 2,
            "key_dim": 4,
            "value_dim": 6,
            "output_dim": 5,
            "position_embedding": "alibi",
            "dropout": 0.1,
        },
        SELF,
        call_kwargs={"use_causal_mask": True},
        scores=True,
        mask_inputs=("query", "value"),
        id="alibi-value_dim-output_dim",
    ),
    LayerCase(
        MultiHeadAttention,
        {"num_heads": 2, "key_dim": 4, "score": "additive"},
        {"query": (2, 5, 6), "value": (2, 7, 3), "key": (2, 7, 4)},
        scores=True,
        mask_inputs=("query", "value", "key"),
        id="additive-key",
    ),
    LayerCase(
        MultiHeadAttention,
        {"num_heads": 2, "key_dim": 4, "score": "general", "use_bias": False},
        SELF,
        scores=True,
        mask_inputs=("query", "value"),
        id="general-nobias",
    ),
]


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_keras_contract(case, check, tmp_path):
    run_check(case, check, tmp_path)


RNG = np.random.default_rng(0)


def _copy_from_keras(ours, theirs, query, value):
    theirs(query, value)
    ours(query, value)
    ours.set_weights(theirs.get_weights())


@pytest.mark.parametrize("causal", [False, True])
def test_equals_keras_multi_head_attention(causal):
    query = RNG.normal(size=(2, 6, 16)).astype("float32")
    value = query if causal else RNG.normal(size=(2, 7, 12)).astype("float32")
    query_mask = np.ones((2, 6), bool)
    query_mask[1, -2:] = False
    value_mask = np.ones((2, value.shape[1]), bool)
    value_mask[0, -3:] = False
    theirs = keras.layers.MultiHeadAttention(num_heads=4, key_dim=8)
    ours = MultiHeadAttention(num_heads=4, key_dim=8)
    _copy_from_keras(ours, theirs, query, value)
    kwargs = dict(query_mask=query_mask, value_mask=value_mask, use_causal_mask=causal)
    expected, expected_w = theirs(query, value, return_attention_scores=True, **kwargs)
    got_fused = ours(query, value, **kwargs)
    got, got_w = ours(query, value, return_attention_scores=True, **kwargs)
    # Keras gives masked query rows uniform weights, we give zeros: compare
    # the real query steps.
    valid = query_mask
    for out in (got, got_fused):
        np.testing.assert_allclose(
            to_numpy(out)[valid], to_numpy(expected)[valid], atol=1e-5
        )
    np.testing.assert_allclose(
        to_numpy(got_w).transpose(0, 2, 1, 3)[valid],
        to_numpy(expected_w).transpose(0, 2, 1, 3)[valid],
        atol=1e-6,
    )
    # Causal only (no padding): the kernel's is_causal path.
    np.testing.assert_allclose(
        to_numpy(ours(query, value, use_causal_mask=causal)),
        to_numpy(theirs(query, value, use_causal_mask=causal)),
        atol=1e-5,
    )


@pytest.mark.parametrize("kv_heads", [1, 2])
def test_equals_keras_group_query_attention(kv_heads):
    query = RNG.normal(size=(2, 6, 16)).astype("float32")
    value = RNG.normal(size=(2, 6, 12)).astype("float32")
    value_mask = np.ones((2, 6), bool)
    value_mask[0, -2:] = False
    theirs = keras.layers.GroupQueryAttention(
        head_dim=8, num_query_heads=4, num_key_value_heads=kv_heads
    )
    ours = MultiHeadAttention(num_heads=4, key_dim=8, num_key_value_heads=kv_heads)
    _copy_from_keras(ours, theirs, query, value)
    for causal in (False, True):
        expected = theirs(query, value, value_mask=value_mask, use_causal_mask=causal)
        for weights in (False, True):
            got = ours(
                query,
                value,
                value_mask=value_mask,
                use_causal_mask=causal,
                return_attention_scores=weights,
            )
            got = got[0] if weights else got
            np.testing.assert_allclose(to_numpy(got), to_numpy(expected), atol=1e-5)


def test_fused_and_explicit_paths_agree_on_fully_masked_rows():
    x = RNG.normal(size=(2, 5, 8)).astype("float32")
    mask = np.ones((2, 5), bool)
    mask[1] = False
    layer = MultiHeadAttention(num_heads=2, key_dim=4, num_key_value_heads=1)
    fused = to_numpy(layer(x, x, value_mask=mask, use_causal_mask=True))
    explicit, weights = layer(
        x, x, value_mask=mask, use_causal_mask=True, return_attention_scores=True
    )
    np.testing.assert_allclose(fused, to_numpy(explicit), atol=1e-5)
    assert np.all(np.isfinite(fused))
    np.testing.assert_array_equal(to_numpy(weights)[1], 0.0)


def _decode_step_by_step(layer, x, max_length, prefill=0):
    batch = x.shape[0]
    cache = ops.zeros((batch, 2, max_length, layer._kv_heads, layer.key_dim))
    outputs = []
    if prefill:
        out, cache = layer(
            x[:, :prefill], x[:, :prefill], cache=cache, cache_update_index=0
        )
        outputs.append(to_numpy(out))
    for t in range(prefill, x.shape[1]):
        step = x[:, t : t + 1]
        out, cache = layer(step, step, cache=cache, cache_update_index=t)
        outputs.append(to_numpy(out))
    return np.concatenate(outputs, axis=1)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"num_key_value_heads": 2, "position_embedding": "rope"},
        {"num_key_value_heads": 1, "position_embedding": "alibi"},
        {"window": 3},
    ],
    ids=["mha", "gqa-rope", "mqa-alibi", "window"],
)
@pytest.mark.parametrize("prefill", [0, 3])
def test_cached_decoding_equals_full_causal_attention(kwargs, prefill):
    x = RNG.normal(size=(2, 7, 16)).astype("float32")
    layer = MultiHeadAttention(num_heads=4, key_dim=8, **kwargs)
    full = to_numpy(layer(x, x, use_causal_mask=True))
    stepwise = _decode_step_by_step(layer, x, max_length=10, prefill=prefill)
    np.testing.assert_allclose(stepwise, full, atol=1e-5)


def test_cross_attention_cache_is_read_as_is():
    query = RNG.normal(size=(2, 3, 16)).astype("float32")
    memory = RNG.normal(size=(2, 5, 16)).astype("float32")
    layer = MultiHeadAttention(num_heads=2, key_dim=8)
    expected = to_numpy(layer(query, memory))
    k = ops.einsum("btd,dhk->bthk", memory, layer.key_kernel) + layer.key_bias
    v = ops.einsum("btd,dhk->bthk", memory, layer.value_kernel) + layer.value_bias
    out, cache = layer(query, memory, cache=ops.stack([k, v], axis=1))
    np.testing.assert_allclose(to_numpy(out), expected, atol=1e-5)


def test_cached_decoding_compiles_in_a_loop():
    if BACKEND == "torch":
        pytest.skip(
            "torch backend: keras.ops.fori_loop is a Python loop there (no "
            "graph compiler); the eager step-by-step test covers torch"
        )
    x = RNG.normal(size=(2, 6, 16)).astype("float32")
    layer = MultiHeadAttention(num_heads=4, key_dim=8, position_embedding="rope")
    full = to_numpy(layer(x, x, use_causal_mask=True))

    def decode(inputs):
        cache = ops.zeros((2, 2, 8, 4, 8))
        outputs = ops.zeros((2, 6, 16))

        def body(t, carry):
            cache, outputs = carry
            step = ops.slice(inputs, (0, t, 0), (2, 1, 16))
            out, cache = layer(step, step, cache=cache, cache_update_index=t)
            outputs = ops.slice_update(outputs, (0, t, 0), out)
            return cache, outputs

        return ops.fori_loop(0, 6, body, (cache, outputs))[1]

    if BACKEND == "jax":
        import jax

        compiled = jax.jit(decode)
    else:
        import tensorflow as tf

        compiled = tf.function(decode, jit_compile=True)
    np.testing.assert_allclose(to_numpy(compiled(x)), full, atol=1e-5)


@pytest.mark.parametrize("causal", [True, False])
def test_window_equals_full_attention_with_a_band_mask(causal):
    x = RNG.normal(size=(2, 9, 8)).astype("float32")
    windowed = MultiHeadAttention(num_heads=2, key_dim=4, window=3)
    full = MultiHeadAttention(num_heads=2, key_dim=4)
    windowed(x, x)
    full(x, x)
    full.set_weights(windowed.get_weights())
    band = band_mask(9, 9, left=2 if causal else 3, right=0 if causal else 3)
    expected = full(x, x, attention_mask=band, use_causal_mask=causal)
    got = windowed(x, x, use_causal_mask=causal)
    np.testing.assert_allclose(to_numpy(got), to_numpy(expected), atol=1e-5)


def test_rope_scores_depend_only_on_relative_position():
    q = RNG.normal(size=(1, 1, 1, 8)).astype("float32")
    k = RNG.normal(size=(1, 1, 1, 8)).astype("float32")

    def score(m, n):
        rq = to_numpy(rotate_half(q, np.array([m])))
        rk = to_numpy(rotate_half(k, np.array([n])))
        return float((rq * rk).sum())

    for m, n, shift in [(3, 1, 5), (0, 7, 11), (10, 10, 100)]:
        np.testing.assert_allclose(score(m, n), score(m + shift, n + shift), rtol=1e-4)
    assert abs(score(3, 1) - score(1, 3)) > 1e-3  # not symmetric: it is rotated
    # Position 0 is the identity.
    np.testing.assert_allclose(to_numpy(rotate_half(q, np.array([0]))), q, atol=1e-7)


def test_alibi_matches_its_closed_form():
    # Press et al. (2022): slopes 2^(-8h/n); 8 heads -> 1/2, 1/4, ..., 1/256.
    np.testing.assert_allclose(alibi_slopes(8), [2.0**-h for h in range(1, 9)])
    # Not a power of two: the 4-head slopes and every other 8-head slope.
    np.testing.assert_allclose(
        alibi_slopes(6), [2**-2, 2**-4, 2**-6, 2**-8, 2**-1, 2**-3]
    )
    bias = to_numpy(alibi_bias(4, 3, 5, offset=2))
    slopes = np.array(alibi_slopes(4))
    i = np.arange(3)[:, None] + 2
    j = np.arange(5)[None, :]
    np.testing.assert_allclose(bias[0], -slopes[:, None, None] * (i - j), atol=1e-6)
    symmetric = to_numpy(alibi_bias(4, 3, 5, causal=False))
    i = np.arange(3)[:, None]
    np.testing.assert_allclose(
        symmetric[0], -slopes[:, None, None] * np.abs(i - j), atol=1e-6
    )


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"num_heads": 0, "key_dim": 4}, "num_heads"),
        ({"num_heads": 4, "key_dim": 0}, "key_dim"),
        (
            {"num_heads": 4, "key_dim": 4, "num_key_value_heads": 3},
            "num_key_value_heads",
        ),
        ({"num_heads": 4, "key_dim": 4, "dropout": 1.5}, "dropout"),
        ({"num_heads": 4, "key_dim": 4, "score": "dot"}, "score"),
        ({"num_heads": 4, "key_dim": 4, "window": 0}, "window"),
        (
            {"num_heads": 4, "key_dim": 4, "position_embedding": "xpos"},
            "position_embedding",
        ),
        ({"num_heads": 4, "key_dim": 5, "position_embedding": "rope"}, "key_dim"),
    ],
)
def test_constructor_arguments_are_validated(kwargs, argument):
    with pytest.raises(ValueError, match=f"`{argument}`"):
        MultiHeadAttention(**kwargs)


def test_bad_call_inputs_are_named():
    layer = MultiHeadAttention(num_heads=2, key_dim=4)
    x = np.zeros((2, 5, 8), "float32")
    with pytest.raises(ValueError, match="query"):
        layer(np.zeros((2, 8), "float32"), x)
    with pytest.raises(ValueError, match="batch size"):
        layer(x, np.zeros((3, 5, 8), "float32"))
    with pytest.raises(ValueError, match="`cache`"):
        layer(x, x, cache=np.zeros((2, 2, 9, 3, 4), "float32"), cache_update_index=0)
    with pytest.raises(ValueError, match="cache_update_index"):
        layer(x, x, cache_update_index=0)
