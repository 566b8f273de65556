// Live figures: metric tiles from the "metrics" and "presence" states, targets as
// <progress> bars, small inline-SVG charts drawn from a rolling one-sample-a-second
// buffer (the last 15 minutes), the view -> click -> order funnel, and new vs returning
// fans (粉丝分层) from "metrics.fans".
import { el, money, t } from "./livecon.js";
import { count, label, panel, percent } from "./dashboard-ui.js";

const SVG = "http://www.w3.org/2000/svg";
const WINDOW = 900; // samples, one a second
const MIN_SPAN = 60;
const WIDTH = 300;
const HEIGHT = 60;

const TILES = [
  ["online", "metric.online", (m, p) => count(p.online ?? m.online)],
  ["peak", "metric.peak", (m, p) => count(Math.max(p.peak ?? 0, m.peak_online ?? 0))],
  ["cpm", "metric.cpm", (m) => count(Math.round(m.comments_per_min ?? 0))],
  ["orders", "metric.orders", (m) => count(m.orders)],
  ["gmv", "metric.gmv", (m, p, c) => money(m.gmv ?? 0, c)],
  ["conversion", "metric.conversion", (m) => percent(m.conversion ?? 0)],
  ["aov", "metric.aov", (m, p, c) => money(m.aov ?? 0, c)],
  ["gpm", "metric.gpm", (m, p, c) => money(m.gpm ?? 0, c)],
  ["unique", "metric.unique", (m) => count(m.unique_viewers)],
  ["interaction", "metric.interaction", (m) => percent(m.interaction_rate ?? 0)],
  ["reminders", "metric.reminders", (m) => count(m.reminders ?? 0)],
];

const TIERS = ["new", "returning"];
const FAN_FIGURES = [
  ["viewers", (tier) => count(tier.viewers)],
  ["orders", (tier) => count(tier.orders)],
  ["gmv", (tier, currency) => money(tier.gmv ?? 0, currency)],
  ["conversion", (tier) => percent(tier.conversion ?? 0)],
];

const CHARTS = [
  ["online", "chart.online", (m, p) => Number(p.online ?? m.online ?? 0), (v) => count(v)],
  ["cpm", "chart.cpm", (m) => Number(m.comments_per_min ?? 0), (v) => count(Math.round(v))],
  ["orders", "chart.orders", (m) => Number(m.orders ?? 0), (v) => count(v)],
  ["gmv", "chart.gmv", (m) => Number(m.gmv ?? 0), null],
];

const TARGETS = [
  ["gmv", "target.gmv", true],
  ["orders", "target.orders", false],
  ["peak_online", "target.peak_online", false],
];

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  return node;
}

export class MetricsPanel {
  constructor() {
    this.metrics = {};
    this.presence = {};
    this.currency = "CNY";
    this.series = Object.fromEntries(CHARTS.map(([name]) => [name, []]));
    this.node = this.build();
  }

