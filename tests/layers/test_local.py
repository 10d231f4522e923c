import keras
import numpy as np
import pytest
from grad_utils import value_and_grad
from harness import CHECKS, LayerCase, run_check, to_numpy

from keras_attention import LocalAttention

CASES = [
    LayerCase(
        LocalAttention,
        {"window_width": 2, "mode": "predictive", "score": "general"},
        {"query": (2, 5, 6), "value": (2, 7, 4)},
        scores=True,
        mask_inputs=("query", "value"),
        id="local-p-general",
    ),
    LayerCase(
        LocalAttention,
        {"window_width": 1, "mode": "monotonic", "score": "dot"},
        {"query": (2, 5, 4), "value": (2, 7, 4)},
        scores=True,
        mask_inputs=("query", "value"),
        id="local-m-dot",
    ),
    LayerCase(
        LocalAttention,
        {"window_width": 3, "mode": "predictive", "score": "concat", "units": 5},
        {"query": (2, 6), "value": (2, 8, 3), "key": (2, 8, 4)},
        scores=True,
        mask_inputs=("value", "key"),
        id="local-p-concat-single-step",
    ),
]


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_keras_contract(case, check, tmp_path):
    run_check(case, check, tmp_path)


RNG = np.random.default_rng(0)


# ------------------------------------------------------------- NumPy reference
def reference(layer, query, value, positions=None, value_mask=None):
    """Luong et al. (2015), section 3.2, written out with the layer's weights."""
    w = {v.path.split("/")[-1]: to_numpy(v) for v in layer.weights}
    batch, steps, _ = query.shape
    length = value.shape[1]
    if layer.score_name == "dot":
        scores = query @ value.transpose(0, 2, 1)
    elif layer.score_name == "general":
        scores = query @ w["kernel"] @ value.transpose(0, 2, 1)
    else:  # concat: v^T tanh(W_q h_t + W_k h_s)
        hidden = (query @ w["query_kernel"])[:, :, None] + (value @ w["key_kernel"])[
            :, None
        ]
        scores = np.tanh(hidden) @ w["attention_v"]
    valid = np.ones((batch, length), bool) if value_mask is None else value_mask
    if layer.mode == "predictive":
        source_length = valid.sum(-1, keepdims=True)
        logits = np.tanh(query @ w["position_kernel"]) @ w["position_v"]
        centre = (source_length - 1) / (1 + np.exp(-logits))
    elif positions is None:
        centre = np.broadcast_to(np.arange(steps, dtype="float32"), (batch, steps))
    else:
        centre = positions.astype("float32")
    distance = np.arange(length)[None, None] - centre[:, :, None]
    keep = (np.abs(distance) <= layer.window_width) & valid[:, None]
    scores = np.where(keep, scores, -np.inf)
    top = np.max(np.where(keep, scores, -1e30), axis=-1, keepdims=True)
    exp = np.where(keep, np.exp(scores - top), 0.0)
    total = exp.sum(-1, keepdims=True)
    weights = np.divide(exp, total, out=np.zeros_like(exp), where=total > 0)
    if layer.mode == "predictive":
        sigma = layer.window_width / 2
        weights = weights * np.exp(-(distance**2) / (2 * sigma**2))
    return weights @ value, weights, centre


@pytest.mark.parametrize("mode", ["monotonic", "predictive"])
@pytest.mark.parametrize("score", ["dot", "general", "concat"])
def test_matches_numpy_reference_of_the_paper(mode, score):
    query = RNG.normal(size=(2, 6, 4)).astype("float32")
    value = RNG.normal(size=(2, 9, 4)).astype("float32")
    value_mask = np.arange(9)[None] < np.array([[9], [6]])
    layer = LocalAttention(window_width=2, mode=mode, score=score)
    layer(query, value)
    for weight in layer.weights:  # away from the initial values
        weight.assign(RNG.normal(size=weight.shape).astype("float32"))
    out, weights, positions = layer(
        query,
        value,
        value_mask=value_mask,
        return_attention_scores=True,
        return_positions=True,
    )
    want_out, want_weights, want_positions = reference(
        layer, query, value, value_mask=value_mask
    )
    np.testing.assert_allclose(to_numpy(positions), want_positions, atol=1e-5)
    np.testing.assert_allclose(to_numpy(weights), want_weights, atol=1e-5)
    np.testing.assert_allclose(to_numpy(out), want_out, atol=1e-5)


