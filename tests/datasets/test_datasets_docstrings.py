"""Every public name of `keras_attention.datasets` is documented, and the
docstring examples run (offline)."""

import ast
import inspect
import pathlib
import re

import pytest

from keras_attention import datasets

FENCE = re.compile(r"```python\n(.*?)```", re.DOTALL)


def _public_callables():
    return {
        name: getattr(datasets, name)
        for name in datasets.__all__
        if inspect.isclass(getattr(datasets, name))
        or inspect.isfunction(getattr(datasets, name))
    }


def _examples():
    for name, obj in sorted(_public_callables().items()):
        for i, block in enumerate(FENCE.findall(inspect.getdoc(obj) or "")):
            yield pytest.param(block, id=f"{name}-{i}")


def test_public_functions_have_keras_style_docstrings():
    for name, obj in _public_callables().items():
        doc = inspect.getdoc(obj) or ""
        assert doc, f"{name} has no docstring"
        if name in ("TranslationData", "Vocabulary") or "Example:" in doc:
            for section in ("Args:", "Returns:", "Example:"):
                assert section in doc, f"{name}'s docstring lacks {section!r}"


def test_the_main_functions_have_examples():
    examples = {
        name
        for name, obj in _public_callables().items()
        if "```" in (inspect.getdoc(obj) or "")
    }
    expected = {
        "numbers",
        "number_lists",
        "dates",
        "load_anki_pairs",
        "make_splits",
        "encode_pairs",
        "Vocabulary",
        "TranslationData",
    }
    assert expected <= examples


@pytest.mark.parametrize("code", list(_examples()))
def test_docstring_example_runs(code):
    exec(compile(code, "<docstring example>", "exec"), {})


def test_import_is_light():
    """num2words and babel are imported inside functions, never at the top."""
    folder = pathlib.Path(datasets.__file__).parent
    for path in folder.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                root = name.split(".")[0]
                assert root not in ("num2words", "babel"), (path.name, name)
                assert root not in ("tensorflow", "jax", "torch"), (path.name, name)
