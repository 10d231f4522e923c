"""A griffe extension: Keras' "Call arguments:" section as a parameters section.

Keras-style docstrings (ours included) document a layer's constructor under
`Args:` and its `call()` under `Call arguments:`. Griffe's Google parser knows
`Args:` but reads any other title as an admonition, so mkdocstrings rendered
the call arguments as one run-on paragraph. This extension re-reads such an
admonition as an `Args:` block attached to the class's `call` method (so the
defaults shown are those of `call`'s signature) and titles it
"Call arguments".

It also fills the `{{name}}` markers of docstrings that share a section
(`keras_attention/layers/shared_docs.py`, loaded from its file, without
Keras), as the package's `fill_docstring` does at import.

Loaded by mkdocstrings-python (`extensions:` in `mkdocs.yml`); it changes only
how docstrings are parsed for the site, never the package.
"""

import importlib.util
import pathlib
import re
from functools import cache, cached_property

import griffe

_SHARED_DOCS = (
    pathlib.Path(__file__).resolve().parents[2]
    / "keras_attention"
    / "layers"
    / "shared_docs.py"
)

_TITLES = {"call arguments", "call args"}
# An item naming several arguments, wrapped before its colon:
#     query, key, value, window,
#         causal, scale: as in `f`.
_WRAPPED_NAMES = re.compile(r"^(?P<indent> +)(?:\w+, )*\w+,$")


def _join_wrapped_names(text):
    """Join the lines of an argument list wrapped before its colon."""
    lines = text.split("\n")
    out = []
    i = 0
    while i < len(lines):
        line = lines[i]
        match = _WRAPPED_NAMES.match(line)
        while match and i + 1 < len(lines):
            following = lines[i + 1]
            if len(following) - len(following.lstrip()) <= len(match["indent"]):
                break
            line = line + " " + following.strip()
            i += 1
            match = _WRAPPED_NAMES.match(line)
        out.append(line)
        i += 1
    return "\n".join(out)


@cache
def _shared_docs():
    """`keras_attention.layers.shared_docs`, loaded from its file."""
    spec = importlib.util.spec_from_file_location("_shared_docs", _SHARED_DOCS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _call_arguments(section, parent, options):
    """The admonition `section` re-parsed as the parameters of `parent`."""
    text = section.value.description
    body = "\n".join("    " + line if line.strip() else "" for line in text.split("\n"))
    docstring = griffe.Docstring("", lineno=None, endlineno=None, parent=parent)
    docstring.value = "Args:\n" + body  # set after: the constructor dedents
    sections = griffe.parse_google(docstring, **options)
    kind = griffe.DocstringSectionKind.parameters
    parameters = [s for s in sections if s.kind is kind]
    if len(parameters) != 1 or not parameters[0].value:
        return section  # not a list of `name: description` items: leave it
    parameters[0].title = "Call arguments"
    return parameters[0]


def _prose_returns(section):
    """A Returns section of one unnamed, untyped item as a paragraph.

    Our `Returns:` sections are prose ("`output`; then the weights if
    ..."); as a list item with neither name nor type the theme renders it
    behind a lone dash.
    """
    items = section.value
    if len(items) != 1 or items[0].name or items[0].annotation:
        return section
    return griffe.DocstringSectionText(f"**Returns:** {items[0].description}")


class _CallArgumentsDocstring(griffe.Docstring):
    @cached_property
    def parsed(self):
        sections = self.parse()
        if self.parser is not griffe.Parser.google and self.parser != "google":
            return sections
        sections = [
            _prose_returns(section)
            if section.kind is griffe.DocstringSectionKind.returns
            else section
            for section in sections
        ]
        cls = self.parent
        call = cls.members.get("call") if cls is not None else None
        parent = call if call is not None and call.is_function else cls
        options = dict(self.parser_options or {})
        return [
            _call_arguments(section, parent, options)
            if section.kind is griffe.DocstringSectionKind.admonition
            and (section.title or "").strip().lower() in _TITLES
            else section
            for section in sections
        ]


class CallArguments(griffe.Extension):
    """Parse the "Call arguments:" section of class docstrings.

    Also fills shared-section markers (`{{name}}`), joins an argument list
    wrapped before its colon (`query, key, value,` / `    causal: as in ...`)
    into one item, and shows a prose `Returns:` section as a paragraph.
    """

    def on_instance(self, *, obj, **kwargs):
        docstring = obj.docstring
        if docstring is not None and isinstance(docstring.value, str):
            text = _shared_docs().fill(docstring.value)
            docstring.value = _join_wrapped_names(text)
            docstring.__class__ = _CallArgumentsDocstring
