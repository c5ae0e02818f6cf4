"""The report page's inline stylesheet and script (no external resource of any kind)."""

from __future__ import annotations

CSS = """
:root{--bg:#f5f6fa;--card:#fff;--ink:#1f2933;--muted:#66788a;--line:#e4e7ec;--grid:#edf0f4;--axis:#9aa5b1;
--accent:#3b5bdb;--shadow:0 1px 2px rgba(16,24,40,.05),0 4px 16px rgba(16,24,40,.06);--tipbg:#1f2933;--tipink:#fff}
@media (prefers-color-scheme:dark){:root:not(.light){--bg:#0f1419;--card:#171d24;--ink:#e6e9ee;--muted:#94a3b3;
--line:#27303a;--grid:#222a33;--axis:#4b5663;--accent:#91a7ff;--shadow:none;--tipbg:#e6e9ee;--tipink:#111}}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,
"Helvetica Neue",Arial,sans-serif}
.wrap{max-width:1180px;margin:0 auto;padding:0 28px}
header.top{padding:34px 0 10px}
.brand{font-weight:700;letter-spacing:.14em;text-transform:uppercase;font-size:11px;color:var(--accent)}
h1{font-size:28px;line-height:1.2;margin:6px 0 4px;font-weight:700;letter-spacing:-.01em}
.sub{color:var(--muted);margin:0 0 18px}
.chips{display:flex;flex-wrap:wrap;gap:12px;margin:0 0 14px}
.chip{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:10px 14px;min-width:170px;
box-shadow:var(--shadow)}
.chip .name{display:flex;align-items:center;gap:7px;font-weight:600;font-size:13px}
.chip .big{font-size:24px;font-weight:700;line-height:1.15;margin-top:4px;font-variant-numeric:tabular-nums}
.chip .small{color:var(--muted);font-size:12px}
.dot{width:10px;height:10px;border-radius:50%;display:inline-block;flex:none}
nav.toc{display:flex;flex-wrap:wrap;gap:6px;margin:4px 0 8px}
nav.toc a{color:var(--muted);text-decoration:none;font-size:12.5px;border:1px solid var(--line);border-radius:999px;
padding:3px 10px;background:var(--card)}
nav.toc a:hover{color:var(--accent);border-color:var(--accent)}
main{padding-bottom:40px}
.tablepanel{overflow-x:auto;max-width:100%;margin:4px 0}
.tablepanel .ttitle{font-weight:600;font-size:13px;margin:2px 0 6px}
.tablepanel .note{color:var(--muted);font-size:12px}
table.data,table.claims{border-collapse:collapse;font-size:12.5px;font-variant-numeric:tabular-nums}
table.data th,table.data td,table.claims th,table.claims td{border-bottom:1px solid var(--line);padding:4px 10px;
text-align:left;vertical-align:top}
table.data th,table.claims th{color:var(--muted);font-weight:600}
section.claims{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:14px 18px;
margin:8px 0 18px;box-shadow:var(--shadow);overflow-x:auto}
section.claims h2{font-size:17px;margin:0 0 8px}
.holds-true{color:#0ca678;font-weight:700}.holds-false{color:#c92a2a;font-weight:700}.holds-null{color:var(--muted)}
figure.fig{background:var(--card);border:1px solid var(--line);border-radius:16px;box-shadow:var(--shadow);
margin:18px 0;padding:20px 22px 16px}
.fighead{display:flex;align-items:baseline;gap:10px;flex-wrap:wrap}
.fighead h2{font-size:18px;margin:0;font-weight:650;letter-spacing:-.005em}
.paper{font-size:11.5px;color:var(--muted);border:1px solid var(--line);border-radius:999px;padding:1px 8px}
.stats{display:flex;flex-wrap:wrap;gap:10px;margin:12px 0 2px}
.stat{border-left:3px solid var(--accent);padding:2px 10px}
.stat .label{font-size:12px;color:var(--muted)}
.stat .value{font-size:18px;font-weight:700;font-variant-numeric:tabular-nums}
.stat .detail{font-size:12px;color:var(--muted);margin-left:6px}
.legend{display:flex;flex-wrap:wrap;gap:6px;margin:12px 0 6px}
.li{display:inline-flex;align-items:center;gap:6px;font:inherit;font-size:12.5px;color:var(--ink);
background:transparent;border:1px solid var(--line);border-radius:999px;padding:3px 10px 3px 8px}
button.li{cursor:pointer}
button.li:hover{border-color:var(--axis)}
button.li.off{opacity:.4;text-decoration:line-through}
.sw{width:14px;height:4px;border-radius:2px;display:inline-block}
.ring{width:11px;height:11px;border-radius:50%;border:2px solid #e6007e;display:inline-block}
.li.mark{border-style:dashed;color:var(--muted)}
.group h3{font-size:13px;font-weight:600;margin:10px 0 0;color:var(--muted)}
.group h3 b{color:var(--ink);font-weight:650}
.row{display:flex;flex-wrap:wrap;gap:8px 18px;align-items:flex-start}
svg.chart{max-width:100%;height:auto;overflow:visible}
svg text{fill:var(--ink);font-family:inherit}
.ptitle{font-size:13px;font-weight:600}
.pnote{font-size:11.5px;fill:var(--muted)!important}
.tick{font-size:11px;fill:var(--muted)!important;font-variant-numeric:tabular-nums}
.alabel{font-size:11.5px;fill:var(--muted)!important}
.grid{stroke:var(--grid);stroke-width:1}
.axis{stroke:var(--axis);stroke-width:1}
.ref{stroke:#e6007e;stroke-width:1.2;stroke-dasharray:5 4;opacity:.75}
.reflabel{font-size:11px;fill:#e6007e!important}
.line{fill:none;stroke-width:2.2;stroke-linejoin:round;stroke-linecap:round}
.pt{stroke:var(--card);stroke-width:1.2;cursor:crosshair;transition:r .08s}
.pt:hover{r:6}
.pt.scatter{opacity:.85}
.intr{fill:none;stroke-width:2;pointer-events:none}
.outline{fill:none;stroke-width:2.5;pointer-events:none}
.cell:hover{stroke:var(--ink);stroke-width:1.5}
.hit{fill:transparent}
.hit:hover{fill:var(--grid);opacity:.6}
.bar{pointer-events:none}
g.series.off{display:none}
g.series{transition:opacity .12s}
.focusing g.series:not(.focus){opacity:.22}
figcaption{color:var(--muted);font-size:13px;margin-top:10px;padding-top:10px;border-top:1px solid var(--line);
max-width:900px}
.beside{display:flex;flex-wrap:wrap;align-items:center;gap:4px 28px}
.beside figcaption{flex:1 1 260px;max-width:340px;border-top:none;border-left:3px solid var(--line);margin:0;
padding:4px 0 4px 16px}
section.inputs{margin:26px 0 10px}
section.inputs h2{font-size:15px;margin:0 0 8px}
table{border-collapse:collapse;width:100%;font-size:12.5px;background:var(--card);border:1px solid var(--line);
border-radius:12px;overflow:hidden}
td,th{padding:7px 12px;text-align:left;border-bottom:1px solid var(--line)}
th{color:var(--muted);font-weight:600}
td code{font-size:12px;word-break:break-all}
#tip{position:fixed;z-index:10;pointer-events:none;background:var(--tipbg);color:var(--tipink);font-size:12px;
line-height:1.45;padding:7px 10px;border-radius:8px;white-space:pre-line;max-width:360px;
box-shadow:0 6px 20px rgba(0,0,0,.18)}
footer{color:var(--muted);font-size:12px;padding:10px 0 40px}
@media print{#tip,nav.toc{display:none}figure.fig{break-inside:avoid;box-shadow:none}}
"""

