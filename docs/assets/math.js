/* Formulas typeset by KaTeX (self-hosted: docs/assets/katex/, from the npm package katex).
 *
 * Pages: pymdownx.arithmatex (generic mode) writes $...$ as <span class="arithmatex">\(...\)</span> and
 * $$...$$ as <div class="arithmatex">\[...\]</div>; each is typeset in place and marked data-katex.
 * The embedded notebook (.hw1-notebook) keeps Jupyter's $...$ and $$...$$ in its Markdown cells: they
 * are typeset by KaTeX's auto-render. Formulas read left to right on Persian pages too (report.css),
 * with Persian digits (and the Persian decimal separator between digits), as Persian textbooks set them.
 */
(function () {
  "use strict";

  var PERSIAN = "۰۱۲۳۴۵۶۷۸۹";

  function persianDigits(el) {
    // the visible rendering only: the MathML copy (.katex-mathml) stays as TeX wrote it
    Array.prototype.forEach.call(el.querySelectorAll(".katex-html"), function (html) {
      var walker = document.createTreeWalker(html, NodeFilter.SHOW_TEXT);
      for (var node = walker.nextNode(); node; node = walker.nextNode()) {
        if (!/[0-9]/.test(node.nodeValue)) continue;
        node.nodeValue = node.nodeValue.replace(/([0-9])\.(?=[0-9])/g, "$1٫")
          .replace(/[0-9]/g, function (d) { return PERSIAN[+d]; });
      }
    });
  }

  function typesetPage(root) {
    if (!window.katex) return;
    var fa = document.documentElement.lang === "fa";
    Array.prototype.forEach.call(root.querySelectorAll(".arithmatex:not([data-katex])"), function (el) {
      var text = el.textContent.trim();
      var display = el.tagName === "DIV" || /^\\\[/.test(text);
      var tex = text.replace(/^\\[\[(]/, "").replace(/\\[\])]$/, "");
      try {
        window.katex.render(tex, el, { displayMode: display, throwOnError: false, output: "htmlAndMathml" });
      } catch (error) {
        el.classList.add("arithmatex--error");
      }
      if (fa) persianDigits(el);
      el.setAttribute("data-katex", "");
      el.setAttribute("dir", "ltr");
    });
    if (window.renderMathInElement) {
      Array.prototype.forEach.call(root.querySelectorAll(".hw1-notebook:not([data-katex])"), function (nb) {
        Array.prototype.forEach.call(nb.querySelectorAll(".jp-MarkdownOutput, .text_cell_render, .jp-RenderedMarkdown"), function (cell) {
          window.renderMathInElement(cell, {
            delimiters: [{ left: "$$", right: "$$", display: true }, { left: "$", right: "$", display: false },
                         { left: "\\(", right: "\\)", display: false }, { left: "\\[", right: "\\]", display: true }],
            ignoredTags: ["script", "noscript", "style", "textarea", "pre", "code"],
            throwOnError: false
          });
        });
        if (fa) persianDigits(nb);
        nb.setAttribute("data-katex", "");
      });
    }
  }

  window.hw1Math = { typeset: typesetPage };
  var run = function () { typesetPage(document); };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", run); else run();
  if (window.document$ && typeof window.document$.subscribe === "function") window.document$.subscribe(run);
})();
