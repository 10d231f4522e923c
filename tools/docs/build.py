"""Build the documentation site: stage, execute, render, then `mkdocs build --strict`.

    python tools/docs/build.py [--site-dir site] [--no-execute-check]

`mkdocs.yml` stays the one configuration. This script

1. copies `docs/` into a git-ignored staging folder (`build/docs/src/`), with
   the `docs/tutorials` symlink resolved;
2. executes every jupytext percent-format `.py` page of the nav (the
   tutorials, and any `docs/guide/*.py` page) with nbclient, in the quick
   setting on JAX (`KERAS_ATTENTION_QUICK=1`), and writes beside each source
   a Markdown page (`name.md`), its figures (`name_files/*.png`) and the
   executed notebook (`name.ipynb`) for download; the source `name.py` stays
   there too, so the page links both;
3. copies MathJax 3 from the npm registry tarball (`npm pack`, cached in
   `build/docs/vendor/`) into the staged site, so equations render with no
   network;
4. writes `build/docs/mkdocs.yml`: `mkdocs.yml` with the staged docs folder,
   the `.py` nav entries pointing at their rendered `.md` pages;
5. runs `mkdocs build --strict` on it.

Execution outputs are cleaned: log-only stderr (TensorFlow, absl, Python
warnings) is dropped, and an output that prints a path of the build machine
fails the build, as does any other stderr text or a cell error.
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import copy
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
# The staging folder; main() gives each site folder its own (two builds at
# once, e.g. `make docs` and a build into another --site-dir, must not
# share one) and holds a lock on it.
BUILD = ROOT / "build" / "docs"
SRC = BUILD / "src"
RUN = BUILD / "run"
VENDOR = ROOT / "build" / "docs-vendor"  # the MathJax tarball, shared
MATHJAX_VERSION = "3.2.2"
# What the pages load from MathJax's es5 folder: the combined TeX+MathML/CHTML
# component, plus the folders it loads on demand (TeX extensions through
# autoload, CHTML fonts, the menu's accessibility and speech components).
MATHJAX_PARTS = ["tex-mml-chtml.js", "input", "output", "a11y", "ui", "sre", "adaptors"]
CELL_TIMEOUT_S = 1200

# Lines of stderr that are logs, not results: TensorFlow/absl/XLA log lines,
# Python warnings and the source line they quote, CUDA/oneDNN notices.
LOG_LINE = re.compile(
    r"^\s*$"
    r"|^[IWEF]\d{4} [\d:.]+\s+\d+ \S+:\d+\]"  # absl / glog
    r"|^WARNING: All log messages before absl"
    r"|^\S+:\d+: \w*Warning: "  # warnings.showwarning
    r"|^\s{2,}\S"  # the source line a warning quotes
    r"|oneDNN custom operations|cuda|CUDA|TF-TRT|rebuild TensorFlow"
    r"|^To enable the following instructions"
    r"|^An NVIDIA GPU may be present"
)
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class BuildError(RuntimeError):
    pass


def log(message):
    print(f"[docs] {message}", flush=True)


# ----------------------------------------------------------------- config ---


class _PythonTag:
    """A `!!python/...` tag of mkdocs.yml, kept as written."""

    def __init__(self, tag, value):
        self.tag, self.value = tag, value


class _Loader(yaml.SafeLoader):
    pass


class _Dumper(yaml.SafeDumper):
    pass


def _construct_tag(loader, suffix, node):
    tag = "tag:yaml.org,2002:python/" + suffix
    return _PythonTag(tag, loader.construct_scalar(node))


_Loader.add_multi_constructor("tag:yaml.org,2002:python/", _construct_tag)
_Dumper.add_representer(
    _PythonTag, lambda dumper, tag: dumper.represent_scalar(tag.tag, tag.value)
)


def load_config():
    with open(ROOT / "mkdocs.yml", encoding="utf-8") as f:
        return yaml.load(f, Loader=_Loader)


def nav_pages(nav):
    """Every page path of a MkDocs nav, in order."""
    if isinstance(nav, str):
        yield nav
    elif isinstance(nav, list):
        for item in nav:
            yield from nav_pages(item)
    elif isinstance(nav, dict):
        for value in nav.values():
            yield from nav_pages(value)


def map_nav(nav, mapping):
    if isinstance(nav, str):
        return mapping.get(nav, nav)
    if isinstance(nav, list):
        return [map_nav(item, mapping) for item in nav]
    if isinstance(nav, dict):
        return {key: map_nav(value, mapping) for key, value in nav.items()}
    return nav


def _absolute_paths(value):
    """Relative `.py` file paths of the repository made absolute."""
    if isinstance(value, dict):
        return {k: _absolute_paths(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_absolute_paths(v) for v in value]
    if isinstance(value, str) and value.endswith(".py") and (ROOT / value).is_file():
        return str(ROOT / value)
    return value


def write_config(config, rendered, site_dir):
    config = copy.deepcopy(config)
    config["docs_dir"] = os.path.relpath(SRC, BUILD)
    config["site_dir"] = str(Path(site_dir).resolve())
    mapping = {page: str(Path(page).with_suffix(".md")) for page in rendered}
    if "nav" in config:
        config["nav"] = map_nav(config["nav"], mapping)
    # mkdocstrings resolves its paths (`paths`, griffe extension files)
    # against the config file: keep them pointing into the repository.
    for plugin in config.get("plugins", []):
        if isinstance(plugin, dict) and "mkdocstrings" in plugin:
            handlers = plugin["mkdocstrings"].setdefault("handlers", {})
            python = handlers.setdefault("python", {})
            python["paths"] = [str(ROOT / p) for p in python.get("paths", ["."])]
            plugin["mkdocstrings"] = _absolute_paths(plugin["mkdocstrings"])
    path = BUILD / "mkdocs.yml"
    with open(path, "w", encoding="utf-8") as f:
        f.write("# Generated by tools/docs/build.py from mkdocs.yml: do not edit.\n")
        yaml.dump(config, f, Dumper=_Dumper, sort_keys=False, allow_unicode=True)
    return path


# ---------------------------------------------------------------- staging ---


def stage():
    if SRC.exists():
        shutil.rmtree(SRC)

    def ignore(directory, names):
        skip = {n for n in names if n in {"__pycache__", ".ipynb_checkpoints"}}
        if Path(directory).resolve() == (ROOT / "tutorials").resolve():
            # Only the tutorial sources: not figures a local run left there.
            skip |= {n for n in names if not n.endswith(".py")}
        return skip

    shutil.copytree(ROOT / "docs", SRC, symlinks=False, ignore=ignore)


def mathjax():
    """MathJax's es5 folder from the npm registry, copied into the site."""
    VENDOR.mkdir(parents=True, exist_ok=True)
    tarball = VENDOR / f"mathjax-{MATHJAX_VERSION}.tgz"
    if not tarball.exists():
        npm = shutil.which("npm")
        if npm is None:
            raise BuildError(
                "npm is needed once to fetch MathJax from the npm registry "
                f"(or put mathjax-{MATHJAX_VERSION}.tgz in {VENDOR})"
            )
        log(f"npm pack mathjax@{MATHJAX_VERSION}")
        with tempfile.TemporaryDirectory(dir=VENDOR) as tmp:
            subprocess.run(
                [npm, "pack", f"mathjax@{MATHJAX_VERSION}", "--silent"],
                cwd=tmp,
                check=True,
                stdout=subprocess.DEVNULL,
            )
            os.replace(Path(tmp) / tarball.name, tarball)
    target = SRC / "assets" / "mathjax"
    with tempfile.TemporaryDirectory(dir=BUILD) as tmp, tarfile.open(tarball) as tar:
        members = [
            m
            for m in tar.getmembers()
            if m.name.startswith("package/es5/") or m.name == "package/LICENSE"
        ]
        tar.extractall(tmp, members=members, filter="data")
        es5 = Path(tmp) / "package" / "es5"
        target.mkdir(parents=True, exist_ok=True)
        for part in MATHJAX_PARTS:
            source = es5 / part
            if source.is_dir():
                shutil.copytree(source, target / part)
            else:
                shutil.copy2(source, target / part)
        shutil.copy2(Path(tmp) / "package" / "LICENSE", target / "LICENSE")


