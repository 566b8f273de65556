// Two lists fed by live events: alerts (automatic cues, "alert" events, sold out, price
// changes, a failed reconciliation) and the control log (every control action seen
// since the page opened; the stored audit log is admin-only over HTTP).
import { el, money, t } from "./livecon.js";
import { hhmmss, label, panel } from "./dashboard-ui.js";

const ALERT_CAP = 100;
const AUDIT_CAP = 200;
const AUDITED = new Set(["segment", "sale_started", "sale_paused", "sale_resumed", "sale_ended",
  "price_changed", "stock_added", "cue", "show_ended"]);

// A list of entries rendered from data, newest first, so a language switch can redraw it.
class EntryList {
  constructor(name, titleKey, emptyKey, cap) {
    this.cap = cap;
    this.entries = [];
    this.list = el("ol", { class: `log log-${name}`, "aria-live": "off" });
    this.empty = label(emptyKey, "p", { class: "empty" });
    this.node = panel(name, titleKey, this.empty, this.list);
  }

  push(entry) {
    this.entries.unshift(entry);
    if (this.entries.length > this.cap) this.entries.length = this.cap;
    entry.node = this.row(entry);
    this.list.prepend(entry.node);
    while (this.list.childElementCount > this.cap) this.list.lastElementChild.remove();
    this.empty.hidden = true;
    return entry;
  }

  text(entry) {
    return entry.textKey ? t(entry.textKey, entry.vars) : entry.text;
  }

  relabel() {
    for (const entry of this.entries) {
      const fresh = this.row(entry);
      entry.node.replaceWith(fresh);
      entry.node = fresh;
    }
  }
}

export class AlertsPanel extends EntryList {
  constructor({ now, productName, currency }) {
    super("alerts", "alerts.heading", "alerts.none", ALERT_CAP);
    Object.assign(this, { now, productName, currency });
    this.reconcileOk = true;
  }

  row(entry) {
    const keyName = t(`alert.key.${entry.key}`);
    return el("li", { class: `alert level-${entry.level}${entry.acked ? " acked" : ""}`, dataset: { key: entry.key } },
      el("time", {}, hhmmss(entry.at)),
      el("span", { class: "badge" }, keyName === `alert.key.${entry.key}` ? entry.key : keyName),
      el("span", { class: "alert-text" }, this.text(entry)),
      entry.acked ? el("span", { class: "alert-acked" }, `✓ ${t("alert.acked")}`) : null);
  }

  onEvent(event) {
    const at = this.now();
    if (event.type === "cue" && event.auto) {
      this.push({ key: event.key || "alert", level: event.level || "info", text: event.text, cue: event.cue, at });
    } else if (event.type === "alert") {
      this.push({ key: event.key || "alert", level: "urgent", text: event.text || "", at });
    } else if (event.type === "sold_out") {
      this.push({ key: "sold_out", level: "urgent", textKey: "alert.soldOut", vars: { product: this.productName(event.product) }, at });
    } else if (event.type === "price_changed") {
      const currency = event.currency || this.currency();
      this.push({ key: "price", level: "warning", textKey: "alert.price", at, vars: {
        product: this.productName(event.product), previous: money(event.previous_price, currency), price: money(event.price, currency),
      } });
    }
  }

  acknowledge(event) {
    const entry = this.entries.find((one) => one.cue === event.cue);
    if (!entry) return;
    entry.acked = true;
    const fresh = this.row(entry);
    entry.node.replaceWith(fresh);
    entry.node = fresh;
  }

  // Returns whether the room's stock reconciles; alerts once each time it stops doing so.
  setReconcile(value) {
    const ok = value?.ok !== false;
    if (!ok && this.reconcileOk) {
      const bad = (value.sales || []).filter((sale) => !sale.ok).map((sale) => sale.sale).join(", ");
      this.push({ key: "reconcile", level: "urgent", textKey: "alert.reconcile", vars: { sales: bad }, at: this.now() });
    }
    this.reconcileOk = ok;
    return ok;
  }
}

export class AuditPanel extends EntryList {
  constructor({ now, productName, currency, productOfSale }) {
    super("audit", "audit.heading", "audit.none", AUDIT_CAP);
    Object.assign(this, { now, productName, currency, productOfSale });
    this.node.querySelector(".panel-head").append(label("audit.note", "span", { class: "panel-meta" }));
  }

  row(entry) {
    return el("li", { class: `audit audit-${entry.type}`, dataset: { type: entry.type } },
      el("time", {}, hhmmss(entry.at)), el("span", { class: "audit-text" }, this.text(entry)));
  }

  onEvent(event) {
    if (!AUDITED.has(event.type) || (event.type === "cue" && event.auto)) return;
    const currency = event.currency || this.currency();
    const product = this.productName(event.product || this.productOfSale(event.sale));
    const vars = { product, price: money(event.price ?? 0, currency), previous: money(event.previous_price ?? 0, currency),
      units: event.units, from: event.from || "", text: event.text || "", n: (event.index ?? 0) + 1, title: event.title || "" };
    let key = `audit.${event.type}`;
    if (event.type === "segment" && event.skipped_previous) key = "audit.segmentSkipped";
    if (event.type === "sale_started" && (event.fans === "new" || event.fans === "returning")) key += `.${event.fans}`;
    this.push({ type: event.type, at: this.now(), textKey: key, vars });
  }
}