JS = """
(function () {
  var tip = document.getElementById('tip');
  function place(e) {
    var w = tip.offsetWidth, h = tip.offsetHeight, x = e.clientX + 14, y = e.clientY + 14;
    if (x + w > window.innerWidth - 8) x = e.clientX - w - 14;
    if (y + h > window.innerHeight - 8) y = e.clientY - h - 14;
    tip.style.left = Math.max(4, x) + 'px';
    tip.style.top = Math.max(4, y) + 'px';
  }
  function focus(fig, key) {
    if (!fig) return;
    fig.classList.toggle('focusing', key !== null);
    fig.querySelectorAll('g.series').forEach(function (g) {
      g.classList.toggle('focus', key !== null && g.getAttribute('data-key') === key);
    });
  }
  var focused = null;
  document.addEventListener('mouseover', function (e) {
    var src = e.target.closest ? e.target.closest('g.series, button.li[data-key]') : null;
    var fig = src ? src.closest('figure.fig') : null;
    if (focused && focused !== fig) focus(focused, null);
    focused = fig;
    focus(fig, src ? src.getAttribute('data-key') : null);
    var t = e.target.closest ? e.target.closest('[data-tip]') : null;
    if (!t) { tip.hidden = true; return; }
    tip.textContent = t.getAttribute('data-tip');
    tip.hidden = false;
    place(e);
  });
  document.addEventListener('mousemove', function (e) { if (!tip.hidden) place(e); });
  document.addEventListener('scroll', function () { tip.hidden = true; }, true);
  function sync(fig) {
    fig.querySelectorAll('button.li[data-key]').forEach(function (b) {
      var on = b.getAttribute('aria-pressed') === 'true';
      b.classList.toggle('off', !on);
      fig.querySelectorAll('g.series').forEach(function (g) {
        if (g.getAttribute('data-key') === b.getAttribute('data-key')) g.classList.toggle('off', !on);
      });
    });
  }
  document.querySelectorAll('figure.fig').forEach(function (fig) {
    var buttons = fig.querySelectorAll('button.li[data-key]');
    buttons.forEach(function (b) {
      b.addEventListener('click', function (e) {
        if (e.shiftKey || e.altKey) {
          var solo = b.getAttribute('aria-pressed') !== 'true' || Array.prototype.some.call(buttons,
            function (o) { return o !== b && o.getAttribute('aria-pressed') === 'true'; });
          buttons.forEach(function (o) { o.setAttribute('aria-pressed', String(o === b || !solo)); });
        } else {
          b.setAttribute('aria-pressed', String(b.getAttribute('aria-pressed') !== 'true'));
        }
        sync(fig);
      });
    });
  });
})();
"""
