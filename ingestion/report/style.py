"""The report's stylesheet: laptop screens first, A4 landscape when printed."""

CSS = """
:root {
  --ink: #1f2933; --muted: #5f6b7a; --faint: #8a96a3; --line: #e3e7ec;
  --panel: #ffffff; --page: #f4f6f9; --up: #18794e; --down: #b42318;
  --warn-bg: #fff6e0; --warn-ink: #7a4b00; --warn-line: #f0b429;
  --error-bg: #fdecea; --error-ink: #8a1c12; --error-line: #e5484d;
}
* { box-sizing: border-box; }
html { background: var(--page); }
body {
  margin: 0 auto; max-width: 1240px; padding: 28px 32px 48px; color: var(--ink);
  font: 14px/1.5 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
}
header.top { border-bottom: 2px solid var(--ink); padding-bottom: 10px; margin-bottom: 18px; }
h1 { font-size: 28px; line-height: 1.15; margin: 0; letter-spacing: -0.01em; }
.subtitle { color: var(--muted); margin: 2px 0 8px; font-size: 15px; }
.facts { margin: 0; display: flex; flex-wrap: wrap; gap: 4px 22px; font-size: 12.5px; }
.facts > div { display: flex; gap: 6px; }
.facts dt { font-weight: 600; color: var(--muted); }
.facts dd { margin: 0; font-variant-numeric: tabular-nums; }
h2 { font-size: 19px; margin: 34px 0 4px; }
h2 + .lead { margin-top: 0; }
h3 { font-size: 14.5px; margin: 0 0 2px; }
.lead { color: var(--muted); margin: 0 0 14px; max-width: 80ch; }
code { font: 12.5px/1 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  background: #eef1f5; padding: 1px 4px; border-radius: 3px; }
.banner { border: 1px solid; border-left-width: 6px; border-radius: 6px; padding: 12px 16px;
  margin: 0 0 18px; }
.banner strong { display: block; font-size: 15px; margin-bottom: 2px; }
.banner ul { margin: 4px 0 0; padding-left: 20px; }
.banner.warn { background: var(--warn-bg); color: var(--warn-ink); border-color: var(--warn-line); }
.banner.error { background: var(--error-bg); color: var(--error-ink);
  border-color: var(--error-line); }
.cards { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 14px; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 10px;
  padding: 14px 16px 12px; border-top: 4px solid var(--accent, var(--ink)); }
.card .label { font-size: 13px; font-weight: 600; color: var(--muted);
  text-transform: uppercase; letter-spacing: 0.04em; }
.card .value { font-size: 34px; font-weight: 700; line-height: 1.15; margin: 4px 0 2px;
  font-variant-numeric: tabular-nums; }
.card .change { font-size: 13.5px; font-weight: 600; font-variant-numeric: tabular-nums; }
.card .change.up { color: var(--up); }
.card .change.down { color: var(--down); }
.card .change.partial { color: var(--muted); }
.card .change.flat, .card .change .versus { color: var(--muted); font-weight: 400; }
.card .extra { font-size: 13px; margin-top: 4px; }
.card .definition { font-size: 12px; color: var(--muted); margin: 8px 0 0;
  border-top: 1px solid var(--line); padding-top: 6px; }
.grid { display: grid; gap: 14px; }
.grid.two { grid-template-columns: repeat(2, minmax(0, 1fr)); }
.grid.three { grid-template-columns: repeat(3, minmax(0, 1fr)); }
figure { margin: 0; background: var(--panel); border: 1px solid var(--line);
  border-radius: 10px; padding: 12px 14px 8px; display: flex; flex-direction: column; }
.grid.three figure > svg.chart:first-of-type { margin-top: auto; }
figure p.definition { font-size: 12px; color: var(--muted); margin: 0 0 4px; }
svg.chart { display: block; width: 100%; height: auto; margin-top: 4px; }
svg.chart text { fill: var(--ink); font-family: inherit; }
svg.chart .tick { font-size: 11px; fill: var(--muted); }
svg.chart .axis-title { font-size: 11.5px; fill: var(--muted); font-weight: 600; }
svg.chart .value { font-size: 12px; font-weight: 700; }
svg.chart .value .muted { fill: var(--faint); font-weight: 400; }
svg.chart .category { font-size: 12px; }
svg.chart .legend { font-size: 11.5px; fill: var(--muted); }
table { border-collapse: collapse; width: 100%; background: var(--panel);
  font-size: 12.5px; font-variant-numeric: tabular-nums; }
th, td { padding: 5px 8px; border-bottom: 1px solid var(--line); text-align: left;
  vertical-align: top; }
th { font-weight: 600; color: var(--muted); background: #f8fafc; }
td.num, th.num { text-align: right; }
tbody th { white-space: nowrap; background: transparent; color: var(--ink); }
.state { display: inline-block; padding: 0 7px; border-radius: 9px; font-size: 11.5px;
  font-weight: 600; }
.state.fresh, .state.ok { background: #e3f4ea; color: var(--up); }
.state.warn { background: var(--warn-bg); color: var(--warn-ink); }
.state.error, .state.failed, .state.mismatch { background: var(--error-bg);
  color: var(--error-ink); }
.state.unchecked { background: #eef1f5; color: var(--muted); }
details { margin-top: 10px; }
summary { cursor: pointer; color: var(--muted); font-weight: 600; }
dl.definitions { display: grid; grid-template-columns: 220px 1fr; gap: 6px 18px;
  margin: 0; background: var(--panel); border: 1px solid var(--line); border-radius: 10px;
  padding: 14px 16px; }
dl.definitions dt { font-weight: 600; }
dl.definitions dd { margin: 0; color: var(--muted); }
footer { margin-top: 36px; padding-top: 10px; border-top: 1px solid var(--line);
  color: var(--muted); font-size: 12px; }
@media (max-width: 900px) {
  .cards, .grid.three { grid-template-columns: repeat(2, minmax(0, 1fr)); }
}
@media (max-width: 600px) {
  .cards, .grid.two, .grid.three { grid-template-columns: 1fr; }
}
@page { size: A4 landscape; margin: 11mm; }
@media print {
  html, body { background: #fff; }
  body { max-width: none; padding: 0; font-size: 12px;
    -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  h2 { margin-top: 18px; break-inside: avoid; }
  /* A heading keeps room for what follows it, so it never ends a page alone. */
  h2::after { content: ""; display: block; height: 115mm; margin-bottom: -115mm; }
  .card, figure, .banner, tr, dl.definitions > * { break-inside: avoid; }
  details:not([open]) { display: none; }
  figure, .card { border-color: #cfd6de; }
}
"""
