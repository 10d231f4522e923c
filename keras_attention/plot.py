"""Attention heatmaps with matplotlib.

matplotlib is imported inside the functions, so the package itself does not
need it: install it (`pip install matplotlib`, or the `test`/`docs` extras)
to plot.
"""

import sys

import numpy as np

__all__ = ["get_pyplot", "plot_attention", "plot_attention_heads"]

PAD_TOKEN = "<pad>"


def get_pyplot():
    """`matplotlib.pyplot`, ready for a script or a notebook; `None` without it.

    In a plain script (no IPython kernel running) this first selects
    matplotlib's non-interactive `"Agg"` backend, so figures are written to
    files and no window opens (nor fails to open on a machine without a
    display); in a notebook the notebook's own backend is kept, so figures
    show inline. The tutorials use it before they draw.

    Returns:
        The `matplotlib.pyplot` module, or `None` if matplotlib is not
        installed (`pip install matplotlib`).

    Example:

    ```python
    from keras_attention.plot import get_pyplot

    plt = get_pyplot()
    if plt is not None:
        figure, ax = plt.subplots()
        ax.plot([0, 1], [1, 0])
        plt.close(figure)
    ```
    """
    try:
        import matplotlib
    except ImportError:
        return None
    if "ipykernel" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _to_numpy(weights):
    if not isinstance(weights, np.ndarray):
        from keras import ops

        weights = ops.convert_to_numpy(ops.cast(weights, "float32"))
    return np.asarray(weights, dtype="float32")


def _squeeze_leading(weights, rank, expected):
    while weights.ndim > rank and weights.shape[0] == 1:
        weights = weights[0]
    if weights.ndim != rank:
        raise ValueError(
            f"`weights` must have shape {expected} (leading axes of size 1 are "
            f"dropped); received shape {tuple(weights.shape)}."
        )
    return weights


def _tokens(name, tokens, length, pad_token):
    """Token labels for one axis, trailing padding removed; `None`: indices."""
    if tokens is None:
        return None
    if isinstance(tokens, str):
        tokens = tokens.split()
    tokens = [t.decode() if isinstance(t, bytes) else str(t) for t in tokens]
    if pad_token is not None:
        while tokens and tokens[-1] == pad_token:
            tokens.pop()
    if len(tokens) > length:
        raise ValueError(
            f"`{name}` has {len(tokens)} tokens (after removing trailing "
            f"{pad_token!r}) but the weights have {length} positions on that "
            "axis."
        )
    return tokens


def _draw(ax, weights, source, target, title, cmap, vmin, vmax, colorbar, annotate):
    image = ax.imshow(
        weights,
        cmap=cmap,
        vmin=vmin,
        vmax=vmax,
        aspect="auto",
        interpolation="nearest",
    )
    rows, cols = weights.shape
    ax.set_xticks(np.arange(cols))
    ax.set_yticks(np.arange(rows))
    ax.set_xticklabels(source if source is not None else [str(i) for i in range(cols)])
    ax.set_yticklabels(target if target is not None else [str(i) for i in range(rows)])
    for label in ax.get_xticklabels():
        label.set_rotation(90)
    ax.set_xlabel("source")
    ax.set_ylabel("target")
    if title is not None:
        ax.set_title(title)
    if annotate:
        high = weights.max() if weights.size else 0.0
        for i in range(rows):
            for j in range(cols):
                ax.text(
                    j,
                    i,
                    f"{weights[i, j]:.2f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="black" if weights[i, j] > 0.6 * high else "white",
                )
    if colorbar:
        ax.figure.colorbar(image, ax=ax)
    return image


