// Moderation in the comment stream (评论管理): per-comment actions (hide, delete, mute,
// approve a held comment; for questions pin to the prompter and reply), FAQ suggestions
// under questions, the pinned-questions strip, slow mode and the muted viewers.
// Support uses all of it; the server checks every action anyway. Built for floods: one
// delegated click handler, row decorations are plain buttons (no per-row listeners).
import { addStrings, el, t } from "./livecon.js";
import { button, hhmmss, label, panel } from "./dashboard-ui.js";

addStrings({
  zh: {
    "mod.heading": "评论管理",
    "mod.hide": "隐藏", "mod.delete": "删除", "mod.mute10": "禁言10分", "mod.mute60": "禁言60分",
    "mod.approve": "通过", "mod.pin": "置顶到提词器", "mod.reply": "回复",
    "mod.actions": "{name} 的评论操作",
    "mod.flagged": "违规词", "mod.held": "待审核",
    "mod.approved": "已通过",
    "mod.suggest": "推荐答案（点击直接回复）",
    "mod.replyText": "回复内容", "mod.replyPin": "置顶回复给观众", "mod.send": "发送回复",
    "mod.pinned": "已置顶提问", "mod.pinnedNone": "暂无置顶提问", "mod.unpin": "取消置顶",
    "mod.unpinOne": "取消置顶：{text}",
    "mod.slow": "慢速模式", "mod.slow.0": "关闭", "mod.slow.n": "{n} 秒",
    "mod.muted": "禁言中", "mod.mutedNone": "暂无禁言观众", "mod.unmute": "解除禁言",
    "mod.until": "至 {time}",
    "mod.mutedMark": "已禁言",
    "act.mod.hide": "隐藏评论", "act.mod.delete": "删除评论", "act.mod.approve": "通过评论",
    "act.mod.mute": "禁言", "act.mod.unmute": "解除禁言", "act.pin": "置顶提问",
    "act.unpin": "取消置顶", "act.reply": "回复", "act.slow": "慢速模式",
  },
  en: {
    "mod.heading": "Moderation",
    "mod.hide": "Hide", "mod.delete": "Delete", "mod.mute10": "Mute 10 min", "mod.mute60": "Mute 60 min",
    "mod.approve": "Approve", "mod.pin": "Pin to prompter", "mod.reply": "Reply",
    "mod.actions": "Actions for {name}'s comment",
    "mod.flagged": "Flagged", "mod.held": "Held",
    "mod.approved": "Approved",
    "mod.suggest": "Suggested answers (click to reply)",
    "mod.replyText": "Reply", "mod.replyPin": "Pin reply for viewers", "mod.send": "Send reply",
    "mod.pinned": "Pinned questions", "mod.pinnedNone": "No pinned questions", "mod.unpin": "Unpin",
    "mod.unpinOne": "Unpin: {text}",
    "mod.slow": "Slow mode", "mod.slow.0": "Off", "mod.slow.n": "{n} s",
    "mod.muted": "Muted", "mod.mutedNone": "Nobody muted", "mod.unmute": "Unmute",
    "mod.until": "until {time}",
    "mod.mutedMark": "muted",
    "act.mod.hide": "Hide comment", "act.mod.delete": "Delete comment", "act.mod.approve": "Approve comment",
    "act.mod.mute": "Mute", "act.mod.unmute": "Unmute", "act.pin": "Pin question",
    "act.unpin": "Unpin", "act.reply": "Reply", "act.slow": "Slow mode",
  },
});

const SLOW_STEPS = [0, 3, 10, 30];
const MEMORY = 3000;

function remember(map, key, value) {
  map.set(key, value);
  if (map.size > MEMORY) map.delete(map.keys().next().value);
}

function modButton(key, mod, extra = {}) {
  return el("button", { type: "button", class: `mod-btn mod-${mod}`, dataset: { mod, i18n: key, ...extra } }, t(key));
}

export class Moderation {
  constructor({ actions, chat, onAction = () => {} }) {
    Object.assign(this, { actions, chat, onAction });
    this.items = new Map(); // comment id -> chat item (for approve, pin, reply)
    this.suggestions = new Map(); // comment id -> question event
    this.flaggedIds = new Map(); // comment id -> words
    this.mutedUsers = new Map(); // user id -> { name, until }
    this.pinned = [];
    this.slow = 0;
    this.node = this.build();
    chat.list.addEventListener("click", (event) => this.clicked(event));
  }

  // Hooks for the chat panel.
  flagged(id) { return this.flaggedIds.has(id); }

