import keras
import numpy as np
import pytest
from harness import CHECKS, LayerCase, run_check, to_numpy

from keras_attention import AdditiveAttention, BahdanauAttention

CASES = [
    LayerCase(
        AdditiveAttention,
        {"units": 4},
        {"query": (2, 5, 6), "value": (2, 7, 3)},
        scores=True,
        mask_inputs=("query", "value"),
    ),
    LayerCase(
        AdditiveAttention,
        {"units": 4, "normalize": True, "use_bias": False, "query_chunk_size": 2},
        {"query": (2, 5, 6), "value": (2, 7, 3), "key": (2, 7, 5)},
        scores=True,
        mask_inputs=("query", "value", "key"),
        id="normalize-chunked-key",
    ),
    LayerCase(
        AdditiveAttention,
        {"units": 4, "dropout": 0.1},
        {"query": (2, 6), "value": (2, 7, 3)},
        scores=True,
        mask_inputs=("value",),
        id="single-step",
    ),
    LayerCase(
        AdditiveAttention,
        {"units": 4},
        {"query": (2, 5, 6), "value": (2, 5, 6)},
        call_kwargs={"use_causal_mask": True},
        scores=True,
        mask_inputs=("query", "value"),
        id="causal",
    ),
]


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_keras_contract(case, check, tmp_path):
    run_check(case, check, tmp_path)


RNG = np.random.default_rng(0)


def test_bahdanau_alias():
    assert BahdanauAttention is AdditiveAttention


def test_equals_keras_additive_attention_when_configured_equivalently():
    # keras.layers.AdditiveAttention scores sum(scale * tanh(q + k)): ours with
    # identity projections, no bias and v = scale.
    dim = 4
    query = RNG.normal(size=(2, 5, dim)).astype("float32")
    value = RNG.normal(size=(2, 7, dim)).astype("float32")
    mask = np.ones((2, 7), bool)
    mask[0, -2:] = False
    theirs = keras.layers.AdditiveAttention(use_scale=True)
    theirs([query, value])
    theirs.scale.assign(RNG.normal(size=(dim,)).astype("float32"))
    ours = AdditiveAttention(units=dim, use_bias=False)
    ours(query, value)
    ours.query_kernel.assign(np.eye(dim, dtype="float32"))
    ours.key_kernel.assign(np.eye(dim, dtype="float32"))
    ours.attention_v.assign(to_numpy(theirs.scale))
    expected, expected_w = theirs(
        [query, value], mask=[None, mask], return_attention_scores=True
    )
    got, got_w = ours(query, value, value_mask=mask, return_attention_scores=True)
    np.testing.assert_allclose(to_numpy(got), to_numpy(expected), atol=1e-5)
    np.testing.assert_allclose(to_numpy(got_w), to_numpy(expected_w), atol=1e-6)


def test_matches_numpy_bahdanau_with_normalisation():
    query = RNG.normal(size=(2, 3, 5)).astype("float32")
    value = RNG.normal(size=(2, 4, 6)).astype("float32")
    layer = AdditiveAttention(units=7, normalize=True)
    layer(query, value)
    layer.bias.assign(RNG.normal(size=(7,)).astype("float32"))
    layer.attention_g.assign(1.3)
    w_q, w_k = to_numpy(layer.query_kernel), to_numpy(layer.key_kernel)
    v, b = to_numpy(layer.attention_v), to_numpy(layer.bias)
    v = 1.3 * v / np.linalg.norm(v)
    scores = np.tanh((query @ w_q)[:, :, None] + (value @ w_k)[:, None] + b) @ v
    weights = np.exp(scores) / np.exp(scores).sum(-1, keepdims=True)
    got, got_w = layer(query, value, return_attention_scores=True)
    np.testing.assert_allclose(to_numpy(got_w), weights, atol=1e-5)
    np.testing.assert_allclose(to_numpy(got), weights @ value, atol=1e-5)


@pytest.mark.parametrize("chunk", [1, 3, 64])
def test_query_chunking_gives_identical_results(chunk):
    query = RNG.normal(size=(2, 9, 5)).astype("float32")
    value = RNG.normal(size=(2, 4, 6)).astype("float32")
    mask = RNG.random((2, 4)) > 0.3
    layer = AdditiveAttention(units=7)
    chunked = AdditiveAttention(units=7, query_chunk_size=chunk)
    expected = layer(query, value, value_mask=mask, use_causal_mask=True)
    chunked(query, value)
    chunked.set_weights(layer.get_weights())
    got = chunked(query, value, value_mask=mask, use_causal_mask=True)
    np.testing.assert_allclose(to_numpy(got), to_numpy(expected), atol=1e-6)


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="only TensorFlow graphs have a query length unknown at trace time "
    "(JAX and torch always see concrete shapes)",
)
def test_chunking_with_unknown_length_in_a_tf_graph():
    import tensorflow as tf

    query = RNG.normal(size=(2, 9, 5)).astype("float32")
    value = RNG.normal(size=(2, 4, 6)).astype("float32")
    layer = AdditiveAttention(units=7, query_chunk_size=4)
    expected = layer(query, value)

    @tf.function(
        input_signature=[
            tf.TensorSpec((None, None, 5)),
            tf.TensorSpec((None, None, 6)),
        ]
    )
    def run(q, v):
        return layer(q, v)

    np.testing.assert_allclose(
        to_numpy(run(query, value)), to_numpy(expected), atol=1e-6
    )


def _one_sgd_step(chunk, mode, data, target, initial):
    """The weight change of one SGD step (= -gradient) of a model around the layer."""
    query_input = keras.Input((9, 5))
    value_input = keras.Input((4, 6), name="value")
    layer = AdditiveAttention(units=7, normalize=True, query_chunk_size=chunk)
    masked_value = keras.layers.Masking(0.0)(value_input)
    outputs = layer(query_input, masked_value, use_causal_mask=True)
    model = keras.Model([query_input, value_input], outputs)
    model.set_weights(initial)
    model.compile(
        optimizer=keras.optimizers.SGD(1.0),
        loss="mse",
        jit_compile=mode == "jit",
        run_eagerly=mode == "eager",
    )
    model.train_on_batch(data, target)
    return [to_numpy(w) - i for w, i in zip(model.weights, initial, strict=True)]


COMPILED = {"tensorflow": ["eager", "graph", "jit"], "jax": ["jit"], "torch": ["eager"]}


@pytest.mark.parametrize("mode", COMPILED[keras.backend.backend()])
def test_query_chunking_gives_identical_gradients(mode):
    # Chunks are rematerialised in the backward pass (and run in an `ops.map`
    # loop under JAX and in TensorFlow graphs): the gradients of every weight
    # must be those of the unchunked layer.
    query = RNG.normal(size=(3, 9, 5)).astype("float32")
    value = RNG.normal(size=(3, 4, 6)).astype("float32")
    value[0, -1:] = 0.0  # padding, masked by `Masking`
    target = RNG.normal(size=(3, 9, 6)).astype("float32")
    reference = AdditiveAttention(units=7, normalize=True)
    reference(query, value)
    reference.bias.assign(RNG.normal(size=(7,)).astype("float32"))
    initial = [to_numpy(w) for w in reference.weights]
    expected = _one_sgd_step(None, mode, [query, value], target, initial)
    got = _one_sgd_step(4, mode, [query, value], target, initial)
    for g, e in zip(got, expected, strict=True):
        assert np.any(e != 0)
        np.testing.assert_allclose(g, e, atol=1e-6, rtol=1e-5)
