// Small building blocks shared by the dashboard's panels: labelled elements, toasts,
// a confirmation dialog, the action runner, number formats. Text goes in as text only.
import { el, t } from "./livecon.js";

// An element whose text is the translation of `key`; translate() keeps it current.
export function label(key, tag = "span", attrs = {}) {
  return el(tag, { ...attrs, dataset: { ...(attrs.dataset || {}), i18n: key } }, t(key));
}

export function button(key, onclick, attrs = {}) {
  return el("button", { type: "button", ...attrs, onclick, dataset: { ...(attrs.dataset || {}), i18n: key } }, t(key));
}

export function panel(name, titleKey, ...children) {
  const heading = label(titleKey, "h2", { id: `${name}-heading` });
  return el("section", { class: `panel panel-${name}`, id: `panel-${name}`, "aria-labelledby": `${name}-heading` },
    el("header", { class: "panel-head" }, heading), ...children);
}

// A control with a visible <label> bound to it.
let nextField = 1;
export function field(key, control) {
  const id = control.id || `f${nextField++}`;
  control.id = id;
  return el("div", { class: "field" }, label(key, "label", { for: id }), control);
}

// Who a sale or lottery is for: the script's setting (nothing sent), everyone, or one tier.
export const FAN_CHOICES = ["", "all", "new", "returning"];

export function fanSelect(className) {
  return el("select", { class: className },
    ...FAN_CHOICES.map((value) => label(`fans.choice.${value || "default"}`, "option", { value })));
}

// The badge of a sale or lottery limited to one tier, hidden for everyone's.
export function fanBadge(node, limit) {
  const limited = limit === "new" || limit === "returning";
  node.hidden = !limited;
  node.dataset.fans = limited ? limit : "all";
  if (!limited) {
    delete node.dataset.i18n;
    node.textContent = "";
    return;
  }
  node.dataset.i18n = `fans.limit.${limit}`;
  node.textContent = t(node.dataset.i18n);
}

export function hhmmss(ms) {
  if (!ms) return "";
  const d = new Date(ms);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, "0")).join(":");
}

export function percent(share) {
  const value = Number(share) * 100;
  if (!Number.isFinite(value)) return "0%";
  return `${value >= 10 || value === 0 ? value.toFixed(0) : value.toFixed(1)}%`;
}

export function count(value) {
  const number = Number(value) || 0;
  return number.toLocaleString("en-US");
}

export function codePoints(text) {
  return [...text].length;
}

// Toasts: every action's answer, success or error, read out politely.
export class Toaster {
  constructor() {
    this.node = el("div", { class: "toasts", role: "status", "aria-live": "polite" });
  }

  show(text, kind = "ok") {
    const toast = el("div", { class: `toast toast-${kind}` }, text);
    this.node.append(toast);
    while (this.node.childElementCount > 5) this.node.firstElementChild.remove();
    setTimeout(() => toast.remove(), kind === "error" ? 8000 : 4000);
    return toast;
  }
}

// A modal yes/no question in a <dialog>; resolves true only on "confirm".
export class Confirmer {
  constructor() {
    this.message = el("p", { class: "confirm-message" });
    this.ok = button("btn.confirm", () => this.close(true), { class: "primary" });
    this.cancel = button("btn.cancel", () => this.close(false));
    this.node = el("dialog", { class: "confirm", "aria-labelledby": "confirm-title" },
      label("confirm.title", "h2", { id: "confirm-title" }), this.message,
      el("div", { class: "row" }, this.cancel, this.ok));
    this.node.addEventListener("cancel", () => this.finish(false));
    this.resolve = null;
  }

  ask(text) {
    this.finish(false);
    this.message.textContent = text;
    this.node.showModal();
    this.ok.focus();
    return new Promise((resolve) => { this.resolve = resolve; });
  }

  close(answer) {
    this.node.close();
    this.finish(answer);
  }

  finish(answer) {
    const resolve = this.resolve;
    this.resolve = null;
    resolve?.(answer);
  }
}

// Sends control messages and reports every answer as a toast.
export class Actions {
  constructor(hub, toaster) {
    this.hub = hub;
    this.toaster = toaster;
  }

  static reason(error) {
    if (error?.code) return error.message || error.code;
    if (error?.message === "not connected" || error?.message === "disconnected") return t("toast.offline");
    if (error?.message === "timeout") return t("toast.timeout");
    return String(error?.message || error);
  }

  // Resolves with the ack, or rejects with the error after showing it (unless quiet).
  async run(frame, whatKey, describe = () => "", quiet = false) {
    const what = t(whatKey);
    try {
      const ack = await this.hub.request(frame);
      const detail = describe(ack);
      this.toaster.show(t("toast.ok", { what }) + (detail ? ` · ${detail}` : ""), "ok");
      return ack;
    } catch (error) {
      if (!quiet) this.toaster.show(t("toast.failed", { what, message: Actions.reason(error) }), "error");
      throw error;
    }
  }

  // Like run(), but never rejects: resolves with the ack or null.
  fire(frame, whatKey, describe = () => "") {
    return this.run(frame, whatKey, describe).catch(() => null);
  }
}

// Remove the oldest children of `list` beyond `cap` (newest at the end).
export function trimFront(list, cap) {
  let excess = list.childElementCount - cap;
  while (excess-- > 0) list.firstElementChild.remove();
}

export function trimBack(list, cap) {
  let excess = list.childElementCount - cap;
  while (excess-- > 0) list.lastElementChild.remove();
}
