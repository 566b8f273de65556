// Flash sales: one stock bar per "sale:<id>" state (remaining / released, status, a
// local countdown to ends_at_ms, sold out marked) with the controller's sale, stock and
// price controls; and the order feed (the last 50 "order" events).
import { clock, el, money, t } from "./livecon.js";
import { button, fanBadge, fanSelect, field, hhmmss, label, panel, trimBack } from "./dashboard-ui.js";
import { setLabel } from "./dashboard-show.js";

const SALE_CAP = 12;
const ORDER_CAP = 50;
const STATUS_ORDER = { open: 0, paused: 1, scheduled: 2, ended: 3 };

export class SalesPanel {
  constructor({ actions, confirmer, canControl, now, productName, currency }) {
    Object.assign(this, { actions, confirmer, canControl, now, productName, currency });
    this.sales = new Map();
    this.products = [];
    this.node = this.build();
  }

  build() {
    this.list = el("ul", { class: "sales" });
    this.empty = label("sales.none", "p", { class: "empty" });
    const parts = [];
    if (this.canControl) {
      this.productSelect = el("select", {});
      this.fillProducts();
      this.fansSelect = fanSelect("sale-fans");
      parts.push(el("div", { class: "sale-start" }, field("sales.product", this.productSelect),
        field("sales.fans", this.fansSelect),
        button("sales.start", () => this.start(), { class: "primary", dataset: { action: "sale-start" } })));
    }
    return panel("sales", "sales.heading", ...parts, this.empty, this.list);
  }

  setProducts(products) {
    const same = products.length === this.products.length && products.every(([id], i) => id === this.products[i][0]);
    this.products = products;
    if (!same && this.productSelect) this.fillProducts();
    for (const sale of this.sales.values()) this.renderSale(sale);
  }

  fillProducts() {
    const chosen = this.productSelect.value;
    this.productSelect.replaceChildren(label("sales.onAir", "option", { value: "" }),
      ...this.products.map(([id, name]) => el("option", { value: id }, name)));
    this.productSelect.value = this.products.some(([id]) => id === chosen) ? chosen : "";
  }

  start() {
    const frame = { t: "sale", command: "start" };
    if (this.productSelect.value) frame.product = this.productSelect.value;
    if (this.fansSelect.value) frame.fans = this.fansSelect.value;
    return this.actions.fire(frame, "act.sale.start", (ack) => ack.sale);
  }

  reset() {
    this.sales.clear();
    this.list.replaceChildren();
    this.empty.hidden = false;
  }

  setSale(id, view) {
    if (!view) return;
    let sale = this.sales.get(id);
    if (!sale) {
      sale = { id, view, parts: this.saleRow(id) };
      this.sales.set(id, sale);
    }
    sale.view = view;
    this.renderSale(sale);
    this.order();
  }

  saleRow(id) {
    const parts = {
      name: el("span", { class: "sale-name" }),
      status: el("span", { class: "badge status" }),
      fans: el("span", { class: "badge fans-badge", hidden: true }),
      soldOut: label("sales.soldOut", "span", { class: "badge sold-out-badge", hidden: true }),
      countdown: el("span", { class: "sale-countdown" }),
      price: el("strong", { class: "sale-price" }),
      anchor: el("s", { class: "sale-anchor" }),
      fill: el("div", { class: "stock-fill" }),
      stock: el("span", { class: "sale-stock" }),
      detail: el("span", { class: "sale-detail" }),
    };
    parts.bar = el("div", { class: "stock-bar", role: "progressbar", "aria-valuemin": "0" }, parts.fill);
    parts.row = el("li", { class: "sale", dataset: { sale: id } },
      el("div", { class: "sale-head" }, parts.name, parts.status, parts.fans, parts.soldOut, parts.countdown),
      el("div", { class: "sale-prices" }, parts.price, parts.anchor),
      parts.bar, el("div", { class: "sale-numbers" }, parts.stock, parts.detail));
    if (this.canControl) parts.row.append(this.saleControls(id, parts));
    return parts;
  }