# -------------------------------------------------------------- executing ---


def execute(source: Path, workdir: Path):
    import jupytext
    from nbclient import NotebookClient

    notebook = jupytext.read(source)
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    settings = {
        "KERAS_BACKEND": os.environ.get("KERAS_BACKEND", "jax"),
        "KERAS_ATTENTION_QUICK": os.environ.get("KERAS_ATTENTION_QUICK", "1"),
        # Relative to the kernel's folder, so what the page prints is a file
        # name and not a path of the build machine.
        "KERAS_ATTENTION_FIGURE": f"{source.stem}.png",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "PYTHONWARNINGS": "ignore",
        "PYTHONPATH": os.pathsep.join(
            p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p
        ),
    }
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        allow_errors=False,
        resources={"metadata": {"path": str(workdir)}},
    )
    # The kernel's own stderr (TensorFlow's C++ start-up lines, the kernel's
    # transport notice) goes to a log file, not the build log.
    with open(workdir / "kernel-stderr.log", "w") as kernel_log:
        client.execute(env=dict(os.environ, **settings), stderr=kernel_log)
    env = settings
    return notebook, env


def clean_text(text):
    """Terminal text as a reader sees it: no colours, carriage returns applied."""
    text = ANSI.sub("", text)
    lines = []
    for line in text.split("\n"):
        if "\r" in line:
            parts = [p for p in line.split("\r") if p]
            line = parts[-1] if parts else ""
        lines.append(line)
    return "\n".join(lines)


