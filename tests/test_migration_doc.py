"""The `keras_attention` code of docs/migrating-from-tfa.md must run.

Each ```python block of the page runs in a fresh namespace, except the TF
Addons blocks shown for comparison, which start with `TFA_MARKER` (TF Addons
is not installed and does not support Keras 3). The blocks assert their own
results (shapes, equalities with NumPy references, a falling training loss).
"""

import pytest
from test_docs import FENCE, ROOT

PAGE = ROOT / "docs" / "migrating-from-tfa.md"
TFA_MARKER = "# TF Addons (for comparison; not run)"
TFA_NAMES = (
    "BahdanauAttention",
    "LuongAttention",
    "AttentionWrapper",
    "BasicDecoder",
    "BeamSearchDecoder",
    "dynamic_decode",
)


def _blocks():
    """`(first line number, code, is_tfa)` for every ```python block."""
    text = PAGE.read_text()
    blocks = []
    for match in FENCE.finditer(text):
        code = match.group(1)
        line = text.count("\n", 0, match.start(1)) + 1
        blocks.append((line, code, code.startswith(TFA_MARKER)))
    return blocks


def _runnable():
    return [
        pytest.param(line, code, id=f"line-{line}")
        for line, code, is_tfa in _blocks()
        if not is_tfa
    ]


def test_page_has_runnable_and_tfa_blocks():
    blocks = _blocks()
    tfa = [code for _, code, is_tfa in blocks if is_tfa]
    ours = [code for _, code, is_tfa in blocks if not is_tfa]
    assert len(tfa) >= 1 and len(ours) >= 4
    for code in ours:
        # An unmarked TF Addons block would be run (and fail): mark it.
        assert "tensorflow_addons" not in code, code[:200]
        assert "keras_attention" in code and "assert" in code, code[:200]
    assert all("import tensorflow_addons as tfa" in code for code in tfa)


def test_page_maps_every_tfa_seq2seq_name():
    text = PAGE.read_text()
    for name in TFA_NAMES:
        assert f"tfa.seq2seq.{name}" in text, name
        assert f"`{name}`" in text or f"`{name}(" in text, name


def test_page_is_in_the_nav_and_linked_from_the_readme():
    assert "migrating-from-tfa.md" in (ROOT / "mkdocs.yml").read_text()
    assert "docs/migrating-from-tfa.md" in (ROOT / "README.md").read_text()


@pytest.mark.parametrize(("line", "code"), _runnable())
def test_migration_example_runs(line, code):
    # Blank lines in front keep the page's line numbers in tracebacks.
    source = "\n" * (line - 1) + code
    exec(compile(source, str(PAGE), "exec"), {"__name__": "__migration_doc__"})
