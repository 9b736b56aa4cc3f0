/* Persian search (appended to Material's search worker by src/hw1/site/hook.py, on_post_build).
 *
 * lunr has no Persian support and Material's pipeline for it is empty, so a reader who types
 * تقسیم بندی (a space), تقسیمبندی (no joiner), Arabic ي and ك, or Arabic-Indic digits would not
 * find تقسیم‌بندی or ۲۰۰۸. Every token, of the index and of the query alike (lunr runs both through
 * Pipeline.prototype.run), is normalised the same way:
 *   - Arabic yeh and alef maksura (ي ى) -> Persian yeh (ی); Arabic kaf (ك) -> Persian keheh (ک);
 *   - harakat, superscript alef and tatweel removed (نُرم = نرم); zero-width joiner and soft hyphen removed;
 *   - Persian (۰-۹) and Arabic-Indic (٠-٩) digits -> 0-9, the Persian decimal separator (٫) -> ".";
 *   - a word with a zero-width non-joiner is indexed whole without it (تقسیمبندی) and as its parts
 *     (تقسیم, بندی): the query تقسیم‌بندی, تقسیمبندی and تقسیم بندی all find it;
 *   - brackets and punctuation around a token trimmed ("(Brostow" and "۲۰۰۸)" are Brostow and 2008).
 */
(function () {
  "use strict";
  var lunr = self.lunr;
  if (!lunr || !lunr.Pipeline || lunr.Pipeline.prototype.hw1Persian) return;

  var MAP = { "\u064A": "\u06CC", "\u0649": "\u06CC", "\u0643": "\u06A9", "\u066B": ".", "\u066C": "," };
  function normalise(text) {
    return text
      .replace(/[\u064A\u0649\u0643\u066B\u066C]/g, function (c) { return MAP[c]; })
      .replace(/[\u06F0-\u06F9]/g, function (d) { return String(d.charCodeAt(0) - 0x06F0); })
      .replace(/[\u0660-\u0669]/g, function (d) { return String(d.charCodeAt(0) - 0x0660); })
      .replace(/[\u064B-\u065F\u0670\u0640\u200D\u00AD]/g, "")
      .toLowerCase();
  }

  function expand(tokens) {
    var out = [];
    tokens.forEach(function (token) {
      var text = normalise(token.toString()).replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, "");
      var parts = text.split(/\u200C+/).filter(Boolean);
      if (!parts.length) return;
      out.push(token.clone(function () { return parts.join(""); }));
      if (parts.length > 1) {
        parts.forEach(function (part) { out.push(token.clone(function () { return part; })); });
      }
    });
    return out;
  }

  var run = lunr.Pipeline.prototype.run;
  lunr.Pipeline.prototype.run = function (tokens) { return run.call(this, expand(tokens)); };
  lunr.Pipeline.prototype.hw1Persian = true;
  self.hw1NormaliseSearch = normalise;
})();
