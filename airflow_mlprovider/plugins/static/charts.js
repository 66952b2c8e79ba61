/* Time-series line charts drawn as SVG: the Models page's only chart code (no library, no CDN).
 *
 *   MLCharts.timeChart({title, series: [{name, color, points: [[isoOrMs, value|null], ...], step}],
 *                       markers: [{at, label, color, title}], format: v => text, yMin, yMax})
 * returns a <div class="chart"> holding the title, a legend and the <svg>. A null value breaks the line.
 * `step` draws a value until the next point (traffic weights). Markers are vertical lines (decisions, alarms).
 */
(function () {
  "use strict";
  const NS = "http://www.w3.org/2000/svg";
  const W = 520, H = 190, PAD = { left: 52, right: 12, top: 10, bottom: 26 };
  const MAX_DOTS = 60;

  function el(name, attrs, text) {
    const node = document.createElementNS(NS, name);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function time(value) { return typeof value === "number" ? value : Date.parse(value); }

  function niceTicks(low, high, count) {
    const span = high - low || 1;
    const raw = span / count, mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map(m => m * mag).find(s => s >= raw);
    const ticks = [];
    for (let v = Math.ceil(low / step) * step; v <= high + step * 1e-9; v += step) ticks.push(+v.toPrecision(12));
    return ticks;
  }

  const SECOND = 1e3, MINUTE = 60e3, HOUR = 3600e3, DAY = 86400e3;
  const TIME_STEPS = [SECOND, 2 * SECOND, 5 * SECOND, 10 * SECOND, 15 * SECOND, 30 * SECOND, MINUTE, 2 * MINUTE,
                      5 * MINUTE, 10 * MINUTE, 15 * MINUTE, 30 * MINUTE, HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR,
                      12 * HOUR, DAY, 2 * DAY, 7 * DAY, 30 * DAY];

  /* Ticks on round UTC times (every 5 minutes, every 6 hours...), at most five over the span. */
  function timeTicks(t0, t1) {
    const step = TIME_STEPS.find(s => (t1 - t0) / s <= 5) || TIME_STEPS[TIME_STEPS.length - 1];
    const ticks = [];
    for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) ticks.push(t);
    return { ticks, step };
  }

  function timeLabel(ms, step, span) {
    const d = new Date(ms);
    const pad = n => String(n).padStart(2, "0");
    const date = `${d.getUTCMonth() + 1}/${d.getUTCDate()}`;
    const hm = `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
    if (step < MINUTE) return `${hm}:${pad(d.getUTCSeconds())}`;
    if (step >= DAY) return date;
    return span > DAY && ms % DAY === 0 ? date : hm;
  }

  function timeChart(options) {
    const series = options.series.map(s => ({ ...s, points: s.points.map(([t, v]) => [time(t), v]) }));
    const markers = (options.markers || []).map(m => ({ ...m, t: time(m.at) }));
    const format = options.format || (v => String(+v.toPrecision(3)));
    const box = document.createElement("div");
    box.className = "chart";
    box.append(Object.assign(document.createElement("div"), { className: "chart-title", textContent: options.title }));

    const values = series.flatMap(s => s.points.map(p => p[1])).filter(v => v !== null && Number.isFinite(v));
    const times = series.flatMap(s => s.points.map(p => p[0])).concat(markers.map(m => m.t)).filter(Number.isFinite);
    if (!values.length) {
      box.append(Object.assign(document.createElement("div"), { className: "empty", textContent: "no data yet" }));
      return box;
    }
    let [t0, t1] = [Math.min(...times), Math.max(...times)];
    if (t1 === t0) { t0 -= 30e3; t1 += 30e3; }
    let y0 = options.yMin ?? Math.min(0, ...values), y1 = options.yMax ?? Math.max(...values);
    if (options.yMax === undefined) y1 = y1 === y0 ? y0 + 1 : y1 + (y1 - y0) * 0.08;
    const x = t => PAD.left + (t - t0) / (t1 - t0) * (W - PAD.left - PAD.right);
    const y = v => H - PAD.bottom - (v - y0) / (y1 - y0) * (H - PAD.top - PAD.bottom);

    const svg = el("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img",
                            "aria-label": options.title, class: "mlp-chart" });
    for (const v of niceTicks(y0, y1, 4)) {
      svg.append(el("line", { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v), stroke: "#eef0f3" }));
      svg.append(el("text", { x: PAD.left - 6, y: y(v) + 4, "text-anchor": "end", "font-size": 11, fill: "#667085" },
                    format(v)));
    }
    const { ticks, step } = timeTicks(t0, t1);
    for (const t of ticks) {
      svg.append(el("line", { x1: x(t), x2: x(t), y1: H - PAD.bottom, y2: H - PAD.bottom + 4, stroke: "#98a2b3" }));
      const anchor = x(t) > W - PAD.right - 20 ? "end" : x(t) < PAD.left + 20 ? "start" : "middle";
      svg.append(el("text", { x: x(t), y: H - 8, "text-anchor": anchor, "font-size": 11, fill: "#667085" },
                    timeLabel(t, step, t1 - t0)));
    }
    svg.append(el("line", { x1: PAD.left, x2: W - PAD.right, y1: H - PAD.bottom, y2: H - PAD.bottom, stroke: "#98a2b3" }));

    for (const m of markers) {
      const g = el("g", { class: "marker" });
      g.append(el("line", { x1: x(m.t), x2: x(m.t), y1: PAD.top, y2: H - PAD.bottom, stroke: m.color || "#98a2b3",
                            "stroke-dasharray": "3 3" }));
      const nearRight = x(m.t) > W - PAD.right - 60;  // label on the line's left near the right edge
      g.append(el("text", { x: x(m.t) + (nearRight ? -3 : 3), y: PAD.top + 9, "font-size": 10,
                            "text-anchor": nearRight ? "end" : "start", fill: m.color || "#667085" }, m.label));
      if (m.title) g.append(el("title", {}, m.title));
      svg.append(g);
    }

    for (const s of series) {
      let d = "", open = false, last = null;
      for (const [t, v] of s.points) {
        if (v === null || !Number.isFinite(v)) { open = false; continue; }
        if (open && s.step) d += `H${x(t).toFixed(1)}V${y(v).toFixed(1)}`;
        else d += `${open ? "L" : "M"}${x(t).toFixed(1)},${y(v).toFixed(1)}`;
        open = true; last = v;
      }
      if (s.step && last !== null) d += `H${(W - PAD.right).toFixed(1)}`;  // the last weight holds until now
      const drawn = s.points.filter(p => p[1] !== null && Number.isFinite(p[1]));
      const path = el("path", { d, fill: "none", stroke: s.color, "stroke-width": 2, class: "series",
                                "data-series": s.name, "data-points": drawn.length });
      svg.append(path);
      for (const [t, v] of drawn.length <= MAX_DOTS ? drawn : []) {  // dense series: the line alone
        const dot = el("circle", { cx: x(t), cy: y(v), r: 2.6, fill: s.color });
        dot.append(el("title", {}, `${s.name}: ${format(v)} at ${new Date(t).toISOString()}`));
        svg.append(dot);
      }
    }
    const legend = document.createElement("div");
    legend.className = "legend";
    legend.innerHTML = series.map(s => `<span style="color:${s.color}">&#9632;</span> ${s.name}`).join(" &nbsp; ");
    legend.style.fontSize = "12px";
    box.append(legend, svg);
    return box;
  }

  window.MLCharts = { timeChart };
})();