  saleControls(id, parts) {
    parts.pause = button("sales.pause", () => this.control(id, "pause"), { dataset: { action: "sale-pause" } });
    parts.resume = button("sales.resume", () => this.control(id, "resume"), { dataset: { action: "sale-resume" } });
    parts.end = button("sales.end", () => this.control(id, "end"), { class: "danger", dataset: { action: "sale-end" } });
    parts.units = el("input", { type: "number", min: "1", step: "1", inputmode: "numeric", class: "units-input" });
    parts.newPrice = el("input", { type: "number", min: "0.01", step: "0.01", inputmode: "decimal", class: "price-input" });
    parts.confirmText = el("p", { class: "confirm-text" });
    parts.confirmButton = el("button", { type: "button", class: "danger", dataset: { action: "price-confirm" },
      onclick: () => this.confirmPrice(id, parts) });
    parts.confirm = el("div", { class: "price-confirm", role: "alert", hidden: true }, parts.confirmText, parts.confirmButton);
    const stockForm = el("form", { class: "inline-form" }, field("sales.addUnits", parts.units),
      el("button", { type: "submit", dataset: { i18n: "sales.add", action: "stock-add" } }, t("sales.add")));
    stockForm.addEventListener("submit", (event) => { event.preventDefault(); this.addStock(id, parts); });
    const priceForm = el("form", { class: "inline-form" }, field("sales.newPrice", parts.newPrice),
      el("button", { type: "submit", dataset: { i18n: "sales.changePrice", action: "price-change" } }, t("sales.changePrice")));
    priceForm.addEventListener("submit", (event) => { event.preventDefault(); this.changePrice(id, parts); });
    parts.controls = el("div", { class: "sale-controls" },
      el("div", { class: "row" }, parts.pause, parts.resume, parts.end), stockForm, priceForm, parts.confirm);
    return parts.controls;
  }

  renderSale(sale) {
    const { view, parts } = sale;
    const currency = view.currency || this.currency();
    const released = Number(view.released) || 0;
    const remaining = Number(view.remaining) || 0;
    const soldOut = remaining === 0 && view.status !== "scheduled";
    parts.row.dataset.status = view.status;
    parts.row.classList.toggle("sold-out", soldOut);
    parts.name.textContent = this.productName(view.product);
    setLabel(parts.status, `sales.status.${view.status}`);
    parts.status.dataset.status = view.status;
    fanBadge(parts.fans, view.fans);
    parts.soldOut.hidden = !soldOut;
    parts.price.textContent = money(view.price, currency);
    parts.price.title = t("sales.price");
    parts.anchor.textContent = money(view.anchor_price, currency);
    parts.anchor.title = t("sales.anchor");
    parts.fill.style.width = `${released ? Math.min(100, (remaining / released) * 100) : 0}%`;
    parts.fill.classList.toggle("low", released > 0 && remaining / released <= 0.1);
    parts.bar.setAttribute("aria-valuemax", String(released));
    parts.bar.setAttribute("aria-valuenow", String(remaining));
    parts.stock.textContent = t("sales.stock", { remaining, released });
    parts.bar.setAttribute("aria-valuetext", parts.stock.textContent);
    parts.detail.textContent = t("sales.detail", { sold: view.sold ?? 0, waitlist: view.waitlist ?? 0, limit: view.limit ?? "-" });
    if (parts.controls) {
      parts.controls.hidden = view.status === "ended";
      parts.pause.hidden = view.status !== "open";
      parts.resume.hidden = view.status !== "paused";
    }
    this.tickSale(sale);
  }

  order() {
    const sorted = [...this.sales.values()].sort((a, b) =>
      (STATUS_ORDER[a.view.status] ?? 9) - (STATUS_ORDER[b.view.status] ?? 9) || b.view.starts_at_ms - a.view.starts_at_ms);
    for (const dropped of sorted.slice(SALE_CAP)) {
      dropped.parts.row.remove();
      this.sales.delete(dropped.id);
    }
    const rows = sorted.slice(0, SALE_CAP).map((sale) => sale.parts.row);
    const current = [...this.list.children];
    if (rows.length !== current.length || rows.some((row, i) => row !== current[i])) {
      const focused = document.activeElement;
      this.list.append(...rows);
      if (focused && this.list.contains(focused)) focused.focus();
    }
    this.empty.hidden = rows.length > 0;
  }

