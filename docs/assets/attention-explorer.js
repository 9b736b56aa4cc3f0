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

  // Latin runs inside Persian labels ("پرسش (query)") isolated left to right, as the hook does in pages
  var LATIN_RUN = /([\[(]?[A-Za-z][A-Za-z0-9_\-\/.]*(?: [A-Za-z0-9_\-\/.]+)*[\])]?)/;
  function bidiText(node, text) {
    var parts = String(text).split(LATIN_RUN);
    if (parts.length === 1 || !/[\u0600-\u06FF]/.test(text)) { node.textContent = text; return node; }
    node.replaceChildren();
    parts.forEach(function (part, i) {
      if (!part) return;
      if (i % 2) { var b = document.createElement("bdi"); b.dir = "ltr"; b.textContent = part; node.appendChild(b); }
      else node.appendChild(document.createTextNode(part));
    });
    return node;
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) bidiText(node, text);
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

  var WORDS = {
    fa: { view: "نما", one: "یک سر", average: "میانگین سرهای لایه", token: "توکن پرسش", all: "همهٔ توکن‌ها",
          values: "نمایش مقدارها", presets: "سرهایی که متن نام می‌برد", scale: "وزن توجه", pattern: "الگو",
          scores: "امتیاز هر سر برای الگوی", hint: "روی هر خانه بزنید تا ماتریس همان سر باز شود.",
          layerShort: "لایه", headShort: "سر", scoreShort: "امتیاز", averageOf: "میانگین سرهای",
          patterns: { cls: "توجه به [CLS]", sep: "توجه به [SEP]", previous: "توکن قبلی", next: "توکن بعدی", self: "خودِ توکن" } },
    en: { view: "view", one: "one head", average: "average of the layer's heads", token: "query token", all: "all tokens",
          values: "show values", presets: "heads the text names", scale: "attention weight", pattern: "pattern",
          scores: "score of each head for the pattern", hint: "Click or tap a cell to open that head's matrix.",
          layerShort: "layer", headShort: "head", scoreShort: "score", averageOf: "average of the heads of",
          patterns: { cls: "attention to [CLS]", sep: "attention to [SEP]", previous: "previous token", next: "next token", self: "same token" } }
  };
  function words(root) { return WORDS[root.dataset.digits === "fa" ? "fa" : "en"]; }
  function fixed(root, v, n) { return digits(root, v.toFixed(n)); }
  // a value in a small cell: ".29" in English; Persian keeps its zero ("۰٫۲۹", as Persian writes it)
  function compact(root, v) {
    var text = fixed(root, v, 2);
    return root.dataset.digits === "fa" ? text : text.replace(/^0/, "");
  }

  function value(root, name) { return +root.querySelector("[data-role=" + name + "]").value; }

  // one sentence/layer/head (or the layer's head average) -> an HTML table heat map with token labels
  function drawMatrix(root, data, box) {
    var w = words(root);
    var s = value(root, "sentence") - 1, l = value(root, "layer") - 1, h = value(root, "head") - 1;
    var average = root.querySelector("[data-role=view]").value === "average";
    var focus = value(root, "token") - 1;                          // -1: every query token
    var showValues = root.querySelector("[data-role=values]").checked;
    var sentence = data.sentences[s];
    var tokens = sentence.tokens;
    var heads = (sentence.attention || sentence.attentions)[l];
    var matrix = average ? heads[0].map(function (row, q) {
      return row.map(function (_, k) {
        return heads.reduce(function (sum, head) { return sum + head[q][k]; }, 0) / heads.length;
      });
    }) : heads[h];
    root.querySelector("[data-role=head]").disabled = average;
    var table = el("table", { "class": "hw1-explorer__matrix" + (showValues ? " hw1-explorer__matrix--values" : ""), dir: "ltr",
                              "data-layer": String(l + 1), "data-head": average ? "average" : String(h + 1) });
    var comma = root.dataset.digits === "fa" ? "، " : ", ";
    var which = average ? w.averageOf + " " + label(root, "layer", "layer") + " " + digits(root, l + 1)
                        : label(root, "layer", "layer") + " " + digits(root, l + 1) + comma + label(root, "head", "head") + " " + digits(root, h + 1);
    table.appendChild(el("caption", { dir: "auto" }, label(root, "caption", "") + " " + which));
    var head = el("tr");
    // the corner: keys run to the right (→), queries down (↓), one line each
    var fa = root.dataset.digits === "fa";
    var corner = el("th", { "class": "hw1-explorer__corner", scope: "col" });
    corner.appendChild(el("span", { dir: "auto" }, fa ? "→ " + label(root, "key", "key") : label(root, "key", "key") + " →"));
    corner.appendChild(el("span", { dir: "auto" }, label(root, "query", "query") + " ↓"));
    head.appendChild(corner);
    tokens.forEach(function (t) { head.appendChild(el("th", { scope: "col", "class": "hw1-explorer__key" }, t)); });
    var thead = el("thead");
    thead.appendChild(head);
    table.appendChild(thead);
    var body = el("tbody");
    var readout = root.querySelector(".hw1-explorer__readout");
    matrix.forEach(function (row, q) {
      var tr = el("tr", focus === q ? { "class": "hw1-explorer__focus" } : {});
      tr.appendChild(el("th", { scope: "row" }, tokens[q]));
      row.forEach(function (v, k) {
        var text = tokens[q] + " → " + tokens[k] + ": " + fixed(root, v, 3);
        var td = el("td", { "class": "hw1-cell", "data-v": String(v), title: text, tabindex: "0" });
        td.style.setProperty("--w", String(Math.max(0, Math.min(1, v))));
        if (v >= 0.5) td.classList.add("hw1-cell--strong");
        if (showValues) td.textContent = v >= 0.005 ? compact(root, v) : "";
        var show = function () { readout.textContent = text; };
        td.addEventListener("click", show);
        td.addEventListener("focus", show);
        tr.appendChild(td);
      });
      body.appendChild(tr);
    });
    table.appendChild(body);
    var parts = [table];
    if (focus >= 0) {                                              // one query token: its row as bars
      var bars = el("ol", { "class": "hw1-explorer__bars", dir: "ltr" });
      matrix[focus].forEach(function (v, k) {
        var li = el("li");
        li.appendChild(el("span", { "class": "hw1-explorer__bar-token" }, tokens[k]));
        var bar = el("span", { "class": "hw1-explorer__bar" });
        bar.style.setProperty("--w", String(Math.max(0, Math.min(1, v))));
        li.appendChild(bar);
        li.appendChild(el("span", { "class": "hw1-explorer__bar-value" }, fixed(root, v, 3)));
        bars.appendChild(li);
      });
      parts.push(el("p", { "class": "hw1-explorer__status", dir: "auto" }, tokens[focus] + " →"), bars);
    }
    box.replaceChildren.apply(box, parts);
    root.dataset.state = "ready";
  }

  function scale(root) {                                           // the colour scale, 0 to 1
    var w = words(root);
    var wrap = el("div", { "class": "hw1-explorer__scale" });
    wrap.appendChild(el("span", {}, w.scale));
    var bar = el("span", { "class": "hw1-explorer__gradient", dir: "ltr", "aria-hidden": "true" });
    ["0", "0.5", "1"].forEach(function (t) { bar.appendChild(el("span", {}, digits(root, t))); });
    wrap.appendChild(bar);
    return wrap;
  }

  function scoreCell(root, w, v, l, h, best, open, whole) {       // one head's score: a click opens it
    var td = el("td", { "class": "hw1-score-cell", tabindex: "0", role: "button", "data-layer": String(l + 1),
                        "data-head": String(h + 1), title: w.layerShort + " " + digits(root, l + 1) + ", " +
                        w.headShort + " " + digits(root, h + 1) + ": " + fixed(root, v, 2) },
                    whole ? fixed(root, v, 2) : compact(root, v));
    td.style.setProperty("--w", String(Math.max(0, Math.min(1, v))));
    if (v === best) td.classList.add("hw1-score-cell--best");
    if (v >= 0.5) td.classList.add("hw1-score-cell--dark");
    var go = function () { open(l + 1, h + 1); };
    td.addEventListener("click", go);
    td.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); go(); } });
    return td;
  }

  // the head-score heat map (scores[pattern][layer][head]) as HTML: a click opens that head
  function drawScores(root, data, box, open) {
    var w = words(root);
    var pattern = root.querySelector("[data-role=pattern]").value;
    var scores = data.scores[pattern];
    var only = root.querySelector("[data-role=score-layer]");          // a phone: one layer at a time
    var shown = only ? [+only.value - 1] : scores.map(function (_, l) { return l; });
    var table = el("table", { "class": "hw1-explorer__scores" + (only ? " hw1-explorer__scores--one" : ""), dir: "ltr",
                              "data-pattern": pattern });
    table.appendChild(el("caption", { dir: "auto" }, w.scores + " «" + (w.patterns[pattern] || pattern) + "»"));
    var tr = el("tr");
    tr.appendChild(el("th", { "class": "hw1-explorer__corner", dir: "auto" }, w.layerShort + " \\ " + w.headShort + " →"));
    scores[0].forEach(function (_, h) { tr.appendChild(el("th", { scope: "col" }, digits(root, h + 1))); });
    var thead = el("thead");
    thead.appendChild(tr);
    table.appendChild(thead);
    var body = el("tbody");
    var best = Math.max.apply(null, scores.map(function (r) { return Math.max.apply(null, r); }));
    if (only) {                                  // one layer: its heads down the page, one per row
      table.replaceChildren(table.querySelector("caption"));
      var h2 = el("tr");
      h2.appendChild(el("th", { scope: "col" }, w.headShort));
      h2.appendChild(el("th", { scope: "col" }, w.scoreShort));
      var th2 = el("thead");
      th2.appendChild(h2);
      table.appendChild(th2);
      var l1 = shown[0];
      scores[l1].forEach(function (v, h) {
        var r = el("tr");
        r.appendChild(el("th", { scope: "row" }, digits(root, h + 1)));
        r.appendChild(scoreCell(root, w, v, l1, h, best, open, true));
        body.appendChild(r);
      });
      table.appendChild(body);
      box.replaceChildren(table, el("p", { "class": "hw1-explorer__status" }, w.hint));
      return;
    }
    shown.forEach(function (l) {
      var row = scores[l];
      var r = el("tr");
      r.appendChild(el("th", { scope: "row" }, digits(root, l + 1)));
      row.forEach(function (v, h) { r.appendChild(scoreCell(root, w, v, l, h, best, open)); });
      body.appendChild(r);
    });
    table.appendChild(body);
    box.replaceChildren(table, el("p", { "class": "hw1-explorer__status" }, w.hint));
  }

  function bestOf(scores) {                                       // [layer, head, score] of the best head (1-based)
    var best = [0, 0, -1];
    scores.forEach(function (row, l) { row.forEach(function (v, h) { if (v > best[2]) best = [l + 1, h + 1, v]; }); });
    return best;
  }

  function choice(root, name, text, options) {                    // a select of (value, label) pairs
    var id = root.id + "-" + name;
    var wrap = el("label", { "class": "hw1-explorer__control", "for": id });
    wrap.appendChild(el("span", {}, text));
    var sel = el("select", { id: id, "data-role": name });
    options.forEach(function (o) { sel.appendChild(el("option", { value: o[0] }, o[1])); });
    wrap.appendChild(sel);
    return { wrap: wrap, select: sel };
  }

  function build(root, data) {
    if (!root.id) root.id = "hw1-explorer-" + Math.random().toString(36).slice(2, 8);
    var w = words(root);
    var controls = el("div", { "class": "hw1-explorer__controls" });
    var sentences = select(root, "sentence", data.sentences.length, function (i) {
      var text = data.sentences[i].text;
      return Array.isArray(text) ? text.join(" | ") : text;
    });
    sentences.select.setAttribute("dir", "ltr");      // the sentences are English
    var layers = select(root, "layer", data.layers || data.num_layers, function (i) { return digits(root, i + 1); });
    var heads = select(root, "head", data.heads || data.num_heads, function (i) { return digits(root, i + 1); });
    var view = choice(root, "view", w.view, [["one", w.one], ["average", w.average]]);
    var token = choice(root, "token", w.token, [["0", w.all]]);
    var fillTokens = function () {
      var tokens = data.sentences[+sentences.select.value - 1].tokens;
      token.select.replaceChildren(el("option", { value: "0" }, w.all));
      tokens.forEach(function (t, i) { token.select.appendChild(el("option", { value: String(i + 1), dir: "ltr" }, t)); });
    };
    fillTokens();
    var values = el("label", { "class": "hw1-explorer__control" });
    var box_ = el("input", { type: "checkbox", "data-role": "values" });
    box_.checked = !!(window.matchMedia && window.matchMedia("(hover: none)").matches);   // touch: values shown
    values.appendChild(box_);
    values.appendChild(el("span", {}, w.values));
    [sentences, layers, heads, view, token].forEach(function (c) { controls.appendChild(c.wrap); });
    controls.appendChild(values);
    var presets = el("div", { "class": "hw1-explorer__presets" });
    presets.appendChild(el("span", {}, w.presets + ": "));
    var patterns = data.patterns || Object.keys(data.scores || {});
    var box = el("div", { "class": "hw1-explorer__box", "aria-live": "polite" });
    var readout = el("output", { "class": "hw1-explorer__readout", dir: "ltr" }, "");
    var redraw = function () { drawMatrix(root, data, box); };
    var open = function (layer, head) {
      layers.select.value = String(layer);
      heads.select.value = String(head);
      view.select.value = "one";
      redraw();
      box.scrollIntoView({ block: "nearest" });
    };
    patterns.forEach(function (p) {
      if (!data.scores || !data.scores[p]) return;
      var best = bestOf(data.scores[p]);
      var b = el("button", { type: "button", "class": "hw1-explorer__preset", "data-layer": String(best[0]), "data-head": String(best[1]) },
                 (w.patterns[p] || p) + " (" + w.layerShort + " " + digits(root, best[0]) + (root.dataset.digits === "fa" ? "، " : ", ") +
                 w.headShort + " " + digits(root, best[1]) + ")");
      b.addEventListener("click", function () { open(best[0], best[1]); });
      presets.appendChild(b);
    });
    var parts = [controls];
    if (presets.children.length > 1) parts.push(presets);
    parts.push(scale(root), readout, box);
    var drawS = null;
    if (data.scores && patterns.length) {                          // the head-score heat map
      var scoreBox = el("div", { "class": "hw1-explorer__box hw1-explorer__scorebox" });
      var pattern = choice(root, "pattern", w.pattern, patterns.map(function (p) { return [p, w.patterns[p] || p]; }));
      drawS = function () { drawScores(root, data, scoreBox, open); };
      pattern.select.addEventListener("change", drawS);
      var c2 = el("div", { "class": "hw1-explorer__controls" });
      c2.appendChild(pattern.wrap);
      // A phone shows the head scores of one layer at a time (a 6 × 12 grid is unreadable at 390 px).
      if (window.matchMedia && window.matchMedia("(max-width: 40em)").matches) {
        var nLayers = data.scores[patterns[0]].length;
        var scoreLayer = choice(root, "score-layer", label(root, "layer", w.layerShort),
                                Array.apply(null, Array(nLayers)).map(function (_, l) { return [String(l + 1), digits(root, l + 1)]; }));
        scoreLayer.select.addEventListener("change", drawS);
        pattern.select.addEventListener("change", function () {       // a new pattern: the layer of its best head
          scoreLayer.select.value = String(bestOf(data.scores[pattern.select.value])[0]);
          drawS();
        });
        scoreLayer.select.value = String(bestOf(data.scores[patterns[0]])[0]);
        c2.appendChild(scoreLayer.wrap);
      }
      parts.push(c2, scoreBox);
    }
    root.replaceChildren.apply(root, parts);          // the controls first: the drawings read them
    if (drawS) drawS();
    sentences.select.addEventListener("change", function () { fillTokens(); redraw(); });
    [layers, heads, view, token].forEach(function (c) { c.select.addEventListener("change", redraw); });
    box_.addEventListener("change", redraw);
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
