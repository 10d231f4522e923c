"""Attention heatmaps: tick labels, padding trimmed, image data, head grids."""

import ast
import inspect
import re
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from keras import ops  # noqa: E402

from keras_attention import plot  # noqa: E402
from keras_attention.plot import plot_attention, plot_attention_heads  # noqa: E402

RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def labels(ticks):
    return [t.get_text() for t in ticks]


def image(ax):
    return np.asarray(ax.images[0].get_array())


def test_tokens_on_the_axes_and_padding_trimmed():
    weights = RNG.random((4, 6)).astype("float32")
    source = ["le", "chat", "dort", "<end>", "<pad>", "<pad>"]
    target = ["the", "cat", "sleeps", "<pad>"]
    ax = plot_attention(weights, source, target, title="fr-en")
    assert labels(ax.get_xticklabels()) == source[:4]
    assert labels(ax.get_yticklabels()) == target[:3]
    np.testing.assert_allclose(image(ax), weights[:3, :4])
    assert ax.get_title() == "fr-en"
    # Rows are targets (top to bottom), columns sources.
    assert list(ax.get_xticks()) == [0, 1, 2, 3]
    assert list(ax.get_yticks()) == [0, 1, 2]
    assert ax.images[0].get_clim() == (0.0, pytest.approx(weights[:3, :4].max()))


def test_fewer_tokens_than_positions_crop_and_strings_are_split():
    weights = RNG.random((3, 5))
    ax = plot_attention(weights, "a b", "x y z", pad_token=None)
    assert labels(ax.get_xticklabels()) == ["a", "b"]
    assert labels(ax.get_yticklabels()) == ["x", "y", "z"]
    np.testing.assert_allclose(image(ax), weights[:, :2], rtol=1e-6)


def test_no_tokens_gives_indices_and_the_whole_matrix():
    weights = RNG.random((2, 3))
    ax = plot_attention(weights)
    assert labels(ax.get_xticklabels()) == ["0", "1", "2"]
    assert labels(ax.get_yticklabels()) == ["0", "1"]
    np.testing.assert_allclose(image(ax), weights, rtol=1e-6)


def test_tensor_input_batch_of_one_and_given_axes():
    weights = RNG.random((1, 3, 4)).astype("float32")
    figure, (left, right) = plt.subplots(1, 2)
    ax = plot_attention(
        ops.convert_to_tensor(weights), ax=right, colorbar=True, annotate=True
    )
    assert ax is right and not left.images
    np.testing.assert_allclose(image(ax), weights[0])
    assert len(figure.axes) == 3  # the colour bar's axes
    texts = [t.get_text() for t in ax.texts]
    assert texts[0] == f"{weights[0, 0, 0]:.2f}" and len(texts) == 12


def test_rendered_pixels_follow_the_weights():
    """A diagonal alignment renders bright on the diagonal, dark elsewhere."""
    weights = np.eye(4)
    ax = plot_attention(weights, cmap="gray")
    figure = ax.figure
    figure.canvas.draw()
    pixels = np.asarray(figure.canvas.buffer_rgba())[..., :3].astype(float)
    # Centres of the cells in display coordinates (y axis points down in pixels).
    height = pixels.shape[0]
    brightness = np.zeros((4, 4))
    for i in range(4):
        for j in range(4):
            x, y = ax.transData.transform((j, i))
            brightness[i, j] = pixels[int(round(height - y)), int(round(x))].mean()
    assert np.all(np.diag(brightness) > 200)
    assert np.all(brightness[~np.eye(4, dtype=bool)] < 50)


def test_heads_grid():
    weights = RNG.dirichlet(np.ones(5), size=(1, 3, 2)).astype("float32")  # (1,3,2,5)
    figure = plot_attention_heads(
        weights, "a b c d <pad>", "x y", ncols=2, cmap="magma"
    )
    axes = figure.axes
    assert len(axes) == 4 and not axes[3].get_visible()
    for head, ax in enumerate(axes[:3]):
        assert ax.get_title() == f"head {head + 1}"
        assert labels(ax.get_xticklabels()) == ["a", "b", "c", "d"]
        np.testing.assert_allclose(image(ax), weights[0, head, :, :4])
    figure = plot_attention_heads(weights[0], titles=["A", "B", "C"], ncols=5)
    assert [ax.get_title() for ax in figure.axes] == ["A", "B", "C"]


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: plot_attention(np.zeros((2, 3, 4))), "weights"),
        (lambda: plot_attention(np.zeros(4)), "weights"),
        (lambda: plot_attention(np.zeros((2, 3)), "a b c d"), "source_tokens"),
        (lambda: plot_attention(np.zeros((2, 3)), None, "a b c"), "target_tokens"),
        (lambda: plot_attention_heads(np.zeros((2, 3))), "weights"),
        (lambda: plot_attention_heads(np.zeros((2, 2, 3)), ncols=0), "ncols"),
        (lambda: plot_attention_heads(np.zeros((2, 2, 3)), titles=["a"]), "titles"),
    ],
)
def test_bad_arguments_name_the_argument(call, name):
    with pytest.raises(ValueError, match=f"`{name}`"):
        call()


def test_the_package_imports_without_matplotlib():
    """matplotlib is imported inside the functions only: with it made
    unimportable, the package and `keras_attention.plot` still import."""
    code = (
        "import sys; sys.modules['matplotlib'] = None; "
        "import keras_attention, keras_attention.plot"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    tree = ast.parse(inspect.getsource(plot))
    top_level = [
        alias.name if isinstance(node, ast.Import) else node.module
        for node in tree.body
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in getattr(node, "names", [])
    ]
    assert not any(name.startswith("matplotlib") for name in top_level)


FENCE = re.compile(r"```python\n(.*?)```", re.DOTALL)


@pytest.mark.parametrize("name", plot.__all__)
def test_docstring_example_runs(name):
    function = getattr(plot, name)
    doc = inspect.getdoc(function)
    sections = ("Args:",) if inspect.signature(function).parameters else ()
    for section in (*sections, "Returns:", "Example:"):
        assert section in doc
    for block in FENCE.findall(doc):
        exec(compile(block, "<docstring example>", "exec"), {})


def test_get_pyplot_selects_agg_in_a_script_and_none_without_matplotlib():
    code = (
        "import matplotlib\n"
        "matplotlib.use('svg')\n"
        "from keras_attention.plot import get_pyplot\n"
        "plt = get_pyplot()\n"
        "assert plt.get_backend().lower() == 'agg', plt.get_backend()\n"
        "import sys\n"
        "sys.modules['matplotlib'] = None  # as if not installed\n"
        "assert get_pyplot() is None\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_get_pyplot_keeps_a_notebook_backend(monkeypatch):
    monkeypatch.setitem(sys.modules, "ipykernel", sys)  # a kernel is running
    plt.switch_backend("svg")
    try:
        assert plot.get_pyplot() is plt
        assert plt.get_backend().lower() == "svg"
    finally:
        plt.switch_backend("Agg")
