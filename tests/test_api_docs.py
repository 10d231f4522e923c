"""Every public name has its place in the API reference (docs/api/).

A public class or function is documented by a mkdocstrings directive
(`::: keras_attention.X`) on some page under docs/api/, which gives it a
heading, a signature, a TOC entry and a search entry. A second name for the
same object (`BahdanauAttention is AdditiveAttention`) only needs to be
mentioned on a page. The griffe extension that parses "Call arguments:" is
tested on a docstring of the library, and every documented argument in the
package carries a type (Google style, `name (int): ...`), which the
reference shows beside each name.
"""

import importlib.util
import inspect
import pathlib
import re

import griffe
import pytest

import keras_attention
from keras_attention import core, decoding, plot
from keras_attention.layers import shared_docs

ROOT = pathlib.Path(__file__).resolve().parents[1]
API = ROOT / "docs" / "api"
DIRECTIVE = re.compile(r"^::: ([\w.]+)", re.MULTILINE)


def _api_text():
    return "\n".join(p.read_text() for p in sorted(API.rglob("*.md")))


def _documented():
    return set(DIRECTIVE.findall(_api_text()))


def _public(module, prefix):
    for name in module.__all__:
        obj = getattr(module, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            yield f"{prefix}.{name}", obj


PUBLIC = [
    *_public(keras_attention, "keras_attention"),
    *_public(core, "keras_attention.core"),
    *_public(decoding, "keras_attention.decoding"),
    *_public(plot, "keras_attention.plot"),
]


@pytest.mark.parametrize(("path", "obj"), PUBLIC, ids=[p for p, _ in PUBLIC])
def test_public_name_is_in_the_api_reference(path, obj):
    documented = _documented()
    # By its public path, or by its defining module's (`core.attend.attend`:
    # the submodule `core.attend` shadows the function for griffe).
    if {path, f"{obj.__module__}.{obj.__name__}"} & documented:
        return
    # Another public name of the same object has the directive: this name
    # must at least be mentioned (an alias).
    others = [p for p, o in PUBLIC if o is obj and p != path and p in documented]
    name = path.rsplit(".", 1)[1]
    assert others and name in _api_text(), (
        f"{path} has no `::: {path}` directive under docs/api/ "
        "(add a page or a section for it)"
    )


def test_every_directive_names_a_public_object():
    for path in _documented():
        module_path, _, name = path.rpartition(".")
        module = importlib.import_module(module_path)
        assert hasattr(module, name), f"docs/api names {path}, which does not exist"


def test_every_layer_page_is_in_the_nav():
    nav = (ROOT / "mkdocs.yml").read_text()
    for page in (API / "layers").glob("*.md"):
        assert f"api/layers/{page.name}" in nav, page.name


def _extension():
    """The docs' griffe extension module, loaded from its file."""
    spec = importlib.util.spec_from_file_location(
        "griffe_call_arguments", API / "griffe_call_arguments.py"
    )
    extension = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(extension)
    return extension


def _package():
    """The package as griffe reads it for the site (mkdocs.yml's options)."""
    return griffe.load(
        "keras_attention",
        search_paths=[str(ROOT)],
        extensions=griffe.load_extensions(_extension().CallArguments()),
        docstring_parser="google",
        docstring_options={
            "warn_missing_types": False,
            "warn_unknown_params": False,
            "returns_multiple_items": False,
        },
    )


def test_call_arguments_extension_parses_a_parameters_section():
    package = _package()
    sections = package["MultiHeadAttention"].docstring.parsed
    by_title = {s.title: s for s in sections if s.kind.value == "parameters"}
    assert "Call arguments" in by_title, [(s.kind.value, s.title) for s in sections]
    names = [p.name for p in by_title["Call arguments"].value]
    assert names[:3] == ["query", "value", "key"]
    assert "use_causal_mask" in names and "return_attention_scores" in names
    # No admonition named "Call arguments" is left.
    assert not any(
        s.kind.value == "admonition" and s.title == "Call arguments" for s in sections
    )


def test_wrapped_argument_names_are_joined():
    extension = _extension()
    text = "Args:\n    query, key,\n        value: as in `f`\n        more.\n    x: y"
    joined = extension._join_wrapped_names(text)
    assert joined.split("\n")[1] == "    query, key, value: as in `f`"
    assert joined.split("\n")[2:] == ["        more.", "    x: y"]


def test_prose_returns_become_a_paragraph():
    package = _package()
    sections = package["core.causal_mask"].docstring.parsed
    assert not [s for s in sections if s.kind.value == "returns"]
    texts = [s.value for s in sections if s.kind.value == "text"]
    assert any(t.startswith("**Returns:** A boolean tensor") for t in texts), texts


# Modules whose docstrings give every documented argument a type.
def _documented_objects(obj):
    """`obj` and the public classes, functions and methods defined in it."""
    yield obj
    for name, member in obj.members.items():
        if name.startswith("_") or member.is_alias:
            continue
        if member.is_module or member.is_class or member.is_function:
            yield from _documented_objects(member)


def _untyped(obj):
    for documented in _documented_objects(obj):
        if documented.docstring is None:
            continue
        for section in documented.docstring.parsed:
            if section.kind.value in ("parameters", "other parameters"):
                for parameter in section.value:
                    if parameter.annotation is None:
                        yield f"{documented.path}: {parameter.name}"


def test_documented_arguments_have_types():
    package = _package()
    untyped = list(_untyped(package))
    assert not untyped, (
        "give these arguments a type in the docstring, `name (type): ...`: "
        + ", ".join(untyped)
    )


# Sections shared by several docstrings (keras_attention/layers/shared_docs.py).
SHARING = {
    "AdditiveAttention": "mask_arguments",
    "MultiplicativeAttention": "mask_arguments",
    "TransformerEncoder": "transformer_arguments",
    "TransformerDecoder": "transformer_arguments",
}


@pytest.mark.parametrize("name", sorted(SHARING))
def test_shared_sections_are_filled_at_import_and_on_the_site(name):
    section = shared_docs.SECTIONS[SHARING[name]]
    first = section.split("\n")[0]
    runtime = getattr(keras_attention, name).__doc__
    assert "{{" not in runtime and first in runtime
    # The site's griffe reads the source: the extension fills it the same way.
    parsed = _package()[name].docstring.parsed
    names = {p.name for s in parsed if s.kind.value == "parameters" for p in s.value}
    assert first.split(" ")[0] in names, (name, sorted(names))
    if SHARING[name] == "mask_arguments":  # and the Returns and padding text
        texts = [s.value for s in parsed if s.kind.value == "text"]
        assert any(t.startswith("**Returns:** The attention output") for t in texts)
        assert any("Padding is inert" in t for t in texts), texts
