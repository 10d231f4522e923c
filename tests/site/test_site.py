"""The built site in a real browser, offline.

Run by `make docs-test` after `make docs` (not by the per-backend `make test`
runs: `tests/site` is in pytest's `norecursedirs`). The site folder is
`site/` (or `$DOCS_SITE_DIR`); it is served on 127.0.0.1 and every page is
opened in headless Chromium (Debian's `/usr/bin/chromium`, or
`$CHROMIUM`, driven by Playwright) with every request to another host
aborted. Screenshots go to `build/site-screenshots/`.
"""

import functools
import http.server
import json
import os
import re
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

playwright_sync = pytest.importorskip(
    "playwright.sync_api", reason="pip install -e '.[docs]' (playwright)"
)

ROOT = Path(__file__).resolve().parents[2]
SITE = Path(os.environ.get("DOCS_SITE_DIR", ROOT / "site")).resolve()
SCREENSHOTS = ROOT / "build" / "site-screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# TeX that MathJax should have turned into an equation, seen as text.
RAW_TEX = re.compile(
    r"\$\\|\\frac|\\mathrm|\\operatorname|\\sum_|\\sqrt|\\text\{|\\mathbf"
    r"|\\left[(\[|]|\\begin\{|\\\(|\\\)|\\\[|\\\]|\\top\b|\\cdot|\\exp\b"
)

# Visible text outside code blocks and outside rendered equations.
PROSE_TEXT_JS = """() => {
  const skip = "pre, code, script, style, textarea, mjx-container";
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const parts = [];
  while (walker.nextNode()) {
    const parent = walker.currentNode.parentElement;
    if (!parent || parent.closest(skip)) continue;
    if (!parent.checkVisibility()) continue;
    parts.push(walker.currentNode.textContent);
  }
  return parts.join(" ");
}"""

PAGE_FACTS_JS = """async () => {
  const images = Array.from(document.images);
  await Promise.all(images.map((img) => img.decode().catch(() => null)));
  const maths = Array.from(document.querySelectorAll(".arithmatex"));
  return {
    title: document.title,
    images: images.map((img) => ({
      src: img.currentSrc || img.src,
      width: img.naturalWidth,
      figure: img.classList.contains("nb-figure"),
    })),
    links: Array.from(document.querySelectorAll("a[href]")).map((a) => a.href),
    maths: maths.length,
    maths_rendered: maths.filter((m) => m.querySelector("mjx-container")).length,
    outputs: document.querySelectorAll(".nb-output").length,
    notebook_links: Array.from(
      document.querySelectorAll("article a[href$='.ipynb']")).map((a) => a.href),
    source_links: Array.from(
      document.querySelectorAll("article a[href$='.py']")).map((a) => a.href),
  };
}"""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _pages():
    pages = sorted(SITE.rglob("index.html")) + sorted(SITE.glob("404.html"))
    return [p.relative_to(SITE).as_posix() for p in pages]


@pytest.fixture(scope="module")
def server():
    if not (SITE / "index.html").is_file():
        pytest.fail(f"no built site in {SITE}: run `make docs` first")
    handler = functools.partial(_QuietHandler, directory=str(SITE))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def context(server):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: apt-get install -y chromium")
    origin = urllib.parse.urlsplit(server).netloc
    blocked = []

    def route(route):
        url = route.request.url
        if urllib.parse.urlsplit(url).netloc != origin:
            blocked.append(url)
            route.abort("blockedbyclient")
        else:
            route.continue_()

    with (
        playwright_sync.sync_playwright() as p,
        tempfile.TemporaryDirectory(prefix="site-test-chromium-") as profile,
    ):
        ctx = p.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            chromium_sandbox=False,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
            service_workers="block",
        )
        ctx.route("**/*", route)
        ctx.blocked = blocked
        yield ctx
        ctx.close()


