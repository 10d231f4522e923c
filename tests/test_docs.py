"""The code users copy first must run: the README quick start and every
docstring `Example:` of the public API."""

import inspect
import pathlib
import re

import pytest

import keras_attention

ROOT = pathlib.Path(__file__).resolve().parents[1]
FENCE = re.compile(r"```python\n(.*?)```", re.DOTALL)


def _public_objects():
    objects = {name: getattr(keras_attention, name) for name in keras_attention.__all__}
    objects.update(
        {
            f"core.{n}": getattr(keras_attention.core, n)
            for n in keras_attention.core.__all__
        }
    )
    return {
        name: obj
        for name, obj in objects.items()
        if inspect.isclass(obj) or inspect.isfunction(obj)
    }


def _examples():
    seen = set()
    for name, obj in sorted(_public_objects().items()):
        if id(obj) in seen:  # aliases share a docstring
            continue
        seen.add(id(obj))
        for i, block in enumerate(FENCE.findall(inspect.getdoc(obj) or "")):
            yield pytest.param(block, id=f"{name}-{i}")


def test_every_public_layer_has_a_complete_docstring():
    for name, obj in _public_objects().items():
        doc = inspect.getdoc(obj) or ""
        assert doc, f"{name} has no docstring"
        if inspect.isclass(obj):
            for section in ("Args:", "Call arguments:", "Returns:", "Example:", "$$"):
                assert section in doc, f"{name}'s docstring lacks {section!r}"


@pytest.mark.parametrize("code", list(_examples()))
def test_docstring_example_runs(code):
    exec(compile(code, "<docstring example>", "exec"), {})


def test_readme_quick_start_runs(capsys):
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1]
    code = FENCE.search(section).group(1)
    exec(compile(code, "README.md", "exec"), {})
    assert capsys.readouterr().out.strip().endswith("(1, 2)")
