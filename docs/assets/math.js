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

  // Formulas in the navigation (the table of contents holds a heading's text, "\\(\\sqrt{d_k}\\)" as
  // written): typeset in place, with the page's digits, like those of the page.
  function typesetNavigation(root, fa) {
    if (!window.katex) return;
    Array.prototype.forEach.call(root.querySelectorAll(".md-nav__link:not([data-katex]), .md-nav__link .md-ellipsis:not([data-katex])"), function (el) {
      if (el.children.length && !el.classList.contains("md-ellipsis")) return;    // its .md-ellipsis does it
      var text = el.textContent;
      if (text.indexOf("\\(") < 0) return;
      var parts = text.split(/\\\((.+?)\\\)/);
      el.replaceChildren();
      parts.forEach(function (part, i) {
        if (i % 2 === 0) { if (part) el.appendChild(document.createTextNode(part)); return; }
        var span = document.createElement("span");
        span.className = "arithmatex";
        span.setAttribute("dir", "ltr");
        span.setAttribute("data-katex", "");
        try { window.katex.render(part, span, { throwOnError: false, output: "htmlAndMathml" }); }
        catch (error) { span.textContent = part; }
        if (fa) persianDigits(span);
        el.appendChild(span);
      });
      el.setAttribute("data-katex", "");
    });
  }

  window.hw1Math = { typeset: function (root) { typesetPage(root); typesetNavigation(root, document.documentElement.lang === "fa"); } };
  var run = function () { window.hw1Math.typeset(document); };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", run); else run();
  if (window.document$ && typeof window.document$.subscribe === "function") window.document$.subscribe(run);
})();