@pytest.fixture(scope="module")
def visits(server, context):
    """Open every page once: status, console, requests, text and DOM facts."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    results = {}
    for path in _pages():
        page = context.new_page()
        errors, failed = [], []
        page.on(
            "console",
            lambda m, errors=errors: errors.append(m.text) if m.type == "error" else 0,
        )
        page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
        page.on(
            "requestfailed",
            lambda r, failed=failed: failed.append(f"{r.url} ({r.failure})"),
        )
        page.on(
            "response",
            lambda r, failed=failed: (
                failed.append(f"{r.url} (HTTP {r.status})") if r.status >= 400 else 0
            ),
        )
        response = page.goto(server + path, wait_until="networkidle")
        # MathJax typesets after load: wait for it to finish.
        page.wait_for_function(
            "() => window.MathJax && MathJax.startup && MathJax.startup.promise"
        )
        page.evaluate("() => MathJax.startup.promise.then(() => true)")
        facts = page.evaluate(PAGE_FACTS_JS)
        facts["status"] = response.status if response else None
        facts["prose"] = page.evaluate(PROSE_TEXT_JS)
        facts["errors"], facts["failed"] = list(errors), list(failed)
        name = path.removesuffix("index.html").strip("/").replace("/", "__") or "home"
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
        results[path] = facts
        page.close()
    return results


def test_every_page_loads(visits):
    assert len(visits) >= 10, sorted(visits)
    bad = {p: v["status"] for p, v in visits.items() if v["status"] != 200}
    assert not bad, bad
    print(f"\n{len(visits)} pages")


def test_no_console_errors_no_failed_or_outside_requests(visits, context):
    errors = {p: v["errors"] for p, v in visits.items() if v["errors"]}
    failed = {p: v["failed"] for p, v in visits.items() if v["failed"]}
    assert not errors, f"console errors: {errors}"
    assert not failed, f"failed requests: {failed}"
    assert not context.blocked, f"requests to other hosts: {context.blocked}"


def test_no_raw_tex_and_every_equation_rendered(visits):
    raw = {}
    for path, v in visits.items():
        found = sorted(set(RAW_TEX.findall(v["prose"])))
        if found:
            raw[path] = found
    assert not raw, f"TeX left as text: {raw}"
    unrendered = {
        p: (v["maths_rendered"], v["maths"])
        for p, v in visits.items()
        if v["maths_rendered"] != v["maths"]
    }
    assert not unrendered, f"(rendered, equations) per page: {unrendered}"
    total = sum(v["maths"] for v in visits.values())
    # The API reference (docstring equations), the guide and the tutorials.
    assert total >= 20, total
    print(f"\n{total} equations rendered")


def test_every_image_decodes(visits):
    images = [(p, i) for p, v in visits.items() for i in v["images"]]
    broken = [(p, i["src"]) for p, i in images if i["width"] <= 0]
    assert not broken, broken
    assert images, "no images on the site"
    print(f"\n{len(images)} images decoded")


@functools.cache
def _fetch(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as error:
        return error.code, b""


def _ids(html):
    text = html.decode("utf-8", "replace")
    return set(re.findall(r"""\s(?:id|name)=["']?([^"'\s>]+)""", text))


def test_every_internal_link_and_anchor_resolves(visits, server):
    origin = urllib.parse.urlsplit(server).netloc
    checked, anchors, external, broken = 0, 0, 0, []
    for path, v in visits.items():
        for link in v["links"]:
            parts = urllib.parse.urlsplit(link)
            if parts.scheme not in ("http", "https"):
                continue
            if parts.netloc != origin:
                external += 1
                continue
            target = urllib.parse.urlunsplit(parts._replace(fragment=""))
            status, body = _fetch(target)
            checked += 1
            if status != 200:
                broken.append(f"{path}: {link} (HTTP {status})")
                continue
            if parts.fragment:
                anchors += 1
                fragment = urllib.parse.unquote(parts.fragment)
                if fragment not in _ids(body):
                    broken.append(f"{path}: {link} (no anchor {fragment!r})")
    assert not broken, "\n".join(broken)
    assert checked > 100, checked
    print(f"\n{checked} internal links ({anchors} with anchors), {external} external")


def _search(context, server, query):
    page = context.new_page()
    page.goto(server, wait_until="networkidle")
    page.click("input.md-search__input")
    # Typed key by key: Material searches on keyboard events.
    page.locator("input.md-search__input").press_sequentially(query, delay=30)
    page.wait_for_selector(".md-search-result__item", timeout=15000)
    links = page.eval_on_selector_all(
        ".md-search-result__link",
        "links => links.map(a => [a.href, a.innerText])",
    )
    name = re.sub(r"\W+", "_", query)
    page.screenshot(path=str(SCREENSHOTS / f"search_{name}.png"))
    page.close()
    return links


def test_search_finds_multi_head_attention_entry(context, server):
    links = _search(context, server, "MultiHeadAttention")
    own = [
        href
        for href, _ in links
        if urllib.parse.unquote(urllib.parse.urlsplit(href).fragment)
        .split(".")[-1]
        .lower()
        == "multiheadattention"
    ]
    assert own, f"no result for MultiHeadAttention's own heading: {links}"


def test_search_finds_bahdanau(context, server):
    links = _search(context, server, "Bahdanau")
    assert links, "no result for Bahdanau"


def test_tutorial_pages_show_outputs_figures_and_notebooks(visits):
    tutorials = {p: v for p, v in visits.items() if p.startswith("tutorials/")}
    assert len(tutorials) >= 4, sorted(visits)
    for path, v in tutorials.items():
        assert v["outputs"] >= 3, f"{path}: {v['outputs']} output blocks"
        figures = [i for i in v["images"] if i["figure"] and i["width"] > 0]
        assert figures, f"{path}: no figure"
        assert v["notebook_links"], f"{path}: no notebook link"
        assert v["source_links"], f"{path}: no source link"
        status, body = _fetch(v["notebook_links"][0])
        assert status == 200, (path, v["notebook_links"][0], status)
        notebook = json.loads(body)
        executed = [
            c for c in notebook["cells"] if c["cell_type"] == "code" and c["outputs"]
        ]
        assert len(executed) >= 3, f"{path}: notebook has {len(executed)} outputs"
        status, _ = _fetch(v["source_links"][0])
        assert status == 200, (path, v["source_links"][0], status)