def clean_outputs(notebook, name):
    """Drop log-only stderr; fail on other stderr and on machine paths."""
    machine = sorted(
        {str(ROOT), str(Path.home()), tempfile.gettempdir(), "/work/", "/tmp/"},
        key=len,
        reverse=True,
    )
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                output.text = clean_text(output.text)
                if output.name == "stderr":
                    real = [
                        line
                        for line in output.text.splitlines()
                        if not LOG_LINE.search(line)
                    ]
                    if not real:
                        continue
                    raise BuildError(
                        f"{name}, cell {index}: stderr that is not a log line:\n"
                        + "\n".join(real[:20])
                    )
            kept.append(output)
        cell.outputs = kept
        for output in kept:
            texts = [output.get("text", "")]
            texts += [
                v
                for k, v in output.get("data", {}).items()
                if k.startswith("text/") and isinstance(v, str)
            ]
            for text in texts:
                for path in machine:
                    if path in text:
                        raise BuildError(
                            f"{name}, cell {index} prints a path of the build "
                            f"machine ({path!r}):\n{text[:2000]}"
                        )


# --------------------------------------------------------------- rendering ---


def fence(text, classes):
    ticks = "```"
    while ticks in text:
        ticks += "`"
    attrs = " ".join(f".{c}" for c in classes)
    return f"{ticks} {{ {attrs} }}\n{text.rstrip()}\n{ticks}\n"


def tags(cell):
    return set(cell.get("metadata", {}).get("tags", []))


