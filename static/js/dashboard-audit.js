// The room's audit log (操作审计), read with the "audit" message (support, controllers,
// admins): fetched on load, every 10 s and after each control action from this page;
// newest first, alerts highlighted. CSV export needs the admin key, so it stays with
// the HTTP API (GET /api/rooms/{room}/audit?format=csv); the note says so.
import { addStrings, el, t } from "./livecon.js";
import { hhmmss, label, panel } from "./dashboard-ui.js";

addStrings({
  zh: {
    "raudit.heading": "操作审计",
    "raudit.none": "暂无审计记录",
    "raudit.export": "导出 CSV？",
    "raudit.exportHint": "导出需要管理员密钥：请用 HTTP 接口 GET /api/rooms/{room}/audit?format=csv",
    "raudit.alert": "异常",
    "raudit.failed": "审计日志读取失败：{message}",
  },
  en: {
    "raudit.heading": "Audit log",
    "raudit.none": "No audit entries yet",
    "raudit.export": "Export CSV?",
    "raudit.exportHint": "Export needs the admin key: use the HTTP API GET /api/rooms/{room}/audit?format=csv",
    "raudit.alert": "alert",
    "raudit.failed": "Could not read the audit log: {message}",
  },
});

const EVERY_MS = 10000;
const LIMIT = 100;

function brief(value) {
  if (value === null || value === undefined) return "";
  if (typeof value !== "object") return String(value);
  return Object.entries(value).filter(([, one]) => one !== null && one !== undefined && typeof one !== "object")
    .map(([key, one]) => `${key}=${one}`).join(" ").slice(0, 160);
}

export class RoomAuditPanel {
  constructor({ hub, room }) {
    Object.assign(this, { hub, room });
    this.entries = [];
    this.error = "";
    this.list = el("ol", { class: "log log-room-audit", "aria-live": "off" });
    this.empty = label("raudit.none", "p", { class: "empty" });
    this.problem = el("p", { class: "hint raudit-error", hidden: true });
    this.exportNote = el("span", { class: "panel-meta raudit-export", tabindex: "0", role: "note" });
    this.node = panel("room-audit", "raudit.heading", this.problem, this.empty, this.list);
    this.node.querySelector(".panel-head").append(this.exportNote);
    this.timer = 0;
    this.busy = false;
    this.relabelNote();
  }

  start() {
    this.refresh();
    clearInterval(this.timer);
    this.timer = setInterval(() => this.refresh(), EVERY_MS);
  }

  async refresh() {
    if (this.busy) { this.again = true; return; }
    this.busy = true;
    try {
      const ack = await this.hub.request({ t: "audit", limit: LIMIT });
      this.entries = (ack.entries || []).slice().reverse();
      this.error = "";
      this.render();
    } catch (error) {
      if (error?.code !== "not_connected" && error?.code !== "disconnected") {
        this.error = error?.message || error?.code || String(error);
        this.render();
      }
    } finally {
      this.busy = false;
      if (this.again) { this.again = false; this.refresh(); }
    }
  }

  render() {
    this.problem.hidden = !this.error;
    this.problem.textContent = this.error ? t("raudit.failed", { message: this.error }) : "";
    this.empty.hidden = this.entries.length > 0;
    this.list.replaceChildren(...this.entries.map((entry) => this.row(entry)));
  }

  row(entry) {
    const detail = brief(entry.after) || brief(entry.detail);
    return el("li", { class: `raudit${entry.alert ? " raudit-alert" : ""}`, dataset: { auditAction: entry.action || "", seq: String(entry.seq ?? "") } },
      el("time", {}, hhmmss((entry.at || 0) * 1000)),
      entry.alert ? el("span", { class: "badge raudit-flag" }, t("raudit.alert")) : null,
      el("span", { class: "raudit-action" }, entry.action || ""),
      el("span", { class: "raudit-actor" }, `${entry.actor || ""}${entry.role ? ` (${entry.role})` : ""}`),
      detail ? el("span", { class: "raudit-detail" }, detail) : null);
  }

  relabelNote() {
    this.exportNote.textContent = t("raudit.export");
    this.exportNote.title = t("raudit.exportHint", { room: this.room });
    this.exportNote.setAttribute("aria-label", t("raudit.exportHint", { room: this.room }));
  }

  relabel() {
    this.relabelNote();
    this.render();
  }
}