  decorate(row, item) {
    if (!item.id || item.reply) return;
    remember(this.items, item.id, item);
    if (this.flaggedIds.has(item.id)) row.classList.add("flagged");
    if (item.approvedHere) {
      row.classList.add("approved");
      row.querySelector(".badge.held")?.replaceChildren(t("mod.approved"));
    }
    const who = row.querySelector("button.who");
    if (who && this.mutedUsers.has(item.user)) who.classList.add("muted");
    const bar = el("span", { class: "mod-actions", role: "group",
      "aria-label": t("mod.actions", { name: item.name || item.user || "?" }) });
    if (item.moderation && !item.approvedHere) bar.append(modButton("mod.approve", "approve"));
    if (row.classList.contains("question")) bar.append(modButton("mod.pin", "pin"), modButton("mod.reply", "reply"));
    bar.append(modButton("mod.hide", "hide"), modButton("mod.delete", "delete"),
      modButton("mod.mute10", "mute", { minutes: "10" }), modButton("mod.mute60", "mute", { minutes: "60" }));
    row.append(bar);
    const question = this.suggestions.get(item.id);
    if (question?.suggestions?.length) row.append(this.suggestionList(question));
  }

  build() {
    this.pinnedList = el("ul", { class: "pinned-list" });
    this.pinnedEmpty = label("mod.pinnedNone", "p", { class: "empty" });
    this.slowButtons = SLOW_STEPS.map((seconds) => el("button", {
      type: "button", class: "chip slow-chip", "aria-pressed": String(seconds === 0), dataset: { seconds: String(seconds) },
      onclick: () => this.setSlow(seconds),
    }, this.slowLabel(seconds)));
    this.slowGroup = el("div", { class: "slow-mode", role: "group", "aria-labelledby": "slow-label" },
      label("mod.slow", "span", { id: "slow-label", class: "hint" }), ...this.slowButtons);
    this.mutedList = el("ul", { class: "muted-list" });
    this.mutedEmpty = label("mod.mutedNone", "p", { class: "empty" });
    return panel("moderation", "mod.heading",
      el("div", { class: "pinned-strip" }, label("mod.pinned", "h3"), this.pinnedEmpty, this.pinnedList),
      this.slowGroup,
      el("div", { class: "muted-box" }, label("mod.muted", "h3"), this.mutedEmpty, this.mutedList));
  }

  slowLabel(seconds) {
    return seconds ? t("mod.slow.n", { n: seconds }) : t("mod.slow.0");
  }

  run(frame, key) {
    const done = this.actions.fire(frame, key);
    done.then(() => this.onAction());
    return done;
  }

  clicked(event) {
    const target = event.target.closest("button[data-mod], button[data-answer]");
    if (!target) return;
    const row = target.closest(".msg");
    const item = this.items.get(row?.dataset.id || "");
    if (!item) return;
    if (target.dataset.answer !== undefined) {
      const question = this.suggestions.get(item.id);
      const answer = question?.suggestions?.[Number(target.dataset.answer)];
      if (answer) this.run({ t: "reply", text: answer.a, comment: item.id, question: item.text }, "act.reply");
      return;
    }
    const comment = item.id;
    switch (target.dataset.mod) {
      case "hide": case "delete":
        this.run({ t: "moderate", action: target.dataset.mod, comment }, `act.mod.${target.dataset.mod}`);
        break;
      case "mute":
        this.run({ t: "moderate", action: "mute", user: item.user, name: item.name || "",
          minutes: Number(target.dataset.minutes) }, "act.mod.mute");
        break;
      case "approve":
        this.approve(item, row);
        break;
      case "pin":
        this.run({ t: "pin", comment, text: item.text, name: item.name || item.user || "" }, "act.pin");
        break;
      case "reply":
        this.compose(item, row);
        break;
      default: break;
    }
  }

  async approve(item, row) {
    const ack = await this.run({ t: "moderate", action: "approve", comment: item.id, user: item.user,
      name: item.name || "", text: item.text }, "act.mod.approve");
    if (!ack) return;
    item.approvedHere = true;
    row.classList.add("approved");
    row.querySelector(".mod-approve")?.remove();
    row.querySelector(".badge.held")?.replaceChildren(t("mod.approved"));
  }

