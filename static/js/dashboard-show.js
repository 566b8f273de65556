// The run of show: every segment of the script (current highlighted, skipped marked,
// planned durations), the current segment's time left counted down locally from
// timeline.ends_at_ms (red when over time), the script buttons, and the cue composer
// with each cue's acknowledgement. Controls are built only for roles that may use them.
import { clock, el, t } from "./livecon.js";
import { Actions, button, codePoints, field, hhmmss, label, panel, trimBack } from "./dashboard-ui.js";

const MOVING = ["live", "closing"];
const RUNNING = ["live", "paused", "closing"];
const COMMANDS = [
  { key: "btn.start", command: "start", phases: ["not_started"], primary: true },
  { key: "btn.previous", command: "previous", phases: MOVING },
  { key: "btn.next", command: "next", phases: MOVING, primary: true },
  { key: "btn.pause", command: "pause", phases: MOVING },
  { key: "btn.resume", command: "resume", phases: ["paused"] },
  { key: "btn.extend1", command: "extend", seconds: 60, phases: RUNNING },
  { key: "btn.extend5", command: "extend", seconds: 300, phases: RUNNING },
  { key: "btn.skip", command: "skip", phases: MOVING },
  { key: "btn.end", command: "end", phases: RUNNING, confirm: "confirm.end", danger: true },
];
const CUE_CAP = 30;

export function setLabel(node, key) {
  node.dataset.i18n = key;
  node.textContent = t(key);
}

export class ShowPanel {
  constructor({ actions, confirmer, canControl, now, onAutoCueAck }) {
    Object.assign(this, { actions, confirmer, canControl, now, onAutoCueAck });
    this.timeline = null;
    this.prompter = null;
    this.signature = "";
    this.shownIndex = null;
    this.cues = new Map();
    this.node = this.build();
  }

  build() {
    this.phase = el("span", { class: "phase", dataset: { phase: "none" } });
    this.current = label("show.waiting", "p", { class: "now-title" });
    this.left = el("p", { class: "now-left", "aria-live": "off" }, "--:--");
    this.leftLabel = label("show.left", "span", { class: "now-left-label" });
    this.planned = el("p", { class: "now-planned" });
    this.list = el("ol", { class: "timeline" });
    const parts = [
      el("div", { class: "now" }, el("div", {}, label("show.current", "span", { class: "now-label" }), this.current),
        el("div", { class: "now-clock" }, this.leftLabel, this.left)),
      this.planned,
    ];
    this.buttons = [];
    if (this.canControl) {
      const bar = el("div", { class: "controls", role: "group", "aria-label": t("show.heading") });
      for (const spec of COMMANDS) {
        const node = button(spec.key, () => this.command(spec), {
          class: spec.primary ? "primary" : spec.danger ? "danger" : "", disabled: true, dataset: { command: spec.command },
        });
        this.buttons.push({ spec, node });
        bar.append(node);
      }
      parts.push(bar, label("show.goto.hint", "p", { class: "hint" }));
    }
    parts.push(this.list);
    this.cueList = el("ul", { class: "cues" });
    this.cueEmpty = label("cue.none", "p", { class: "empty" });
    this.cueNode = panel("cue", "cue.heading", this.canControl ? this.buildComposer() : null, this.cueEmpty, this.cueList);
    const section = panel("show", "show.heading", ...parts);
    section.querySelector(".panel-head").append(this.phase);
    return section;
  }

