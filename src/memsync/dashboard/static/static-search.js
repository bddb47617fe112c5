// Search for the static build: the shared repository's merged observations are in
// search-index.js (a script, not JSON fetched at run time, so it loads from file:// too).
// Query syntax as on the live dashboard: words (all must match), OR, NOT, "exact phrases".
// Results are built with DOM nodes and textContent only: observation text is never HTML.
(function () {
  "use strict";
  var PER_PAGE = 20;
  var index = window.MEMSYNC_SEARCH || [];
  var params = new URLSearchParams(window.location.search);
  var query = params.get("q") || "";
  var page = Math.max(1, parseInt(params.get("page") || "1", 10) || 1);
  var input = document.getElementById("sq");
  var info = document.getElementById("sr-info");
  var out = document.getElementById("sr-results");
  if (!input || !out) return;
  input.value = query;

  function parse(text) {
    if ((text.match(/"/g) || []).length % 2) throw new Error('search syntax error: close the double quote ("exact phrase")');
    var tokens = [], re = /"([^"]*)"|(\S+)/g, m;
    while ((m = re.exec(text))) tokens.push(m[1] !== undefined ? {phrase: m[1]} : {word: m[2]});
    var groups = [[]], negate = false;
    tokens.forEach(function (t) {
      if (t.word === "OR") { if (groups[groups.length - 1].length) groups.push([]); return; }
      if (t.word === "AND") return;
      if (t.word === "NOT") { negate = true; return; }
      var term = (t.phrase !== undefined ? t.phrase : t.word.replace(/[()*^]/g, "")).trim();
      if (term) groups[groups.length - 1].push({text: term.toLowerCase(), not: negate});
      negate = false;
    });
    groups = groups.filter(function (g) { return g.some(function (t) { return !t.not; }); });
    if (!groups.length) throw new Error("search syntax error: give at least one word to find (NOT alone excludes everything)");
    return groups;
  }

  function contains(hay, term) {
    var at = hay.indexOf(term);
    while (at >= 0) {
      var before = at === 0 ? "" : hay.charAt(at - 1), after = hay.charAt(at + term.length);
      if (!/[\p{L}\p{N}]/u.test(before) && !/[\p{L}\p{N}]/u.test(after)) return true;
      if (/[\u3040-\u9fff\uac00-\ud7af]/.test(term)) return true; // CJK: substring, as claude-mem does
      at = hay.indexOf(term, at + 1);
    }
    return false;
  }

  function matches(entry, groups) {
    var hay = entry.lower;
    return groups.some(function (g) {
      return g.every(function (t) { return contains(hay, t.text) !== t.not; });
    });
  }

  function marked(text, terms) {
    var span = document.createElement("span"), lower = text.toLowerCase(), pos = 0;
    while (pos < text.length) {
      var best = -1, len = 0;
      terms.forEach(function (t) { var at = lower.indexOf(t, pos); if (at >= 0 && (best < 0 || at < best)) { best = at; len = t.length; } });
      if (best < 0) break;
      span.appendChild(document.createTextNode(text.slice(pos, best)));
      var mark = document.createElement("mark");
      mark.textContent = text.slice(best, best + len);
      span.appendChild(mark);
      pos = best + len;
    }
    span.appendChild(document.createTextNode(text.slice(pos)));
    return span;
  }

  function excerpt(text, terms) {
    var lower = text.toLowerCase(), at = -1;
    terms.forEach(function (t) { var i = lower.indexOf(t); if (i >= 0 && (at < 0 || i < at)) at = i; });
    if (at < 0) return text.slice(0, 200);
    var start = Math.max(0, at - 90);
    return (start ? "… " : "") + text.slice(start, at + 150) + (at + 150 < text.length ? " …" : "");
  }

  function link(label, p) {
    var a = document.createElement("a");
    a.className = "btn";
    a.textContent = label;
    a.href = "?q=" + encodeURIComponent(query) + "&page=" + p;
    return a;
  }

  function run() {
    out.textContent = "";
    if (!query.trim()) { var d0 = document.createElement("div"); d0.className = "muted pad"; d0.textContent = "Type a query above."; out.appendChild(d0); return; }
    var groups;
    try { groups = parse(query); } catch (e) {
      var err = document.createElement("div"); err.className = "cd error"; err.id = "search-error"; err.textContent = e.message;
      out.appendChild(err); info.textContent = ""; return;
    }
    var terms = [];
    groups.forEach(function (g) { g.forEach(function (t) { if (!t.not) terms.push(t.text); }); });
    index.forEach(function (e) { if (e.lower === undefined) e.lower = (e.title + "\n" + e.body).toLowerCase(); });
    var hits = index.filter(function (e) { return matches(e, groups); });
    info.textContent = hits.length + " result" + (hits.length === 1 ? "" : "s") + " for \u201c" + query + "\u201d";
    var pages = Math.max(1, Math.ceil(hits.length / PER_PAGE));
    hits.slice((page - 1) * PER_PAGE, page * PER_PAGE).forEach(function (e) {
      var a = document.createElement("a"); a.className = "sr"; a.href = e.href;
      var t = document.createElement("div"); t.className = "sr-title";
      var b = document.createElement("span"); b.className = "b b-" + e.type; b.textContent = e.type;
      t.appendChild(b); t.appendChild(document.createTextNode(" ")); t.appendChild(marked(e.title || "(untitled)", terms));
      var meta = document.createElement("div"); meta.className = "sr-meta"; meta.textContent = "#" + e.id + " \u00b7 " + e.project + " \u00b7 " + e.date;
      var s = document.createElement("div"); s.className = "sr-snippet"; s.appendChild(marked(excerpt(e.body, terms), terms));
      a.appendChild(t); a.appendChild(meta); a.appendChild(s); out.appendChild(a);
    });
    if (!hits.length) { var d = document.createElement("div"); d.className = "muted pad"; d.textContent = "No results."; out.appendChild(d); }
    if (pages > 1) {
      var pg = document.createElement("div"); pg.className = "pg";
      var label = document.createElement("span"); label.textContent = "Page " + page + " of " + pages; pg.appendChild(label);
      var nav = document.createElement("span");
      if (page > 1) nav.appendChild(link("\u2190 Prev", page - 1));
      if (page < pages) nav.appendChild(link("Next \u2192", page + 1));
      pg.appendChild(nav); out.appendChild(pg);
    }
  }
  run();
})();
