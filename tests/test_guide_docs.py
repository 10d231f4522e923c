"""The code of the user guide pages must run on every backend.

Each ```python block of a guide page runs in a fresh namespace. A page whose
code needs another process (the distribution page: virtual devices must be
set before JAX starts) is tested by its own test instead and listed here.
"""

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
FENCE = re.compile(r"```python\n(.*?)```", re.DOTALL)
# Pages whose blocks are run elsewhere, with the test that runs them.
ELSEWHERE = {"distribution.md": "tests/test_distribution.py"}


def _blocks():
    for page in sorted((ROOT / "docs" / "guide").glob("*.md")):
        if page.name in ELSEWHERE:
            continue
        for i, block in enumerate(FENCE.findall(page.read_text())):
            yield pytest.param(page.name, block, id=f"{page.stem}-{i}")


@pytest.mark.parametrize(("page", "code"), list(_blocks()))
def test_guide_code_runs(page, code):
    exec(compile(code, page, "exec"), {})


def test_every_guide_page_is_in_the_nav():
    nav = (ROOT / "mkdocs.yml").read_text()
    for page in (ROOT / "docs" / "guide").glob("*.md"):
        assert f"guide/{page.name}" in nav, page.name
