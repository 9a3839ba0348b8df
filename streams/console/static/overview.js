// The managers' overview: draws the dashboard panels' rows (same SQL as Grafana) as SVG.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const COLOURS = ["#4dabf7", "#ff6b6b", "#51cf66", "#fcc419", "#cc5de8", "#ff922b", "#20c997",
  "#f06595", "#94d82d", "#adb5bd"];
const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, text = "") {
  const node = ["svg", "rect", "text", "polyline", "line", "g", "circle"].includes(tag)
    ? document.createElementNS(SVG, tag) : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== "") node.textContent = text;
  return node;
}

function fmt(value, unit) {
  if (value === null || value === undefined) return "–";
  if (typeof value !== "number") return String(value);
  if (unit === "percentunit") return `${(value * 100).toFixed(1)}%`;
  if (unit === "ms") return `${value.toFixed(1)} ms`;
  if (unit === "s") return `${value.toFixed(1)} s`;
  return Number.isInteger(value) ? value.toLocaleString() : value.toFixed(2);
}

function stat(label, value) {
  const box = el("div", { class: "stat" });
  box.append(el("div", { class: "label" }, label), el("div", { class: "value" }, value));
  return box;
}

// Series of a time-series panel: one per (string column value x number column).
function seriesOf(panel) {
  const cols = panel.columns;
  const timeAt = cols.findIndex((c) => c.kind === "time");
  const keyAt = cols.findIndex((c) => c.kind === "string");
  const series = new Map();
  for (const row of panel.rows) {
    cols.forEach((col, index) => {
      if (col.kind !== "number") return;
      const name = keyAt >= 0 ? (cols.filter((c) => c.kind === "number").length > 1
        ? `${row[keyAt]} ${col.name}` : String(row[keyAt])) : col.name;
      if (!series.has(name)) series.set(name, []);
      series.get(name).push([Date.parse(row[timeAt]), row[index]]);
    });
  }
  return series;
}

// "2 s", "5 min", "3 h": the bucket a time series is counted in.
function duration(seconds) {
  if (seconds < 60) return `${seconds} s`;
  if (seconds < 3600) return `${seconds / 60} min`;
  if (seconds < 86400) return `${seconds / 3600} h`;
  return `${seconds / 86400} d`;
}

function empty(panel) {
  return el("p", { class: "empty" }, panel.empty);
}

// A series' line: through its rows, or for counts through every bucket of [x0, x1] (a bucket
// without a row counted nothing), so a quiet stretch is drawn as zero, not as a steady value.
function linePoints(data, counts, x0, x1, bucketMs) {
  if (!counts) return data;
  const values = new Map(data);
  const line = [];
  for (let t = Math.floor(x0 / bucketMs) * bucketMs; t <= x1; t += bucketMs) line.push([t, values.get(t) || 0]);
  return line;
}

function lineChart(panel, x0, x1, bucketMs) {
  const series = seriesOf(panel);
  const points = [...series.values()].flat();
  if (!points.length) return [empty(panel)];
  const svg = el("svg", { viewBox: "0 0 600 222", preserveAspectRatio: "none", role: "img",
    "aria-label": `${panel.title}, per ${duration(bucketMs / 1000)}` });
  const first = Math.min(x0, ...points.map((p) => p[0]));
  const y1 = Math.max(...points.map((p) => p[1]), 1e-9);
  const sx = (x) => 40 + ((x - first) / Math.max(x1 - first, 1)) * 550;
  const sy = (y) => 200 - (y / y1) * 185;
  svg.append(el("line", { x1: 40, y1: 200, x2: 590, y2: 200, stroke: "#46505e" }));
  svg.append(el("line", { x1: 40, y1: 15, x2: 590, y2: 15, stroke: "#2d3440" }));
  svg.append(el("text", { x: 44, y: 12, class: "axis" }, fmt(y1, panel.unit)));
  svg.append(el("text", { x: 36, y: 204, class: "axis", "text-anchor": "end" }, "0"));
  const short = x1 - first < 86400000;
  const when = (t) => new Date(t).toLocaleString([], short
    ? { timeStyle: "medium" } : { dateStyle: "short", timeStyle: "short" });
  svg.append(el("text", { x: 40, y: 216, class: "axis" }, when(first)));
  svg.append(el("text", { x: 590, y: 216, class: "axis", "text-anchor": "end" }, when(x1)));
  const legend = el("div", { class: "legend" });
  [...series.entries()].forEach(([name, data], index) => {
    const colour = COLOURS[index % COLOURS.length];
    data.sort((a, b) => a[0] - b[0]);
    const line = linePoints(data, panel.counts, first, x1, bucketMs).map(([x, y]) => `${sx(x)},${sy(y)}`);
    svg.append(el("polyline", { points: line.join(" "), fill: "none", stroke: colour, "stroke-width": 2 }));
    data.forEach(([x, y]) => svg.append(el("circle", { cx: sx(x), cy: sy(y), r: 3, fill: colour })));
    const swatch = el("i");
    swatch.style.background = colour;  // CSSOM, not a style attribute: the CSP allows it
    const key = el("span"); key.append(swatch, name);
    legend.append(key);
  });
  return [svg, legend];
}

