"""The code of the user guide pages and the home page must run on every backend.

Each ```python block of a guide page (and of `docs/index.md`) runs in a fresh
namespace. A page whose code needs another process (the distribution page:
virtual devices must be set before JAX starts) is tested by its own test
instead and listed here. The guide pages written as jupytext percent-format
`.py` scripts (the pages with figures) run as scripts.
"""

import os
import pathlib
import re
import runpy

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
FENCE = re.compile(r"```python\n(.*?)```", re.DOTALL)
# Pages whose blocks are run elsewhere, with the test that runs them.
ELSEWHERE = {"distribution.md": "tests/test_distribution.py"}


def _blocks():
    pages = [ROOT / "docs" / "index.md"]
    pages += sorted((ROOT / "docs" / "guide").glob("*.md"))
    for page in pages:
        if page.name in ELSEWHERE:
            continue
        for i, block in enumerate(FENCE.findall(page.read_text())):
            yield pytest.param(page.name, block, id=f"{page.stem}-{i}")


@pytest.mark.parametrize(("page", "code"), list(_blocks()))
def test_guide_code_runs(page, code):
    exec(compile(code, page, "exec"), {})


def test_home_page_has_code():
    assert FENCE.findall((ROOT / "docs" / "index.md").read_text())


SCRIPTS = sorted((ROOT / "docs" / "guide").glob("*.py"))


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_guide_script_runs(script, tmp_path, monkeypatch):
    """A figure page runs as a script and draws its figures (into tmp_path)."""
    pytest.importorskip("matplotlib")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.chdir(tmp_path)
    import matplotlib.pyplot as plt

    plt.close("all")
    namespace = runpy.run_path(os.fspath(script), run_name="__main__")
    figures = [v for v in namespace.values() if hasattr(v, "savefig")]
    assert figures or plt.get_fignums(), f"{script.name} drew no figure"
    plt.close("all")


def test_every_guide_page_is_in_the_nav():
    nav = (ROOT / "mkdocs.yml").read_text()
    pages = [*(ROOT / "docs" / "guide").glob("*.md"), *SCRIPTS]
    for page in pages:
        assert f"guide/{page.name}" in nav, page.name