  buildComposer() {
    this.cueText = el("input", { type: "text", maxlength: "280", required: true, autocomplete: "off",
      dataset: { i18nPlaceholder: "cue.placeholder" }, placeholder: t("cue.placeholder") });
    this.cueLevel = el("select", {},
      ...["info", "warning", "urgent"].map((level) => label(`cue.level.${level}`, "option", { value: level })));
    const send = el("button", { type: "submit", class: "primary", dataset: { i18n: "cue.send" } }, t("cue.send"));
    const form = el("form", { class: "cue-form" }, field("cue.text", this.cueText), field("cue.level", this.cueLevel), send);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.sendCue();
    });
    return form;
  }

  async sendCue() {
    const text = this.cueText.value.trim();
    if (codePoints(text) < 1 || codePoints(text) > 280) return;
    const level = this.cueLevel.value;
    const ack = await this.actions.fire({ t: "cue", text, level }, "act.cue");
    if (!ack) return;
    this.cueText.value = "";
    this.noteCue({ cue: ack.cue, text, level, from: "", at: this.now() });
  }

  async command(spec) {
    if (spec.confirm && !(await this.confirmer.ask(t(spec.confirm)))) return;
    const frame = { t: "script", command: spec.command };
    if (spec.seconds) frame.seconds = spec.seconds;
    if (spec.command === "start") await this.start(frame);
    else await this.script(frame);
  }

  // Start; when the pre-show checklist is not done the server answers confirm_required
  // with the unticked items and the compliance result: ask, then send it confirmed.
  async start(frame) {
    const describe = (ack) => t("ack.segment", { n: ack.index + 1 });
    try {
      return await this.actions.run(frame, "act.script.start", describe, true);
    } catch (error) {
      if (error?.code !== "confirm_required") {
        this.actions.toaster.show(t("toast.failed", { what: t("act.script.start"), message: Actions.reason(error) }), "error");
        return null;
      }
      if (!(await this.confirmer.ask(t("confirm.startUnchecked", { reason: error.message })))) return null;
      return this.script({ ...frame, confirm: true });
    }
  }

  async goto(index) {
    const segment = this.timeline?.segments?.[index];
    if (!segment) return;
    if (!(await this.confirmer.ask(t("confirm.goto", { n: index + 1, title: segment.title })))) return;
    await this.script({ t: "script", command: "goto", target: index });
  }

  script(frame) {
    return this.actions.fire(frame, `act.script.${frame.command}`, (ack) => t("ack.segment", { n: ack.index + 1 }));
  }

  setShow(show) {
    if (!show?.title || this.timeline) return;
    delete this.current.dataset.i18n;
    this.current.textContent = show.title;
  }

  setPrompter(value) {
    this.prompter = value;
    this.tick();
  }

  setTimeline(value) {
    this.timeline = value;
    const segments = value.segments || [];
    const signature = JSON.stringify(segments.map((s) => [s.kind, s.title, s.duration_s, s.product_name]));
    if (signature !== this.signature) {
      this.signature = signature;
      this.list.replaceChildren(...segments.map((segment) => this.segmentItem(segment)));
    }
    const skipped = new Set(value.skipped || []);
    for (const item of this.list.children) {
      const index = Number(item.dataset.index);
      item.classList.toggle("current", index === value.index);
      item.classList.toggle("done", index < value.index);
      item.classList.toggle("skipped", skipped.has(index));
      item.querySelector(".seg-skipped").hidden = !skipped.has(index);
      if (index === value.index) item.setAttribute("aria-current", "step");
      else item.removeAttribute("aria-current");
    }
    if (value.index !== this.shownIndex) {
      this.shownIndex = value.index;
      this.reveal(this.list.querySelector(".current"));
    }
    this.relabel();
    this.tick();
  }

  // Scroll the panel (never the page) so the current segment is in view.
  reveal(item) {
    const box = this.node;
    if (!item || box.scrollHeight <= box.clientHeight) return;
    const top = item.offsetTop;
    const bottom = top + item.offsetHeight;
    if (top < box.scrollTop) box.scrollTop = top - 8;
    else if (bottom > box.scrollTop + box.clientHeight) box.scrollTop = bottom - box.clientHeight + 8;
  }

  segmentItem(segment) {
    const parts = [
      el("span", { class: "seg-num" }, String(segment.index + 1)),
      el("span", { class: "seg-main" },
        el("span", { class: "seg-title" }, segment.title),
        segment.product_name ? el("span", { class: "seg-product" }, segment.product_name) : null),
      label(`kind.${segment.kind}`, "span", { class: `seg-kind kind-${segment.kind}` }),
      label("show.skipped", "span", { class: "badge seg-skipped", hidden: true }),
      el("span", { class: "seg-duration" }, clock(segment.duration_s)),
    ];
    const body = this.canControl
      ? el("button", { type: "button", class: "seg-body", onclick: () => this.goto(segment.index) }, ...parts)
      : el("div", { class: "seg-body" }, ...parts);
    return el("li", { class: "seg", dataset: { index: String(segment.index), kind: segment.kind } }, body);
  }

  relabel() {
    const value = this.timeline;
    if (!value) return;
    const phase = value.phase || "not_started";
    this.phase.dataset.phase = phase;
    setLabel(this.phase, `phase.${phase}`);
    const segment = value.segments?.[value.index];
    delete this.current.dataset.i18n; // from now on its text has variables
    this.current.textContent = segment
      ? `${t("show.segment", { n: segment.index + 1 })} · ${segment.title}`
      : t(phase === "ended" ? "phase.ended" : "show.none");
    this.planned.textContent = t("show.planned", { clock: clock(value.planned_s) });
    const last = (value.segments?.length || 0) - 1;
    for (const { spec, node } of this.buttons) {
      let allowed = spec.phases.includes(phase);
      if (spec.command === "next" || spec.command === "skip") allowed &&= value.index < last;
      if (spec.command === "previous") allowed &&= value.index > 0;
      node.disabled = !allowed;
      // Start only before the show, resume only while paused, pause otherwise.
      if (spec.command === "start") node.hidden = phase !== "not_started";
      if (spec.command === "resume") node.hidden = phase !== "paused";
      if (spec.command === "pause") node.hidden = phase === "paused";
    }
    for (const cue of this.cues.values()) this.renderCue(cue);
  }

  // Called a few times a second: the current segment's time left.
  tick() {
    const value = this.timeline;
    let seconds = null;
    let paused = false;
    if (value?.phase === "paused") {
      paused = true;
      seconds = this.prompter?.index === value.index ? this.prompter.time_left_s : null;
    } else if (value?.ends_at_ms) {
      seconds = (value.ends_at_ms - this.now()) / 1000;
    }
    const overtime = seconds !== null && seconds < 0;
    this.left.textContent = clock(seconds === null ? null : Math.ceil(seconds));
    this.left.classList.toggle("overtime", overtime);
    this.left.classList.toggle("paused", paused);
    const key = paused ? "show.paused" : overtime ? "show.overtime" : "show.left";
    if (this.leftLabel.dataset.i18n !== key) setLabel(this.leftLabel, key);
  }

  // Manual cues and their acknowledgements; automatic cues belong to the alerts panel.
  onEvent(event) {
    if (event.type === "cue" && !event.auto) {
      this.noteCue({ cue: event.cue, text: event.text, level: event.level, from: event.from, at: this.now() });
    } else if (event.type === "cue_ack") {
      const cue = this.cues.get(event.cue);
      if (!cue) {
        this.onAutoCueAck?.(event);
        return;
      }
      cue.by = event.by;
      cue.ackedAt = this.now();
      this.renderCue(cue);
    }
  }

  noteCue({ cue: id, text, level, from, at }) {
    let cue = this.cues.get(id);
    if (!cue) {
      cue = { id, text, level: level || "info", from: "", at, by: "", ackedAt: 0 };
      cue.node = el("li", { class: "cue", dataset: { cue: id } });
      this.cues.set(id, cue);
      this.cueList.prepend(cue.node);
      this.cueEmpty.hidden = true;
      trimBack(this.cueList, CUE_CAP);
      if (this.cues.size > CUE_CAP * 2) {
        for (const key of [...this.cues.keys()].slice(0, CUE_CAP)) this.cues.delete(key);
      }
    }
    if (from) cue.from = from;
    this.renderCue(cue);
  }

  renderCue(cue) {
    cue.node.dataset.level = cue.level;
    cue.node.classList.toggle("acked", Boolean(cue.by));
    const status = cue.by ? t("cue.acked", { by: cue.by, time: hhmmss(cue.ackedAt) }) : t("cue.sent");
    cue.node.replaceChildren(
      el("div", { class: "cue-top" },
        el("span", { class: `badge level-${cue.level}` }, t(`cue.level.${cue.level}`) === `cue.level.${cue.level}` ? cue.level : t(`cue.level.${cue.level}`)),
        el("time", {}, hhmmss(cue.at)),
        cue.from ? el("span", { class: "cue-from" }, t("cue.from", { from: cue.from })) : null),
      el("p", { class: "cue-text" }, cue.text),
      el("p", { class: "cue-status" }, status));
  }
}