  build() {
    this.tiles = new Map();
    const tiles = el("div", { class: "tiles" });
    for (const [name, key] of TILES) {
      const value = el("span", { class: "tile-value" }, "0");
      this.tiles.set(name, value);
      tiles.append(el("div", { class: `tile tile-${name}`, dataset: { metric: name } }, label(key, "span", { class: "tile-label" }), value));
    }
    this.targets = new Map();
    const targets = el("div", { class: "targets" }, label("targets.heading", "h3"));
    for (const [name, key] of TARGETS) {
      const id = `target-${name}`;
      const bar = el("progress", { id, max: "1", value: "0" });
      const text = el("span", { class: "target-text" });
      const row = el("div", { class: "target", hidden: true, dataset: { target: name } },
        label(key, "label", { for: id }), bar, text);
      this.targets.set(name, { row, bar, text });
      targets.append(row);
    }
    this.charts = new Map();
    const charts = el("div", { class: "charts" }, label("charts.heading", "h3"));
    for (const [name, key] of CHARTS) {
      const area = svg("polygon", { class: "area" });
      const line = svg("polyline", { class: "line" });
      const picture = svg("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, preserveAspectRatio: "none", role: "img" });
      picture.append(area, line);
      const now = el("span", { class: "chart-now" });
      charts.append(el("figure", { class: `chart chart-${name}` },
        el("figcaption", {}, label(key), now), picture));
      this.charts.set(name, { area, line, picture, now, key });
    }
    this.funnel = new Map();
    const funnel = el("div", { class: "funnel" }, label("funnel.heading", "h3"));
    for (const name of ["views", "clicks", "orders"]) {
      const fill = el("div", { class: "funnel-fill" });
      const value = el("span", { class: "funnel-value" });
      const rate = el("span", { class: "funnel-rate" });
      funnel.append(el("div", { class: `funnel-step funnel-${name}` }, label(`funnel.${name}`, "span", { class: "funnel-label" }),
        el("div", { class: "funnel-bar" }, fill), value, rate));
      this.funnel.set(name, { fill, value, rate });
    }
    return panel("metrics", "metrics.heading", tiles,
      el("div", { class: "metrics-lower" }, el("div", {}, charts, this.buildFans()), el("div", {}, targets, funnel)));
  }

  // New vs returning fans (粉丝分层): the returning share as a split bar, then one row per
  // tier with its viewers, orders, GMV and conversion.
  buildFans() {
    this.fanCells = new Map();
    this.shareValue = el("span", { class: "fans-share-value" }, "0%");
    this.shareFill = el("div", { class: "fans-share-fill" });
    this.shareBar = el("div", { class: "fans-share-bar", role: "img" }, this.shareFill);
    const head = el("tr", {}, el("td", {}), ...FAN_FIGURES.map(([figure]) =>
      label(`fans.row.${figure}`, "th", { scope: "col" })));
    const rows = TIERS.map((tier) => el("tr", { dataset: { tier } },
      label(`fans.tier.${tier}`, "th", { scope: "row", class: `fans-${tier}` }),
      ...FAN_FIGURES.map(([figure]) => {
        const cell = el("td", { dataset: { figure } }, "0");
        this.fanCells.set(`${tier}:${figure}`, cell);
        return cell;
      })));
    return el("div", { class: "fans" },
      el("div", { class: "fans-head" }, label("fans.heading", "h3", { id: "fans-heading" }),
        el("span", { class: "fans-share" }, label("metric.returningShare"), this.shareValue)),
      this.shareBar,
      el("table", { class: "fans-table", "aria-labelledby": "fans-heading" },
        el("thead", {}, head), el("tbody", {}, ...rows)));
  }

  setMetrics(value) {
    this.metrics = value || {};
    this.render();
  }

  setPresence(value) {
    this.presence = value || {};
    this.render();
  }

  setCurrency(currency) {
    this.currency = currency || "CNY";
  }

  render() {
    const m = this.metrics;
    const p = this.presence;
    for (const [name, , value] of TILES) this.tiles.get(name).textContent = value(m, p, this.currency);
    for (const [name, , isMoney] of TARGETS) {
      const goal = m.targets?.[name];
      const parts = this.targets.get(name);
      parts.row.hidden = !goal;
      if (!goal) continue;
      const show = (v) => (isMoney ? money(v, this.currency) : count(v));
      parts.bar.value = Math.min(1, Number(goal.progress) || 0);
      parts.text.textContent = t("target.line", { actual: show(goal.actual), target: show(goal.target), percent: percent(goal.progress) });
    }
    const share = Number(m.fans?.returning_share) || 0;
    this.shareValue.textContent = percent(share);
    this.shareFill.style.width = `${Math.min(100, share * 100)}%`;
    this.shareBar.classList.toggle("empty", !((m.fans?.new?.viewers || 0) + (m.fans?.returning?.viewers || 0)));
    this.shareBar.setAttribute("aria-label", `${t("metric.returningShare")} ${percent(share)}`);
    for (const tier of TIERS) {
      for (const [figure, format] of FAN_FIGURES) {
        this.fanCells.get(`${tier}:${figure}`).textContent = format(m.fans?.[tier] || {}, this.currency);
      }
    }
    const funnel = m.funnel || {};
    const views = Number(funnel.views) || 0;
    let previous = 0;
    for (const name of ["views", "clicks", "orders"]) {
      const value = Number(funnel[name]) || 0;
      const parts = this.funnel.get(name);
      parts.fill.style.width = `${views ? Math.max(1, Math.min(100, (value / views) * 100)) : 0}%`;
      parts.value.textContent = count(value);
      parts.rate.textContent = name === "views" ? "" : t("funnel.rate", { percent: percent(previous ? value / previous : 0) });
      previous = value;
    }
  }

  // Called once a second: add one sample to every series and redraw the charts.
  sample() {
    for (const [name, , pick] of CHARTS) {
      const values = this.series[name];
      values.push(pick(this.metrics, this.presence));
      if (values.length > WINDOW) values.shift();
    }
    this.draw();
  }

  draw() {
    for (const [name, key, , format] of CHARTS) {
      const values = this.series[name];
      const chart = this.charts.get(name);
      const show = format || ((v) => money(v, this.currency));
      const top = Math.max(1, ...values) * 1.1;
      // The first minute fills in from the right; after that the chart spans all it has.
      const span = Math.min(WINDOW, Math.max(MIN_SPAN, values.length));
      const step = WIDTH / (span - 1);
      const offset = span - values.length;
      const points = values.map((v, i) => `${((offset + i) * step).toFixed(1)},${(HEIGHT - (v / top) * HEIGHT).toFixed(1)}`);
      chart.line.setAttribute("points", points.join(" "));
      chart.area.setAttribute("points", points.length
        ? `${(offset * step).toFixed(1)},${HEIGHT} ${points.join(" ")} ${WIDTH},${HEIGHT}` : "");
      const now = values.length ? values[values.length - 1] : 0;
      chart.now.textContent = show(now);
      chart.picture.setAttribute("aria-label", t("chart.label", { name: t(key), now: show(now), max: show(Math.max(0, ...values)) }));
    }
  }
}