function barChart(panel) {
  const svg = el("svg", { viewBox: `0 0 600 ${Math.max(40, panel.rows.length * 28)}` });
  const max = Math.max(...panel.rows.map((r) => r[1]), 1e-9);
  panel.rows.forEach(([label, value], index) => {
    const y = index * 28;
    svg.append(el("text", { x: 0, y: y + 18, fill: "#e8ecf1", "font-size": 13 }, label));
    svg.append(el("rect", { x: 130, y: y + 4, width: (value / max) * 380, height: 18, fill: COLOURS[1] }));
    svg.append(el("text", { x: 520, y: y + 18, fill: "#e8ecf1", "font-size": 13 }, fmt(value, panel.unit)));
  });
  return panel.rows.length ? [svg] : [empty(panel)];
}

function table(headers, rows) {
  const t = el("table");
  const head = el("tr");
  headers.forEach((h) => head.append(el("th", {}, h)));
  t.append(head);
  rows.forEach((row) => {
    const tr = el("tr");
    row.forEach((cell) => tr.append(el("td", {}, cell)));
    t.append(tr);
  });
  return t;
}

function renderPanel(panel, body) {
  const box = el("section", { class: "panel", "data-title": panel.title });
  const bucketMs = body.interval_s * 1000;
  const per = panel.visualisation === "timeseries" ? ` Per ${duration(body.interval_s)}.` : "";
  box.append(el("h3", {}, panel.title), el("p", { class: "hint" }, panel.description + per));
  if (panel.error) { box.append(el("p", { class: "error" }, panel.error)); return box; }
  const start = Date.parse(body.data_start || body.start);
  if (panel.visualisation === "timeseries") box.append(...lineChart(panel, start, Date.parse(body.end), bucketMs));
  else if (panel.visualisation === "barchart") box.append(...barChart(panel));
  else if (panel.visualisation === "stat") {
    box.append(el("div", { class: "value" }, fmt(panel.rows[0] ? panel.rows[0][0] : null, panel.unit)));
  } else if (!panel.rows.length) {
    box.append(empty(panel));
  } else {
    box.append(table(panel.columns.map((c) => c.name), panel.rows.map((r) => r.map((v) => fmt(v, "")))));
  }
  return box;
}

async function load() {
  const hours = $("window").value;
  const response = await fetch(`/api/overview?hours=${hours}`, { credentials: "same-origin" });
  if (response.status === 401) { window.location = "/login"; return; }
  const body = await response.json();
  if (!response.ok) {
    $("overview-error").textContent = `analytics unavailable: ${body.detail}`;
    $("overview-error").hidden = false;
    return;
  }
  $("overview-error").hidden = true;
  const head = body.headline;
  $("headline").replaceChildren(
    stat("Frames", fmt(head.frames)),
    stat("Unreviewed alarms", fmt(head.unreviewed_alarms)),
    ...["tp", "fp", "fn"].map((kind) => stat(kind.toUpperCase() + " objects",
      fmt(Object.values(head.outcomes_per_class).reduce((sum, c) => sum + c[kind], 0)))),
  );
  const perClass = Object.entries(head.outcomes_per_class).sort();
  $("per-class").replaceChildren(el("h3", {}, "TP / FP / FN objects per class"), perClass.length
    ? table(["class", "TP", "FP", "FN"], perClass.map(([name, c]) => [name, c.tp, c.fp, c.fn]))
    : el("p", { class: "empty" }, "Objects per class appear here once guards have answered alarms."));
  $("panels").replaceChildren(...body.panels.map((panel) => renderPanel(panel, body)));
  $("updated").textContent = `Last update ${new Date().toLocaleTimeString()}.`;
}

const chosen = new URLSearchParams(window.location.search).get("hours");
if (chosen) $("window").value = chosen;
$("window").addEventListener("change", load);
load();
setInterval(load, 10000);