  // A small composer under the question, prefilled with the best FAQ answer.
  compose(item, row) {
    const open = row.querySelector(".reply-form");
    if (open) { open.querySelector("textarea")?.focus(); return; }
    const best = this.suggestions.get(item.id)?.suggestions?.[0]?.a || "";
    const text = el("textarea", { class: "reply-text", rows: "2", maxlength: "500", id: `reply-${item.id}` });
    text.value = best;
    const pin = el("input", { type: "checkbox", class: "reply-pin", id: `reply-pin-${item.id}` });
    const form = el("form", { class: "reply-form" },
      label("mod.replyText", "label", { for: text.id }), text,
      el("div", { class: "row" },
        el("span", { class: "check-inline" }, pin, label("mod.replyPin", "label", { for: pin.id })),
        button("btn.cancel", () => form.remove()),
        el("button", { type: "submit", class: "primary", dataset: { i18n: "mod.send" } }, t("mod.send"))));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const value = text.value.trim();
      if (!value) { text.focus(); return; }
      const ack = await this.run({ t: "reply", text: value, comment: item.id, question: item.text, pin: pin.checked }, "act.reply");
      if (ack) form.remove();
    });
    form.addEventListener("keydown", (event) => { if (event.key === "Escape") form.remove(); });
    row.append(form);
    text.focus();
  }

  suggestionList(question) {
    return el("div", { class: "suggestions" }, label("mod.suggest", "p", { class: "hint" }),
      el("ul", {}, ...question.suggestions.slice(0, 3).map((one, index) => el("li", {},
        el("button", { type: "button", class: "suggestion", dataset: { answer: String(index) }, title: one.a },
          el("span", { class: "suggest-q" }, one.q), " → ", el("span", { class: "suggest-a" }, one.a))))));
  }

  row(id) {
    return this.chat.list.querySelector(`.msg[data-id="${CSS.escape(id)}"]`);
  }

  onEvent(event) {
    switch (event.type) {
      case "question":
        if (!event.comment) break;
        remember(this.suggestions, event.comment, event);
        if (event.suggestions?.length) {
          const row = this.row(event.comment);
          if (row && !row.querySelector(".suggestions")) row.append(this.suggestionList(event));
        }
        break;
      case "compliance":
        if (!event.comment) break;
        remember(this.flaggedIds, event.comment, event.words || []);
        this.row(event.comment)?.classList.add("flagged");
        break;
      case "muted":
        remember(this.mutedUsers, event.user, { until: event.until_ms, name: this.nameOf(event.user) });
        this.markUser(event.user, true);
        this.renderMuted();
        break;
      case "unmuted":
        this.mutedUsers.delete(event.user);
        this.markUser(event.user, false);
        this.renderMuted();
        break;
      default: break;
    }
  }

  nameOf(user) {
    for (const item of [...this.items.values()].reverse()) if (item.user === user) return item.name || user;
    return user;
  }

  markUser(user, muted) {
    for (const who of this.chat.list.querySelectorAll(`button.who[data-user="${CSS.escape(user)}"]`)) {
      who.classList.toggle("muted", muted);
      who.title = muted ? t("mod.mutedMark") : "";
    }
  }

  renderMuted() {
    const now = Date.now();
    for (const [user, one] of this.mutedUsers) if (one.until && one.until < now) this.mutedUsers.delete(user);
    this.mutedEmpty.hidden = this.mutedUsers.size > 0;
    this.mutedList.replaceChildren(...[...this.mutedUsers].map(([user, one]) => el("li", { dataset: { user } },
      el("span", { class: "muted-name" }, one.name || user),
      el("span", { class: "hint" }, t("mod.until", { time: hhmmss(one.until) })),
      button("mod.unmute", () => this.run({ t: "moderate", action: "unmute", user }, "act.mod.unmute"),
        { class: "mod-unmute" }))));
  }

  setPinned(value) {
    this.pinned = value?.items || [];
    this.renderPinned();
  }

  renderPinned() {
    this.pinnedEmpty.hidden = this.pinned.length > 0;
    this.pinnedList.replaceChildren(...this.pinned.map((one) => el("li", { class: "pinned", dataset: { comment: one.comment } },
      el("span", { class: "pinned-name" }, one.name || ""), el("span", { class: "pinned-text" }, one.text),
      el("button", { type: "button", class: "mod-unpin", "aria-label": t("mod.unpinOne", { text: one.text }),
        onclick: () => this.run({ t: "unpin", comment: one.comment }, "act.unpin") }, t("mod.unpin")))));
  }

  setSlowMode(value) {
    this.slow = Number(value?.seconds) || 0;
    for (const chip of this.slowButtons) chip.setAttribute("aria-pressed", String(Number(chip.dataset.seconds) === this.slow));
  }

  setSlow(seconds) {
    if (seconds === this.slow) return;
    this.run({ t: "slow_mode", seconds }, "act.slow");
  }

  relabel() {
    for (const chip of this.slowButtons) chip.textContent = this.slowLabel(Number(chip.dataset.seconds));
    this.renderPinned();
    this.renderMuted();
  }
}
