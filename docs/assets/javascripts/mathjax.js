// MathJax 3 configuration, loaded before assets/mathjax/tex-mml-chtml.js (which
// the docs build copies from the npm registry's mathjax package: no CDN).
//
// Every equation on the site goes through pymdownx.arithmatex (generic mode):
// `$...$` and `\(...\)` become <span class="arithmatex">\(...\)</span>, and
// `$$...$$` and `\[...\]` become <div class="arithmatex">\[...\]</div>, in the
// Markdown pages, in the docstrings mkdocstrings renders, and in the tutorial
// pages (their Markdown cells are exported to Markdown before MkDocs runs).
// MathJax typesets those elements only, so a dollar sign in code or prose is
// never taken for maths.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"]],
    displayMath: [["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true,
  },
  options: {
    ignoreHtmlClass: ".*|",
    processHtmlClass: "arithmatex",
  },
};

// Material's instant navigation swaps pages without a reload: typeset again.
if (typeof document$ !== "undefined") {
  document$.subscribe(() => {
    if (window.MathJax && MathJax.startup && MathJax.typesetPromise) {
      MathJax.startup.output.clearCache();
      MathJax.typesetClear();
      MathJax.texReset();
      MathJax.typesetPromise();
    }
  });
}