def render_outputs(cell, index, stem, figures_dir, files):
    """Markdown blocks for one code cell's outputs; figures go into `files`."""
    blocks, stream = [], []
    for k, output in enumerate(cell.get("outputs", [])):
        if output.output_type == "stream":
            stream.append(output.text)
            continue
        data = output.get("data", {})
        if "text/plain" in data and not {"image/png", "image/svg+xml"} & set(data):
            if not {"text/html", "text/markdown"} & set(data):
                stream.append(clean_text(data["text/plain"]).rstrip() + "\n")
                continue
        if stream:
            blocks.append(fence("".join(stream), ["text", "nb-output"]))
            stream = []
        image = next((m for m in ("image/png", "image/svg+xml") if m in data), None)
        if image:
            extension = "png" if image == "image/png" else "svg"
            filename = f"{stem}_{index}_{k}.{extension}"
            payload = data[image]
            files[filename] = (
                base64.b64decode(payload) if extension == "png" else payload.encode()
            )
            alt = f"Figure: output of cell {index} of {stem}"
            blocks.append(f"![{alt}]({figures_dir}/{filename}){{ .nb-figure }}\n")
        elif "text/html" in data:
            html = data["text/html"]
            blocks.append(f'<div class="nb-output nb-html">\n{html}\n</div>\n')
        elif "text/markdown" in data:
            blocks.append(data["text/markdown"].strip() + "\n")
    if stream:
        blocks.append(fence("".join(stream), ["text", "nb-output"]))
    return blocks


def render(notebook, stem, header):
    """Markdown for one executed notebook; figures as (file name, bytes)."""
    parts, files = [], {}
    figures_dir = f"{stem}_files"
    header_done = False
    for index, cell in enumerate(notebook.cells):
        cell_tags = tags(cell)
        if {"remove_cell", "remove-cell"} & cell_tags:
            continue
        if cell.cell_type == "markdown":
            text = cell.source
            if not header_done:
                match = re.search(r"^# .*$", text, flags=re.MULTILINE)
                if match:
                    text = text[: match.end()] + "\n\n" + header + text[match.end() :]
                    header_done = True
            parts.append(text.strip() + "\n")
        elif cell.cell_type == "raw":
            continue
        else:
            if cell.source.strip() and not {"remove_input", "remove-input"} & cell_tags:
                parts.append(fence(cell.source, ["python"]))
            if {"remove_output", "remove-output"} & cell_tags:
                continue
            parts.extend(render_outputs(cell, index, stem, figures_dir, files))
    if not header_done:
        parts.insert(0, header)
    return "\n".join(parts), figures_dir, files


def how_made(page, env):
    """The sentence that says which run produced the page's outputs."""
    run = f"`KERAS_BACKEND={env['KERAS_BACKEND']}`, on a CPU, when the site was built"
    if not page.startswith("tutorials/"):
        return f"The outputs and figures on this page come from running it ({run})."
    return (
        "This page is the tutorial run in its **quick setting** "
        f"(`KERAS_ATTENTION_QUICK={env['KERAS_ATTENTION_QUICK']}`, {run}): every "
        "number in an output box comes from that small run. Numbers the text "
        "gives for the full setting come from running the script without "
        "`--quick` / `KERAS_ATTENTION_QUICK`."
    )


