/* The Models page: a list of the dags folder's models and, for the selected one, its champion, versions,
 * evaluation plots, last rollouts and monitoring. Data: the plugin's JSON API (api/models...), same origin,
 * authenticated by the Airflow UI's session cookie. Text from records goes in through textContent only. */
(function () {
  "use strict";
  const COLORS = { candidate: "#d9480f", champion: "#1c7ed6", weight: "#4a7bd0", c4: "#f08c00", p4: "#74c0fc",
                   requests: "#4a7bd0", error: "#c4320a", latency: "#7048e8", prediction: "#0b7285" };
  const ACTION_COLORS = { advance: "#16803c", complete: "#16803c", rollback: "#c4320a", start: "#667085",
                          resume: "#b54708", retreat: "#b54708" };

  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const badge = text => h("span", { class: `badge ${text}` }, String(text).replace(/_/g, " "));
  const empty = text => h("div", { class: "empty" }, text);
  const when = iso => (iso ? iso.replace("T", " ").replace(/(\.\d+)?(\+00:00|Z)$/, " UTC") : "–");
  const day = iso => (iso ? iso.slice(0, 10) : "–");
  const number = v => (v === null || v === undefined || Number.isNaN(v) ? "–" : String(+(+v).toPrecision(4)));
  const percent = v => `${+(v * 100).toPrecision(3)} %`;

  async function getJSON(url) {
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (response.status === 401 || response.status === 403) {
      throw new Error("Not signed in to Airflow (or not allowed): sign in, then reload this page.");
    }
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status} ${(await response.text()).slice(0, 300)}`);
    return response.json();
  }

  // -- the list -----------------------------------------------------------------------------------------------

  function renderList(data, selected) {
    const nav = document.getElementById("model-list");
    nav.replaceChildren();
    for (const m of data.models) {
      const status = m.error ? badge("error") : m.monitoring ? badge(m.monitoring.status) : null;
      const sub = m.error ? m.error
        : m.champion ? `champion ${m.champion.version_id} · ${m.version_count} version(s)`
        : `no champion yet · ${m.version_count || 0} version(s)`;
      nav.append(h("a", { href: `#${encodeURIComponent(m.model)}`, class: m.model === selected ? "selected" : null,
                           "data-model": m.model },
        h("div", { class: "name" }, m.model, " ", status), h("div", { class: "sub" }, sub)));
    }
    if (!data.models.length) nav.append(h("p", { class: "muted" }, "No models."));
    for (const spec of data.invalid_specs) {
      nav.append(h("div", { class: "error", title: spec.errors.join("\n") }, `invalid spec: ${spec.file}`));
    }
  }

  // -- one model ----------------------------------------------------------------------------------------------

  function championCard(model) {
    const champion = model.champion;
    if (!champion) {
      return empty(`No champion yet: no version of ${model.model} has been promoted. The lifecycle DAG promotes ` +
                   "a candidate that passes evaluation" + (model.served ? " and its rollout." : "."));
    }
    const v = champion.version || {};
    return h("div", { class: "card" }, h("dl", { class: "kv" },
      h("dt", {}, "champion"), h("dd", {}, h("code", {}, champion.version_id), " ", badge("champion")),
      h("dt", {}, model.metric), h("dd", {}, number(v.metric_value), ` (${model.direction})`),
      h("dt", {}, "data interval"), h("dd", {}, `${when(v.data_interval_start)} → ${when(v.data_interval_end)}`),
      h("dt", {}, "promoted"), h("dd", {}, when(champion.promoted_at), " — ", champion.reason),
      h("dt", {}, "previous"), h("dd", {}, champion.previous ? h("code", {}, champion.previous) : "none"),
      h("dt", {}, "run"), h("dd", {}, h("code", {}, v.run_id || "–"))));
  }

  function evaluationUrl(model, version, name) {
    return `api/models/${encodeURIComponent(model.model)}/versions/${encodeURIComponent(version.version_id)}` +
           `/evaluation/${encodeURIComponent(name)}`;
  }

  function versionsTable(model, onSelect) {
    if (!model.versions.length) return empty("No version registered yet: the lifecycle DAG has not trained this model.");
    const rows = model.versions.map(v => {
      const report = v.evaluation.report
        ? h("a", { href: evaluationUrl(model, v, v.evaluation.report), target: "_blank" }, "report") : null;
      const row = h("tr", { class: "version", "data-version": v.version_id },
        h("td", {}, h("code", {}, v.version_id)),
        h("td", {}, `${day(v.data_interval_start)} → ${day(v.data_interval_end)}`),
        h("td", {}, number(v.metric_value)),
        h("td", {}, badge(v.status)),
        h("td", {}, when(v.created_at)),
        h("td", {}, `${v.evaluation.plots.length} plot(s) `, report));
      row.addEventListener("click", () => onSelect(v, row));
      return row;
    });
    const more = model.version_count > model.versions.length
      ? h("p", { class: "muted" }, `the newest ${model.versions.length} of ${model.version_count} versions`) : null;
    return h("div", {}, h("table", { class: "versions" },
      h("thead", {}, h("tr", {}, ["version", "data interval", model.metric, "status", "registered", "evaluation"]
        .map(t => h("th", {}, t)))),
      h("tbody", {}, rows)), more);
  }

  function plotsOf(model, version) {
    const events = version.events.map(e => h("li", {}, `${when(e.at)}: `, h("b", {}, e.event), ` — ${e.reason}`));
    const plots = version.evaluation.plots.map(name => h("figure", {},
      h("img", { src: evaluationUrl(model, version, name), alt: `${name} of ${version.version_id}`, loading: "lazy" }),
      h("figcaption", {}, name.replace(/\.png$/, "").replace(/_/g, " "))));
    return h("div", {},
      h("h4", {}, "Version ", h("code", {}, version.version_id)),
      plots.length ? h("div", { class: "plots" }, plots) : empty("This version's evaluation wrote no plots."),
      events.length ? h("ol", { class: "decisions" }, events) : null);
  }

  function rolloutCharts(rollout) {
    const points = rollout.points;
    const markers = points.map(p => ({ at: p.at, label: p.action, color: ACTION_COLORS[p.action], title: p.reason }));
    const weight = MLCharts.timeChart({
      title: "candidate traffic weight (%)", yMin: 0, yMax: 100, format: v => `${v}`, markers,
      series: [{ name: "candidate weight", color: COLORS.weight, step: true, points: points.map(p => [p.at, p.weight]) }],
    });
    const rate = (key) => points.map(p => [p.at, p.rates[key]]);
    const errors = MLCharts.timeChart({
      title: "error rates in each step's window", yMin: 0, format: percent, markers,
      series: [
        { name: "candidate 5xx", color: COLORS.candidate, points: rate("candidate_5xx") },
        { name: "champion 5xx", color: COLORS.champion, points: rate("champion_5xx") },
        { name: "candidate 4xx", color: COLORS.c4, points: rate("candidate_4xx") },
        { name: "champion 4xx", color: COLORS.p4, points: rate("champion_4xx") },
      ],
    });
    const decisions = points.map(p => h("li", {}, `${when(p.at)} `, h("b", {}, p.action), ` at ${p.weight} %: `,
      p.reason));
    return h("div", { class: "rollout", "data-run": rollout.run_id },
      h("h4", {}, badge(rollout.outcome), " ", h("code", {}, rollout.candidate), " vs ",
        rollout.champion ? h("code", {}, rollout.champion) : "no champion",
        h("span", { class: "muted" }, ` · run ${rollout.run_id} · ${when(rollout.started_at)} → ${when(rollout.finished_at)}`)),
      h("div", { class: "charts" }, weight, errors),
      h("ol", { class: "decisions" }, decisions));
  }

  function rolloutsSection(model) {
    if (!model.served) return empty("This model is not served (its spec has no serving section): there are no rollouts.");
    if (!model.rollouts.length) return empty("No rollout recorded yet: one is recorded when a promoted candidate is rolled out.");
    return h("div", {}, model.rollouts.map(rolloutCharts));
  }

  function monitoringSection(model) {
    const { checks, series } = model.monitoring;
    if (!checks.length) return empty("No monitoring check recorded yet.");
    const last = checks[checks.length - 1];
    const markers = checks.filter(c => c.status === "alarm")
      .map(c => ({ at: c.checked_at, label: "alarm", color: "#c4320a", title: (c.alarms || []).map(a => a.message).join("\n") }));
    const chart = (title, name, color, format) => MLCharts.timeChart({ title, format, markers,
      series: [{ name, color, points: series[name] || [] }] });
    const figures = Object.entries(last.figures || {}).map(([check, f]) => h("tr", {},
      h("td", {}, check), h("td", {}, number(f.value)), h("td", {}, f.limit === null ? "–" : number(f.limit))));
    const alarms = (last.alarms || []).map(a => h("li", {}, h("b", {}, a.check), `: ${a.message}`));
    return h("div", {},
      h("p", {}, "Last check ", when(last.checked_at), " ", badge(last.status), h("span", { class: "muted" },
        ` · window ${when(last.window_start)} → ${when(last.window_end)} · champion ${last.champion || "–"}`)),
      alarms.length ? h("ul", { class: "error" }, alarms) : null,
      h("div", { class: "charts" },
        chart("requests", "requests", COLORS.requests),
        chart("5xx error rate", "error_rate_5xx", COLORS.error, percent),
        chart("p99 latency (ms)", "p99_latency_ms", COLORS.latency),
        chart("mean prediction", "prediction_mean", COLORS.prediction)),
      figures.length ? h("table", { class: "figures" }, h("thead", {}, h("tr", {},
        ["check", "value", "limit"].map(t => h("th", {}, t)))), h("tbody", {}, figures)) : null);
  }

  function renderModel(model) {
    const main = document.getElementById("model");
    const plots = h("div", { id: "plots" });
    const select = (version, row) => {
      for (const r of main.querySelectorAll("tr.version")) r.classList.remove("selected");
      if (row) row.classList.add("selected");
      plots.replaceChildren(plotsOf(model, version));
    };
    const problems = model.problems.length
      ? h("div", { class: "error" }, "Records that could not be read: ", model.problems.join("; ")) : null;
    main.dataset.model = model.model;  // which model is drawn (tests and screenshots wait for it)
    main.replaceChildren(
      h("section", {},
        h("h2", {}, model.model, " ", h("a", { href: `../dags/${encodeURIComponent(model.model)}`, target: "_top",
                                             class: "muted", style: "font-size:13px" }, "DAG")),
        h("p", { class: "muted" }, model.description || "", model.endpoint ? ` · endpoint ${model.endpoint}` : ""),
        problems),
      h("section", { id: "champion" }, h("h3", {}, "Champion"), championCard(model)),
      h("section", { id: "versions" }, h("h3", {}, "Versions"), versionsTable(model, select)),
      h("section", { id: "diagnostics" }, h("h3", {}, "Evaluation diagnostics"), plots),
      h("section", { id: "rollouts" }, h("h3", {}, "Last rollouts"), rolloutsSection(model)),
      h("section", { id: "monitoring" }, h("h3", {}, "Monitoring"), monitoringSection(model)));
    const first = model.versions.find(v => v.status === "champion") || model.versions[0];
    if (first) select(first, main.querySelector(`tr.version[data-version="${CSS.escape(first.version_id)}"]`));
    else plots.append(empty("No evaluation yet."));
  }

  function fail(error) {
    document.getElementById("model").replaceChildren(h("div", { class: "error" }, String(error.message || error)));
  }

  let shown = 0;  // the latest show(): an older one still loading must not draw over it

  async function show() {
    const call = ++shown;
    try {
      const data = await getJSON("api/models");
      if (call !== shown) return;
      const wanted = decodeURIComponent(location.hash.slice(1));
      const selected = data.models.some(m => m.model === wanted) ? wanted : data.models[0] && data.models[0].model;
      renderList(data, selected);
      if (!selected) {
        document.getElementById("model").replaceChildren(empty(
          `No model specs (*.model.yaml) in the dags folder ${data.dags_folder}. ` +
          "`mlprovider new` writes one; each becomes a lifecycle DAG and appears here."));
        return;
      }
      const model = await getJSON(`api/models/${encodeURIComponent(selected)}`);
      if (call === shown) renderModel(model);
    } catch (error) {
      if (call === shown) fail(error);
    }
  }

  window.addEventListener("hashchange", show);
  show();
})();