def plot_attention(
    weights,
    source_tokens=None,
    target_tokens=None,
    ax=None,
    title=None,
    cmap="viridis",
    pad_token=PAD_TOKEN,
    vmin=0.0,
    vmax=None,
    colorbar=False,
    annotate=False,
):
    """Plot one attention matrix as a heatmap with the tokens on the axes.

    Rows are target (query) positions, columns source (key) positions, as in
    the `(batch, Tq, Tk)` weights that the layers return with
    `return_attention_scores=True`. Trailing `pad_token`s are removed from
    the token lists and the weights are cropped to the remaining tokens, so
    a padded batch item plots without its padding.

    Args:
        weights (np.ndarray | Tensor): `(Tq, Tk)` array or tensor (leading axes
            of size 1, such as a batch of one, are dropped).
        source_tokens (list[str] | str | None): labels of the `Tk` columns: a
            list of strings, a whitespace-separated string, or `None` for
            indices.
        target_tokens (list[str] | str | None): labels of the `Tq` rows,
            likewise.
        ax (matplotlib.axes.Axes | None): the matplotlib `Axes` to draw on; a
            new figure if `None`.
        title (str | None): optional title of the axes.
        cmap (str | matplotlib.colors.Colormap): matplotlib colour map. Defaults
            to `"viridis"`.
        pad_token (str | None): token removed from the end of the token lists
            (`None`: keep every token). Defaults to `"<pad>"`, the padding token
            of `keras_attention.datasets`.
        vmin (float): lower end of the colour scale (default 0).
        vmax (float | None): upper end of the colour scale (default: the
            largest weight shown).
        colorbar (bool): whether to add a colour bar.
        annotate (bool): whether to write each weight in its cell.

    Returns:
        The matplotlib `Axes`.

    Example:

    ```python
    import matplotlib

    matplotlib.use("Agg")
    import numpy as np
    from keras_attention.plot import plot_attention

    weights = np.array([[0.9, 0.1, 0.0], [0.2, 0.8, 0.0]])
    ax = plot_attention(
        weights, ["je", "t'aime", "<pad>"], "i love", title="alignment"
    )
    assert [t.get_text() for t in ax.get_xticklabels()] == ["je", "t'aime"]
    ```
    """
    weights = _squeeze_leading(_to_numpy(weights), 2, "(Tq, Tk)")
    source = _tokens("source_tokens", source_tokens, weights.shape[1], pad_token)
    target = _tokens("target_tokens", target_tokens, weights.shape[0], pad_token)
    rows = weights.shape[0] if target is None else len(target)
    cols = weights.shape[1] if source is None else len(source)
    weights = weights[:rows, :cols]
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(
            figsize=(max(3.0, 0.45 * cols + 1.5), max(2.5, 0.4 * rows + 1.2))
        )
    _draw(ax, weights, source, target, title, cmap, vmin, vmax, colorbar, annotate)
    return ax


def plot_attention_heads(
    weights,
    source_tokens=None,
    target_tokens=None,
    ncols=4,
    titles=None,
    figsize=None,
    **kwargs,
):
    """Plot the attention matrix of every head in a grid of heatmaps.

    Args:
        weights (np.ndarray | Tensor): `(heads, Tq, Tk)` (leading axes of size
            1, such as a batch of one, are dropped), e.g. one batch item of the
            scores of `MultiHeadAttention(..., return_attention_scores=True)`.
        source_tokens (list[str] | str | None): labels of the columns (see
            `plot_attention`).
        target_tokens (list[str] | str | None): labels of the rows, likewise.
        ncols (int): number of heatmaps per row. Defaults to `4`.
        titles (list[str] | None): one title per head (default `"head 1"`, ...).
        figsize (tuple[float, float] | None): the figure size; by default from
            the grid and token counts.
        **kwargs (Any): passed to `plot_attention` (`cmap`, `pad_token`, `vmin`,
            `vmax`, `annotate`, `colorbar`).

    Returns:
        The matplotlib `Figure`; `figure.axes[:heads]` are the heads' axes.

    Example:

    ```python
    import matplotlib

    matplotlib.use("Agg")
    import numpy as np
    from keras_attention.plot import plot_attention_heads

    weights = np.random.dirichlet(np.ones(4), size=(3, 2))  # 3 heads, Tq=2, Tk=4
    figure = plot_attention_heads(weights, "a b c d", "x y", ncols=2)
    assert [ax.get_title() for ax in figure.axes[:3]] == ["head 1", "head 2", "head 3"]
    ```
    """
    import matplotlib.pyplot as plt

    weights = _squeeze_leading(_to_numpy(weights), 3, "(heads, Tq, Tk)")
    heads = weights.shape[0]
    if isinstance(ncols, bool) or not isinstance(ncols, int) or ncols < 1:
        raise ValueError(
            f"`ncols` must be a positive integer; received ncols={ncols!r}."
        )
    if titles is None:
        titles = [f"head {i + 1}" for i in range(heads)]
    titles = list(titles)
    if len(titles) != heads:
        raise ValueError(
            f"`titles` must have one title per head ({heads}); received {len(titles)}."
        )
    ncols = min(ncols, heads)
    nrows = -(-heads // ncols)
    if figsize is None:
        cols, rows = weights.shape[2], weights.shape[1]
        figsize = (
            ncols * max(2.5, 0.4 * cols + 1.2),
            nrows * max(2.2, 0.35 * rows + 1.2),
        )
    figure, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False)
    axes = axes.ravel()
    for head in range(heads):
        plot_attention(
            weights[head],
            source_tokens,
            target_tokens,
            ax=axes[head],
            title=titles[head],
            **kwargs,
        )
    for ax in axes[heads:]:
        ax.set_visible(False)
    figure.tight_layout()
    return figure