def render_page(page):
    """Execute docs page `page` (a .py path relative to docs/) and write it."""
    source = SRC / page
    stem = source.stem
    log(f"executing {page}")
    start = time.perf_counter()
    try:
        notebook, env = execute(source, RUN / Path(page).with_suffix(""))
    except Exception as error:  # a cell error, a timeout, a dead kernel
        raise BuildError(f"executing {page} failed:\n{error}") from error
    seconds = time.perf_counter() - start
    clean_outputs(notebook, page)
    header = (
        f"[Download the notebook]({stem}.ipynb)"
        f'{{ .md-button download="{stem}.ipynb" }}\n'
        f"[View the source]({stem}.py){{ .md-button }}\n\n"
        '!!! info "How this page was made"\n'
        f"    {how_made(page, env)}\n\n"
    )
    markdown, figures_dir, files = render(notebook, stem, header)
    if files:
        (source.parent / figures_dir).mkdir(exist_ok=True)
        for filename, data in files.items():
            (source.parent / figures_dir / filename).write_bytes(data)
    source.with_suffix(".md").write_text(markdown, encoding="utf-8")
    notebook.metadata.pop("widgets", None)
    with open(source.with_suffix(".ipynb"), "w", encoding="utf-8") as f:
        json.dump(notebook, f, indent=1, ensure_ascii=False)
        f.write("\n")
    log(f"  {page}: {seconds:.0f}s, {len(files)} figure(s)")
    return seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site-dir", default=str(ROOT / "site"))
    parser.add_argument(
        "--only",
        action="append",
        default=None,
        help="render only these .py pages (paths relative to docs/); for "
        "trying a page: the other .py pages are then left out of the site",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=int(os.environ.get("DOCS_JOBS", "2")),
        help="notebooks executed at the same time (default 2, or $DOCS_JOBS)",
    )
    args = parser.parse_args(argv)
    start = time.perf_counter()
    global BUILD, SRC, RUN
    site_dir = Path(args.site_dir).resolve()
    if site_dir != (ROOT / "site").resolve():
        digest = hashlib.sha1(str(site_dir).encode()).hexdigest()[:8]
        BUILD = ROOT / "build" / f"docs-{digest}"
    SRC, RUN = BUILD / "src", BUILD / "run"
    BUILD.mkdir(parents=True, exist_ok=True)
    lock = open(BUILD / ".lock", "w")  # noqa: SIM115 - held until exit
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        log(f"another build is using {BUILD.relative_to(ROOT)}: waiting for it")
        fcntl.flock(lock, fcntl.LOCK_EX)
    log(f"staging in {BUILD.relative_to(ROOT)}, site in {site_dir}")
    config = load_config()
    stage()
    mathjax()

    pages = [p for p in nav_pages(config.get("nav", [])) if p.endswith(".py")]
    unlisted = sorted(
        str(p.relative_to(SRC))
        for p in (SRC / "guide").glob("*.py")
        if str(p.relative_to(SRC)) not in pages
    )
    pages += unlisted
    for page in unlisted:
        log(f"{page} is not in the nav: rendered anyway")
    if args.only:
        pages = [p for p in pages if p in args.only]
        config["nav"] = prune_nav(config.get("nav", []), set(args.only))
    missing = [p for p in pages if not (SRC / p).exists()]
    if missing:
        raise BuildError(f"nav pages not found under docs/: {missing}")
    # Kernels in parallel: JAX compiles mostly on one core, so two kernels
    # use a 2-core machine better than one.
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        seconds = list(pool.map(render_page, pages))
    timings = dict(zip(pages, seconds, strict=True))

    config_path = write_config(config, pages, site_dir)
    log("mkdocs build --strict")
    mkdocs_start = time.perf_counter()
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config_path)],
        env=env,
    )
    if built.returncode:
        raise BuildError(f"mkdocs build --strict failed (exit {built.returncode})")
    total = time.perf_counter() - start
    log(
        "done: "
        + ", ".join(f"{Path(p).stem} {s:.0f}s" for p, s in timings.items())
        + f", mkdocs {time.perf_counter() - mkdocs_start:.0f}s, total {total:.0f}s"
    )


def prune_nav(nav, keep):
    """The nav without the .py pages that are not in `keep`."""
    if isinstance(nav, str):
        return nav if not nav.endswith(".py") or nav in keep else None
    if isinstance(nav, list):
        items = [prune_nav(item, keep) for item in nav]
        return [item for item in items if item not in (None, [], {})]
    if isinstance(nav, dict):
        items = {k: prune_nav(v, keep) for k, v in nav.items()}
        return {k: v for k, v in items.items() if v not in (None, [], {})} or None
    return nav


if __name__ == "__main__":
    try:
        main()
    except BuildError as error:
        sys.exit(f"[docs] error: {error}")
