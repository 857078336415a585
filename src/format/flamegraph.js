/*
 * flamegraph.js - the script embedded in every flame graph (format/flamegraph.c).
 *
 * It reads only the SVG elements and attributes the writer made (every name in
 * them already escaped, so no name ever reaches script as code) and adds hover
 * details, click to zoom, reset and search with the matched share. Built into
 * spyglass by tools/embed.sh, which leaves this comment out; `make lint` checks
 * it with node --check.
 */
(function () {
  'use strict';
  var framesEl = document.getElementById('frames');
  var details = document.getElementById('details');
  var matchedEl = document.getElementById('matched');
  var resetBtn = document.getElementById('reset');
  var searchBtn = document.getElementById('search');
  var searchLabel = searchBtn.querySelector('text');
  var total = Number(framesEl.getAttribute('data-total'));
  var left = Number(framesEl.getAttribute('data-left'));
  var width = Number(framesEl.getAttribute('data-width'));
  var charW = Number(framesEl.getAttribute('data-charw'));
  var hint = details.textContent;
  var nodes = [], byElement = new Map(), root = null, zoomed = null;
  var lastTerm = '', searching = false;

  framesEl.querySelectorAll('g.f').forEach(function (g) {
    var title = g.querySelector('title').textContent;
    var cut = title.indexOf('\n');
    var n = {
      g: g, rect: g.querySelector('rect'), text: g.querySelector('text'),
      label: cut < 0 ? title : title.slice(0, cut),
      stats: cut < 0 ? '' : title.slice(cut + 1),
      x: Number(g.getAttribute('data-x')), w: Number(g.getAttribute('data-w')),
      d: Number(g.getAttribute('data-d'))
    };
    nodes.push(n);
    byElement.set(g, n);
    if (n.d === 0) root = n;
  });

  /* Glyph widths of the label font, measured once per character on a
     canvas (no document layout); the estimate when there is no canvas. */
  var widths = new Map(), ctx = null;
  if (root) {
    try {
      var style = getComputedStyle(root.text);
      ctx = document.createElementNS('http://www.w3.org/1999/xhtml', 'canvas')
        .getContext('2d');
      ctx.font = style.fontSize + ' ' + style.fontFamily;
    } catch (err) {
      ctx = null;
    }
  }
  function glyph(c) {
    var w = widths.get(c);
    if (w === undefined) {
      w = ctx ? ctx.measureText(c).width : charW;
      widths.set(c, w);
    }
    return w;
  }

  /* The label, or its start and '..', or nothing: whatever fits px. */
  function fit(label, px) {
    var room = px - 6, chars = Array.from(label), used = 0, i;
    for (i = 0; i < chars.length && used <= room; i++) used += glyph(chars[i]);
    if (used <= room) return label;
    room -= 2 * glyph('.');
    for (i = 0, used = 0; i < chars.length && used + glyph(chars[i]) <= room; i++)
      used += glyph(chars[i]);
    return i > 0 ? chars.slice(0, i).join('') + '..' : '';
  }

  /* Moves a frame; touches the document only where something changed,
     since every change costs layout time on big graphs. */
  function place(n, x, w) {
    var xs = x.toFixed(2), ws = w.toFixed(2), shown;
    if (n.xs === xs && n.ws === ws) return;
    if (n.rect.getAttribute('x') !== xs) {
      n.rect.setAttribute('x', xs);
      n.text.setAttribute('x', (x + 3).toFixed(2));
    }
    if (n.rect.getAttribute('width') !== ws) n.rect.setAttribute('width', ws);
    shown = fit(n.label, w);
    if (n.text.textContent !== shown) n.text.textContent = shown;
    n.xs = xs;
    n.ws = ws;
  }

  /* Shows z full width: its subtree scaled to fit, its ancestors full
     width and dimmed, everything else hidden. */
  function zoom(z) {
    if (!z) return;
    zoomed = z;
    nodes.forEach(function (n) {
      var inside = n.d >= z.d && n.x >= z.x && n.x + n.w <= z.x + z.w;
      var above = n.d < z.d && n.x <= z.x && n.x + n.w >= z.x + z.w;
      if (inside) place(n, left + (n.x - z.x) / z.w * width, n.w / z.w * width);
      else if (above) place(n, left, width);
      n.g.classList.toggle('hide', !inside && !above);
      n.g.classList.toggle('anc', above);
    });
    resetBtn.classList.toggle('off', z === root);
  }

  function resetZoom() { zoom(root); }

  function clearSearch() {
    nodes.forEach(function (n) { n.g.classList.remove('match'); });
    matchedEl.textContent = '';
    searchLabel.textContent = 'Search';
    searching = false;
  }

  /* Highlights frames whose label matches the regular expression term
     and shows their share of the total, counting a match nested in
     another match once. Returns the share in percent, or null. */
  function search(term) {
    if (term === null || term === undefined || term === '') {
      clearSearch();
      return null;
    }
    var re;
    try {
      re = new RegExp(String(term));
    } catch (err) {
      details.textContent = 'Invalid regular expression: ' + term;
      return null;
    }
    lastTerm = String(term);
    var hits = nodes.filter(function (n) {
      var hit = re.test(n.label);
      n.g.classList.toggle('match', hit);
      return hit;
    });
    hits.sort(function (a, b) { return a.x - b.x || b.w - a.w; });
    var covered = 0, end = -Infinity;
    hits.forEach(function (n) {
      if (n.x + n.w <= end) return;
      covered += n.x + n.w - Math.max(n.x, end);
      end = n.x + n.w;
    });
    var share = total > 0 ? 100 * covered / total : 0;
    matchedEl.textContent = 'Matched: ' + share.toFixed(1) + '%';
    details.textContent = hint;
    searchLabel.textContent = 'Clear search';
    searching = true;
    return share;
  }

  function askSearch() {
    var term = window.prompt('Search frames (regular expression):', lastTerm);
    if (term !== null) search(term);
  }

  function nodeOf(el) {
    for (; el && el !== framesEl; el = el.parentNode)
      if (byElement.has(el)) return byElement.get(el);
    return null;
  }

  framesEl.addEventListener('mouseover', function (e) {
    var n = nodeOf(e.target);
    if (n) details.textContent = n.label + '  \u2014  ' + n.stats;
  });
  framesEl.addEventListener('mouseout', function () { details.textContent = hint; });
  framesEl.addEventListener('click', function (e) { zoom(nodeOf(e.target)); });
  resetBtn.addEventListener('click', resetZoom);
  searchBtn.addEventListener('click', function () {
    if (searching) clearSearch(); else askSearch();
  });
  document.addEventListener('keydown', function (e) {
    if ((e.ctrlKey || e.metaKey) && (e.key === 'f' || e.key === 'F')) {
      e.preventDefault();
      askSearch();
    } else if (e.key === 'Escape') {
      clearSearch();
      resetZoom();
    }
  });

  window.search = search;
  window.clearSearch = clearSearch;
  window.resetZoom = resetZoom;
  window.zoomedFrame = function () { return zoomed ? zoomed.label : null; };
  resetZoom();
})();
