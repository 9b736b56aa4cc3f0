/* Attention explorer (Part 1): pick a sentence, a layer and a head, see that head's attention matrix.
 *
 * Markup (text/sections/attention-explorer.<lang>.md):
 *   <div class="hw1-explorer" data-src="results/bert/data/attention.json"
 *        data-label-sentence="…" data-label-layer="…" data-label-head="…" data-label-query="…"
 *        data-label-key="…" data-label-caption="…" data-label-error="…" data-label-loading="…"
 *        data-digits="fa|en"></div>
 * Data (written by src/hw1/experiments/bert.py):
 *   {"layers": L, "heads": H, "sentences": [{"text": [str] | str, "tokens": [str],
 *     "attention": [L][H][T][T]}]}          attention[l][h][query][key], each row sums to 1
 * data-src is relative to the site's root (the folder above assets/), so the same markup works on
 * / and on /en/ pages. No library, no request to another host: the JSON comes from the site itself.
 */
(function () {
  "use strict";

  var PERSIAN = "۰۱۲۳۴۵۶۷۸۹";
  // this file is <site root>/assets/attention-explorer.js
  var SCRIPT = document.currentScript && document.currentScript.src;
  var SITE_ROOT = SCRIPT ? new URL("..", SCRIPT).href : document.baseURI;

  function digits(root, value) {
    var text = String(value);
    if (root.dataset.digits !== "fa") return text;
    return text.replace(/[0-9]/g, function (d) { return PERSIAN[+d]; }).replace(".", "٫");
  }

  function label(root, name, fallback) {
    var value = root.dataset["label" + name.charAt(0).toUpperCase() + name.slice(1)];
    return value || fallback;
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function select(root, name, count, labeller) {
    var id = root.id + "-" + name;
    var wrap = el("label", { "class": "hw1-explorer__control", "for": id });
    wrap.appendChild(el("span", {}, label(root, name, name)));
    var sel = el("select", { id: id, "data-role": name });
    for (var i = 0; i < count; i++) {
      sel.appendChild(el("option", { value: String(i + 1) }, labeller(i)));
    }
    wrap.appendChild(sel);
    return { wrap: wrap, select: sel };
  }

  // one sentence/layer/head -> an HTML table heat map with token labels
  function drawMatrix(root, data, box) {
    var s = +root.querySelector("[data-role=sentence]").value - 1;
    var l = +root.querySelector("[data-role=layer]").value - 1;
    var h = +root.querySelector("[data-role=head]").value - 1;
    var sentence = data.sentences[s];
    var tokens = sentence.tokens;
    var matrix = (sentence.attention || sentence.attentions)[l][h];   // (T, T)
    var table = el("table", { "class": "hw1-explorer__matrix", dir: "ltr",
                              "data-layer": String(l + 1), "data-head": String(h + 1) });
    var comma = root.dataset.digits === "fa" ? "، " : ", ";
    var caption = el("caption", {}, label(root, "caption", "") + " " + label(root, "layer", "layer") + " " +
                     digits(root, l + 1) + comma + label(root, "head", "head") + " " + digits(root, h + 1));
    table.appendChild(caption);
    var head = el("tr");
    head.appendChild(el("th", { "class": "hw1-explorer__corner", scope: "col", dir: "auto" },
                        label(root, "query", "query") + " \\ " + label(root, "key", "key")));
    tokens.forEach(function (t) { head.appendChild(el("th", { scope: "col", "class": "hw1-explorer__key" }, t)); });
    var thead = el("thead");
    thead.appendChild(head);
    table.appendChild(thead);
    var body = el("tbody");
    matrix.forEach(function (row, q) {
      var tr = el("tr");
      tr.appendChild(el("th", { scope: "row" }, tokens[q]));
      row.forEach(function (v, k) {
        var td = el("td", { "class": "hw1-cell", "data-v": String(v),
                            title: tokens[q] + " → " + tokens[k] + ": " + v.toFixed(3) });
        td.style.setProperty("--w", String(Math.max(0, Math.min(1, v))));
        if (v >= 0.5) td.classList.add("hw1-cell--strong");
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    table.appendChild(body);
    box.replaceChildren(table);
    root.dataset.state = "ready";
  }

  function build(root, data) {
    if (!root.id) root.id = "hw1-explorer-" + Math.random().toString(36).slice(2, 8);
    var controls = el("div", { "class": "hw1-explorer__controls" });
    var sentences = select(root, "sentence", data.sentences.length, function (i) {
      var text = data.sentences[i].text;
      return Array.isArray(text) ? text.join(" | ") : text;
    });
    sentences.select.setAttribute("dir", "ltr");      // the sentences are English
    var layers = select(root, "layer", data.layers || data.num_layers, function (i) { return digits(root, i + 1); });
    var heads = select(root, "head", data.heads || data.num_heads, function (i) { return digits(root, i + 1); });
    [sentences, layers, heads].forEach(function (c) { controls.appendChild(c.wrap); });
    var box = el("div", { "class": "hw1-explorer__box", "aria-live": "polite" });
    root.replaceChildren(controls, box);
    var redraw = function () { drawMatrix(root, data, box); };
    [sentences, layers, heads].forEach(function (c) { c.select.addEventListener("change", redraw); });
    redraw();
  }

  function init(root) {
    if (root.dataset.state) return;             // already set up (instant navigation, second init)
    root.dataset.state = "loading";
    var status = el("p", { "class": "hw1-explorer__status" }, label(root, "loading", "…"));
    root.replaceChildren(status);
    var url = new URL(root.dataset.src, SITE_ROOT).href;
    fetch(url).then(function (response) {
      if (!response.ok) throw new Error(response.status + " " + url);
      return response.json();
    }).then(function (data) {
      build(root, data);
    }).catch(function (error) {
      root.dataset.state = "error";
      status.textContent = label(root, "error", "The attention data could not be loaded.") + " (" + error.message + ")";
    });
  }

  function initAll() {
    Array.prototype.forEach.call(document.querySelectorAll(".hw1-explorer[data-src]"), init);
  }

  window.hw1Explorer = { init: init, initAll: initAll };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", initAll);
  } else {
    initAll();
  }
  // Material for MkDocs with instant navigation swaps pages without a load event; it exposes document$.
  if (window.document$ && typeof window.document$.subscribe === "function") {
    window.document$.subscribe(initAll);
  }
})();
