// The pre-show checklist (设备与场景准备): one checkbox per item of the script's
// [[checklist]], ticked by any controller (every controller sees every tick, with who
// and when), the count done, and the script's compliance result. Hidden until the
// room publishes a "checklist" state (scripts without a checklist never do).
import { el, t } from "./livecon.js";
import { hhmmss, panel } from "./dashboard-ui.js";

export class ChecklistPanel {
  constructor({ actions, canControl }) {
    Object.assign(this, { actions, canControl });
    this.value = null;
    this.progress = el("span", { class: "badge checklist-progress" });
    this.list = el("ul", { class: "checklist" });
    this.compliance = el("p", { class: "checklist-compliance" });
    this.node = panel("checklist", "checklist.heading", this.list, this.compliance);
    this.node.querySelector(".panel-head").append(this.progress);
    this.node.hidden = true;
  }

  setChecklist(value) {
    this.value = value;
    this.node.hidden = !(value?.items?.length);
    this.render();
  }

  render() {
    const value = this.value;
    if (!value) return;
    this.progress.textContent = t("checklist.progress", { done: value.done, total: value.total });
    this.progress.dataset.complete = String(value.done === value.total);
    this.list.replaceChildren(...(value.items || []).map((item) => this.item(item)));
    const result = value.compliance || {};
    this.compliance.dataset.passed = String(Boolean(result.passed));
    this.compliance.textContent = t(result.passed ? "checklist.compliance.ok" : "checklist.compliance.bad",
      { errors: result.errors ?? 0, warnings: result.warnings ?? 0 });
    this.compliance.title = (result.issues || []).join("\n");
  }

  item(item) {
    const box = el("input", { type: "checkbox", disabled: !this.canControl, dataset: { item: item.id } });
    box.checked = Boolean(item.done);
    box.addEventListener("change", () => this.tick(item.id, box));
    const meta = item.by ? t("checklist.by", { by: item.by, time: hhmmss(item.at_ms) }) : "";
    return el("li", { class: "check", dataset: { item: item.id, done: String(Boolean(item.done)) } },
      el("label", {}, box, el("span", { class: "check-label" }, item.label)),
      meta ? el("span", { class: "check-meta" }, meta) : null);
  }

  async tick(id, box) {
    const done = box.checked;
    const ack = await this.actions.fire({ t: "checklist", item: id, done }, done ? "act.checklist.tick" : "act.checklist.untick");
    if (!ack) box.checked = !done;
  }

  relabel() {
    this.render();
  }
}
