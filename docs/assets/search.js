/* Persian search, query side: the query is normalised as the index is (src/hw1/site/search_normalise.js,
 * in Material's search worker) before it reaches the worker. Material sends each query to its worker as
 * {type: 2, data: "<query>"}; its terms end in a wildcard, which lunr does not pass through the pipeline
 * that normalises the index, so the query string itself is normalised here:
 *   Arabic ي ى ك -> ی ی ک; Persian and Arabic-Indic digits -> 0-9 (٫ -> .); harakat, tatweel, zero-width
 *   joiner and soft hyphen removed; a zero-width non-joiner removed (تقسیم‌بندی -> تقسیمبندی, the form
 *   the index holds besides its parts). What the reader typed stays in the search box as typed.
 */
(function () {
  "use strict";
  var QUERY = 2;
  var MAP = { "\u064A": "\u06CC", "\u0649": "\u06CC", "\u0643": "\u06A9", "\u066B": ".", "\u066C": "," };

  function normalise(text) {
    return text
      .replace(/[\u064A\u0649\u0643\u066B\u066C]/g, function (c) { return MAP[c]; })
      .replace(/[\u06F0-\u06F9]/g, function (d) { return String(d.charCodeAt(0) - 0x06F0); })
      .replace(/[\u0660-\u0669]/g, function (d) { return String(d.charCodeAt(0) - 0x0660); })
      .replace(/[\u064B-\u065F\u0670\u0640\u200C\u200D\u00AD]/g, "");
  }

  if (!window.Worker || Worker.prototype.hw1Persian) return;
  var post = Worker.prototype.postMessage;
  Worker.prototype.postMessage = function (message) {
    var args = Array.prototype.slice.call(arguments);
    if (message && message.type === QUERY && typeof message.data === "string") {
      args[0] = { type: QUERY, data: normalise(message.data) };
    }
    return post.apply(this, args);
  };
  Worker.prototype.hw1Persian = true;
  window.hw1NormaliseQuery = normalise;
})();