def test_window_is_clipped_at_the_edges_and_nothing_outside_is_attended():
    query = RNG.normal(size=(1, 2, 4)).astype("float32")
    value = RNG.normal(size=(1, 8, 4)).astype("float32")
    layer = LocalAttention(window_width=2, mode="monotonic", score="dot")
    positions = np.array([[0, 7]])
    _, weights = layer(query, value, positions=positions, return_attention_scores=True)
    weights = to_numpy(weights)[0]
    # p=0: keys 0..2 (the window is clipped at the start); p=7: keys 5..7.
    np.testing.assert_array_equal(weights[0, 3:], 0.0)
    np.testing.assert_array_equal(weights[1, :5], 0.0)
    np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-6)
    assert np.all(weights[0, :3] > 0) and np.all(weights[1, 5:] > 0)


@pytest.mark.parametrize("side", [-1.0, 1.0])
def test_predictive_window_is_clipped_at_the_edges(side):
    # Saturate the predictor: tanh(W_p h) ~ 1, so p_t ~ 0 (side -1) or S - 1.
    query = np.abs(RNG.normal(size=(2, 3, 4))).astype("float32") + 1.0
    value = RNG.normal(size=(2, 8, 4)).astype("float32")
    value_mask = np.arange(8)[None] < np.array([[8], [5]])  # S = 8 and 5
    layer = LocalAttention(window_width=2, mode="predictive", score="dot")
    layer(query, value)
    layer.position_kernel.assign(10.0 * np.eye(4, dtype="float32"))
    layer.position_v.assign(np.full((4,), 20.0 * side, "float32"))
    _, weights, positions = layer(
        query,
        value,
        value_mask=value_mask,
        return_attention_scores=True,
        return_positions=True,
    )
    weights, positions = to_numpy(weights), to_numpy(positions)
    for b, length in enumerate((8, 5)):
        edge = 0 if side < 0 else length - 1
        np.testing.assert_allclose(positions[b], edge, atol=1e-4)
        inside = np.abs(np.arange(8) - edge) <= 2
        inside &= np.arange(8) < length  # clipped: no step past the source
        np.testing.assert_array_equal(weights[b][:, ~inside], 0.0)
        assert np.all(weights[b][:, inside] > 0)
        assert inside.sum() == 3  # D + 1 steps: half the window is cut off


def test_position_predictor_gradients_are_finite_and_nonzero():
    query = RNG.normal(size=(2, 3, 4)).astype("float32")
    value = RNG.normal(size=(2, 9, 4)).astype("float32")
    layer = LocalAttention(window_width=2, mode="predictive", score="general")
    layer(query, value)
    predictor = [layer.position_kernel, layer.position_v]
    others = [v for v in layer.trainable_variables if id(v) not in map(id, predictor)]

    def loss(position_kernel, position_v):
        mapping = {id(layer.position_kernel): position_kernel}
        mapping[id(layer.position_v)] = position_v
        values = [mapping.get(id(v), v.value) for v in layer.trainable_variables]
        out, _ = layer.stateless_call(values, [], query, value)
        return keras.ops.sum(keras.ops.square(out))

    assert others  # the score's own kernel is not what is differentiated here
    _, grads = value_and_grad(loss, *[to_numpy(v) for v in predictor])
    for grad in grads:
        assert np.all(np.isfinite(grad)) and np.any(np.abs(grad) > 0)