  tick() {
    for (const sale of this.sales.values()) this.tickSale(sale);
  }

  tickSale({ view, parts }) {
    const left = view.status === "open" && view.ends_at_ms ? Math.max(0, (view.ends_at_ms - this.now()) / 1000) : null;
    parts.countdown.textContent = left === null ? "" : t("sales.endsIn", { clock: clock(Math.ceil(left)) });
  }

  async control(id, command) {
    const view = this.sales.get(id)?.view;
    if (command === "end" && !(await this.confirmer.ask(t("confirm.endSale", { product: this.productName(view?.product) })))) return;
    await this.actions.fire({ t: "sale", command, sale: id }, `act.sale.${command}`);
  }

  async addStock(id, parts) {
    const units = Number(parts.units.value);
    if (!Number.isInteger(units) || units < 1) {
      this.actions.toaster.show(t("sales.badNumber"), "error");
      return;
    }
    const ack = await this.actions.fire({ t: "stock", sale: id, units }, "act.stock", (a) => `+${a.added}`);
    if (ack) parts.units.value = "";
  }

  async changePrice(id, parts) {
    const yuan = Number(parts.newPrice.value);
    const price = Math.round(yuan * 100);
    if (!Number.isFinite(yuan) || price < 1) {
      this.actions.toaster.show(t("sales.badNumber"), "error");
      return;
    }
    parts.confirm.hidden = true;
    const view = this.sales.get(id)?.view || {};
    const currency = view.currency || this.currency();
    try {
      await this.actions.run({ t: "price", sale: id, price }, "act.price", (a) => money(a.price, currency));
      parts.newPrice.value = "";
    } catch (error) {
      if (error?.code !== "confirm_required") return;
      parts.confirmText.textContent = t("sales.bigChange", { message: error.message });
      parts.confirmButton.textContent = t("sales.confirmPrice", { price: money(price, currency) });
      parts.pendingPrice = price;
      parts.confirm.hidden = false;
      parts.confirmButton.focus();
    }
  }

  async confirmPrice(id, parts) {
    const price = parts.pendingPrice;
    const currency = this.sales.get(id)?.view.currency || this.currency();
    if (!price) return;
    parts.confirmButton.disabled = true;
    const ack = await this.actions.fire({ t: "price", sale: id, price, confirm: true }, "act.price", (a) => money(a.price, currency));
    parts.confirmButton.disabled = false;
    if (!ack) return;
    parts.confirm.hidden = true;
    parts.newPrice.value = "";
  }

  relabel() {
    for (const sale of this.sales.values()) this.renderSale(sale);
  }
}

export class OrdersPanel {
  constructor({ productName, currency }) {
    Object.assign(this, { productName, currency });
    this.orders = [];
    this.list = el("ol", { class: "orders", "aria-live": "off" });
    this.empty = label("orders.none", "p", { class: "empty" });
    this.node = panel("orders", "orders.heading", this.empty, this.list);
  }

  add(order) {
    this.orders.unshift(order);
    if (this.orders.length > ORDER_CAP) this.orders.length = ORDER_CAP;
    this.list.prepend(this.row(order));
    trimBack(this.list, ORDER_CAP);
    this.empty.hidden = true;
  }

  row(order) {
    return el("li", { class: "order", dataset: { order: order.id || "", sale: order.sale || "" } },
      el("time", {}, hhmmss(order.at ? order.at * 1000 : Date.now())),
      el("span", { class: "order-user" }, order.user || ""),
      el("span", { class: "order-what" }, t("orders.line", { product: this.productName(order.product), quantity: order.quantity })),
      el("strong", { class: "order-amount" }, money(order.amount ?? 0, this.currency())),
      el("span", { class: "order-id" }, order.id || ""));
  }

  relabel() {
    this.list.replaceChildren(...this.orders.map((order) => this.row(order)));
  }
}
