"""`layers/shared_docs.py`: docstring text several layers share, written once.

The API pages' side (the docs' griffe extension fills the same markers) is
tested in `tests/test_api_docs.py`.
"""

import inspect

import pytest

import keras_attention
from keras_attention.layers import shared_docs

PUBLIC = [
    (name, obj)
    for name in keras_attention.__all__
    if inspect.isclass(obj := getattr(keras_attention, name))
]


def test_no_public_docstring_keeps_a_marker():
    for path, obj in PUBLIC:
        assert "{{" not in (obj.__doc__ or ""), path


@pytest.mark.parametrize("name", sorted(shared_docs.SECTIONS))
def test_every_section_is_used_by_a_public_class(name):
    first = shared_docs.SECTIONS[name].split("\n")[0]
    users = [path for path, obj in PUBLIC if first in (obj.__doc__ or "")]
    assert users, f"no public docstring uses the section {name!r}"


def test_fill_indents_each_line_and_refuses_an_unknown_marker():
    text = "Args:\n    {{transformer_arguments}}\n\nReturns:\n    x."
    filled = shared_docs.fill(text)
    body = filled.split("\n\nReturns:")[0].split("\n")[1:]
    expected = shared_docs.SECTIONS["transformer_arguments"].split("\n")
    assert body == ["    " + line for line in expected]
    assert filled.endswith("\n\nReturns:\n    x.")
    with pytest.raises(KeyError):
        shared_docs.fill("    {{no_such_section}}")