def test_predictive_weights_are_the_window_softmax_times_the_gaussian():
    query = RNG.normal(size=(2, 3, 4)).astype("float32")
    value = RNG.normal(size=(2, 10, 4)).astype("float32")
    layer = LocalAttention(window_width=3, mode="predictive", score="dot")
    _, weights, positions = layer(
        query, value, return_attention_scores=True, return_positions=True
    )
    weights, positions = to_numpy(weights), to_numpy(positions)
    assert np.all((positions >= 0) & (positions <= 9))
    distance = np.arange(10)[None, None] - positions[..., None]
    inside = np.abs(distance) <= 3
    gaussian = np.exp(-(distance**2) / (2 * 1.5**2))
    # Undo the Gaussian: what is left is a softmax over the window.
    softmax = np.where(inside, weights / gaussian, 0.0)
    np.testing.assert_allclose(softmax.sum(-1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(weights[~inside], 0.0)
    assert np.all(weights.sum(-1) < 1.0)  # the paper does not renormalise


def test_single_step_equals_the_matching_row_of_the_sequence_form():
    query = RNG.normal(size=(2, 5, 4)).astype("float32")
    value = RNG.normal(size=(2, 7, 4)).astype("float32")
    for mode in ("monotonic", "predictive"):
        layer = LocalAttention(window_width=1, mode=mode, score="general")
        full, full_weights = layer(query, value, return_attention_scores=True)
        for t in range(5):
            kwargs = {"positions": np.full((2,), t)} if mode == "monotonic" else {}
            out, weights = layer(
                query[:, t], value, return_attention_scores=True, **kwargs
            )
            np.testing.assert_allclose(to_numpy(out), to_numpy(full)[:, t], atol=1e-5)
            np.testing.assert_allclose(
                to_numpy(weights), to_numpy(full_weights)[:, t], atol=1e-5
            )


def test_window_without_valid_keys_gives_zeros_not_nan():
    query = RNG.normal(size=(1, 3, 4)).astype("float32")
    value = RNG.normal(size=(1, 6, 4)).astype("float32")
    value_mask = np.array([[True, True, False, False, False, False]])
    layer = LocalAttention(window_width=1, mode="monotonic", score="dot")
    out, weights = layer(
        query,
        value,
        positions=np.array([[0, 4, 5]]),
        value_mask=value_mask,
        return_attention_scores=True,
    )
    out, weights = to_numpy(out), to_numpy(weights)
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(weights))
    np.testing.assert_array_equal(out[0, 1:], 0.0)
    np.testing.assert_array_equal(weights[0, 1:], 0.0)


def test_gradients_reach_the_position_predictor():
    # local-p: d loss / d W_p and d v_p flow through the Gaussian term.
    query = RNG.normal(size=(4, 3, 4)).astype("float32")
    value = RNG.normal(size=(4, 9, 4)).astype("float32")
    inputs = [keras.Input((3, 4)), keras.Input((9, 4))]
    layer = LocalAttention(window_width=2, mode="predictive", score="dot")
    model = keras.Model(inputs, layer(*inputs))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    before = {
        w.path: to_numpy(w).copy() for w in (layer.position_kernel, layer.position_v)
    }
    model.train_on_batch([query, value], np.ones((4, 3, 4), "float32"))
    for weight in (layer.position_kernel, layer.position_v):
        change = to_numpy(weight) - before[weight.path]
        assert np.all(np.isfinite(change)) and np.any(change != 0), weight.path


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"window_width": 0}, "window_width"),
        ({"window_width": 2, "mode": "gaussian"}, "mode"),
        ({"window_width": 2, "score": "location"}, "score"),
        ({"window_width": 2, "query_chunk_size": 4}, "query_chunk_size"),
        ({"window_width": 2, "position_units": -1}, "position_units"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LocalAttention(**kwargs)


def test_bad_positions_name_the_argument():
    query = RNG.normal(size=(2, 4)).astype("float32")
    value = RNG.normal(size=(2, 7, 4)).astype("float32")
    with pytest.raises(ValueError, match="positions"):
        LocalAttention(window_width=2, mode="monotonic")(query, value)
    with pytest.raises(ValueError, match="positions"):
        LocalAttention(window_width=2, mode="predictive")(
            query, value, positions=np.zeros((2,))
        )
    with pytest.raises(ValueError, match="positions"):
        LocalAttention(window_width=2, mode="monotonic")(
            query, value, positions=np.zeros((2, 3, 1))
        )


def test_dropout_drops_weights_in_training_only():
    query = RNG.normal(size=(2, 5, 4)).astype("float32")
    value = RNG.normal(size=(2, 7, 4)).astype("float32")
    layer = LocalAttention(window_width=2, mode="monotonic", score="dot", dropout=0.5)
    _, inference = layer(query, value, return_attention_scores=True)
    _, training = layer(query, value, return_attention_scores=True, training=True)
    inference, training = to_numpy(inference), to_numpy(training)
    np.testing.assert_allclose(inference.sum(-1), 1.0, rtol=1e-6)
    dropped = (training == 0) & (inference > 0)
    assert dropped.any()
    kept = training > 0
    np.testing.assert_allclose(training[kept], 2 * inference[kept], rtol=1e-5)
