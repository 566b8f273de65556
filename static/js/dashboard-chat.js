// The comment stream: newest at the bottom, filters (all / questions / one viewer),
// short repeats within a tick folded into one row ("1" ×35), a notice when the server
// sampled or dropped chat. Built for floods: items are queued and written to the DOM
// once per animation frame, the list keeps at most ROW_CAP rows, and autoscroll pauses
// while the controller reads further up.
import { el, t } from "./livecon.js";
import { button, codePoints, count, hhmmss, label, panel, trimFront } from "./dashboard-ui.js";

export const ROW_CAP = 500;
const BUFFER_CAP = 3000;
const SHORT = 4; // code points: "1", "666", "扣1", "好的" fold; sentences do not
const QUESTION = /[?？]|吗|呢|怎么|多少|能不能|有没有|什么|\b(?:how|what|when|can)\b/i;

export function isQuestion(item) {
  return Boolean(item.question) || QUESTION.test(String(item.text || ""));
}

// How many comments one item stands for: the server folds short repeats within a tick
// into the first one's "count".
function weight(item) {
  return Math.max(1, Number(item.count) || 1);
}

// One tick's items as entries: repeated short texts become one fold entry placed where
// the text first appeared; everything else stays one entry per item.
export function foldBatch(items) {
  const groups = new Map();
  const keyOf = (item) => {
    const text = String(item.text || "").trim();
    return codePoints(text) <= SHORT ? text.toLowerCase() : null;
  };
  for (const item of items) {
    const key = keyOf(item);
    if (key === null) continue;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(item);
  }
  const entries = [];
  const placed = new Set();
  for (const item of items) {
    const key = keyOf(item);
    const group = key === null ? null : groups.get(key);
    if (group && group.length > 1) {
      if (placed.has(key)) continue;
      placed.add(key);
      const last = group[group.length - 1];
      const total = group.reduce((sum, one) => sum + weight(one), 0);
      entries.push({ id: last.id, text: last.text, ts: last.ts, question: isQuestion(last), items: group, total });
    } else {
      entries.push(single(item));
    }
  }
  return entries;
}

function plain(item) {
  return { id: item.id, text: item.text, ts: item.ts, question: isQuestion(item), item };
}

function single(item) {
  const entry = plain(item);
  if (weight(item) > 1) Object.assign(entry, { items: [item], total: weight(item) });
  return entry;
}

export class ChatPanel {
  // hooks: decorate(row, item) adds moderation controls; flagged(id) says a comment hit
  // the compliance check (set by dashboard-moderation.js).
  constructor(hooks = {}) {
    this.hooks = hooks;
    this.entries = [];
    this.pending = [];
    this.filter = { mode: "all", user: "", name: "" };
    this.stuck = true;
    this.unseen = 0;
    this.total = 0;
    this.scheduled = false;
    this.noticeVars = null;
    this.noticeTimer = 0;
    this.removedIds = new Set();
    this.node = this.build();
  }

  build() {
    this.counter = el("span", { class: "panel-meta", "aria-live": "off" });
    this.allButton = button("chat.all", () => this.setFilter("all"), { class: "chip", "aria-pressed": "true" });
    this.questionButton = button("chat.questions", () => this.setFilter("questions"), { class: "chip", "aria-pressed": "false" });
    this.flaggedButton = button("mod.flagged", () => this.setFilter("flagged"), { class: "chip chip-flagged", "aria-pressed": "false" });
    this.heldButton = button("mod.held", () => this.setFilter("held"), { class: "chip chip-held", "aria-pressed": "false" });
    this.userButton = el("button", { type: "button", class: "chip chip-user", "aria-pressed": "true", hidden: true,
      onclick: () => this.setFilter("all") });
    this.notice = el("p", { class: "chat-notice", hidden: true });
    this.list = el("div", { class: "chat-list", role: "log", "aria-live": "off", tabindex: "0",
      "aria-labelledby": "chat-heading" });
    this.empty = label("chat.empty", "p", { class: "empty" });
    this.more = el("button", { type: "button", class: "chat-more", hidden: true, onclick: () => this.stick() });
    this.list.addEventListener("scroll", () => this.scrolled(), { passive: true });
    this.list.addEventListener("click", (event) => {
      const who = event.target.closest("button.who");
      if (who) this.setFilter("user", who.dataset.user, who.textContent);
    });
    const section = panel("chat", "chat.heading",
      this.toolbar = el("div", { class: "toolbar", role: "group", "aria-label": t("chat.heading") },
        this.allButton, this.questionButton, this.flaggedButton, this.heldButton, this.userButton, label("chat.userHint", "span", { class: "hint" })),
      this.notice, el("div", { class: "chat-body" }, this.empty, this.list, this.more));
    section.querySelector(".panel-head").append(this.counter);
    this.relabel();
    return section;
  }

  receive(items, meta) {
    const weighed = items.reduce((sum, item) => sum + weight(item), 0);
    this.total += Math.max(weighed, meta.sampled && meta.total ? meta.total : 0);
    if (meta.sampled) this.showNotice("chat.sampled", { shown: items.length, total: meta.total ?? items.length });
    const entries = foldBatch(items);
    for (const entry of entries) {
      this.entries.push(entry);
      for (const row of this.rowsFor(entry)) this.pending.push(row);
    }
    if (this.entries.length > BUFFER_CAP * 1.5) this.entries.splice(0, this.entries.length - BUFFER_CAP);
    if (this.pending.length > ROW_CAP * 2) this.pending.splice(0, this.pending.length - ROW_CAP);
    this.schedule();
  }

  // A comment hidden or deleted by a moderator stays visible here, struck through.
  removed(id) {
    if (!id) return;
    this.removedIds.add(id);
    if (this.removedIds.size > BUFFER_CAP) this.removedIds.delete(this.removedIds.values().next().value);
    this.list.querySelector(`[data-id="${CSS.escape(id)}"]`)?.classList.add("removed");
  }

  dropped(countMissed) {
    this.total += countMissed;
    this.showNotice("chat.dropped", { count: countMissed });
  }

  showNotice(key, vars) {
    this.noticeVars = { key, vars };
    this.notice.textContent = t(key, vars);
    this.notice.hidden = false;
    clearTimeout(this.noticeTimer);
    this.noticeTimer = setTimeout(() => { this.notice.hidden = true; this.noticeVars = null; }, 10000);
  }

  rowsFor(entry) {
    const { mode, user } = this.filter;
    if (mode === "questions") return entry.question ? [entry] : [];
    if (mode === "flagged") return entry.item && this.hooks.flagged?.(entry.item.id) ? [entry] : [];
    if (mode === "held") return entry.item?.moderation ? [entry] : [];
    if (mode === "user") {
      // The viewer's own comment, not the fold it opened: the others in it are not theirs.
      if (entry.items) return entry.items.filter((item) => item.user === user).map(plain);
      return entry.item.user === user ? [entry] : [];
    }
    return [entry];
  }

  schedule() {
    if (this.scheduled) return;
    this.scheduled = true;
    const run = () => {
      if (!this.scheduled) return;
      this.scheduled = false;
      this.flush();
    };
    requestAnimationFrame(run);
    setTimeout(run, 250); // rAF does not run in a hidden tab; chat must still be written
  }

  flush() {
    let rows = this.pending;
    this.pending = [];
    this.counter.textContent = t("chat.count", { count: count(this.total) });
    if (rows.length === 0) return;
    if (rows.length > ROW_CAP) rows = rows.slice(-ROW_CAP);
    const fragment = document.createDocumentFragment();
    for (const row of rows) fragment.append(this.render(row));
    const excess = this.list.childElementCount + rows.length - ROW_CAP;
    const anchor = !this.stuck && excess > 0 ? this.list.children[excess] : null;
    const anchorTop = anchor ? anchor.offsetTop : 0;
    this.list.append(fragment);
    trimFront(this.list, ROW_CAP);
    this.empty.hidden = true;
    if (this.stuck) {
      this.list.scrollTop = this.list.scrollHeight;
    } else {
      if (anchor) this.list.scrollTop -= anchorTop - anchor.offsetTop;
      else if (excess > 0) this.list.scrollTop = 0;
      this.unseen += rows.length;
      this.more.textContent = t("chat.newBelow", { count: count(this.unseen) });
      this.more.hidden = false;
    }
  }

  render(entry) {
    const time = el("time", { datetime: new Date(entry.ts || Date.now()).toISOString() }, hhmmss(entry.ts));
    if (entry.items && (entry.total > 1 || entry.items.length > 1)) {
      const names = entry.items.slice(0, 8).map((item) => item.name || item.user).join("、");
      return el("div", { class: `msg fold${entry.question ? " question" : ""}`, title: names, dataset: { id: entry.id || "" } },
        time, el("span", { class: "text" }, entry.text), el("span", { class: "times" }, `×${count(entry.total)}`));
    }
    const item = entry.item || entry.items[0];
    const role = item.role && item.role !== "viewer" ? el("span", { class: "badge role" }, item.role) : null;
    const question = entry.question ? label("chat.question", "span", { class: "badge q" }) : null;
    // Held or hidden by moderation: only staff receive these; shown marked, never to viewers.
    const held = item.moderation ? el("span", { class: "badge held" }, item.moderation) : null;
    const gone = this.removedIds.has(item.id) ? " removed" : "";
    const row = el("div", { class: `msg${entry.question ? " question" : ""}${held ? " moderated" : ""}${gone}`, dataset: { id: item.id || "" } },
      time, el("button", { type: "button", class: "who", dataset: { user: item.user || "" } }, item.name || item.user || "?"),
      role, question, held, el("span", { class: "text" }, item.text));
    this.hooks.decorate?.(row, item);
    return row;
  }

  setFilter(mode, user = "", name = "") {
    this.filter = { mode, user, name };
    this.relabel();
    this.pending = [];
    const rows = [];
    for (let index = this.entries.length - 1; index >= 0 && rows.length < ROW_CAP; index--) {
      const found = this.rowsFor(this.entries[index]);
      for (let inner = found.length - 1; inner >= 0 && rows.length < ROW_CAP; inner--) rows.push(found[inner]);
    }
    rows.reverse();
    this.list.replaceChildren(...rows.map((row) => this.render(row)));
    this.empty.hidden = rows.length > 0;
    this.stick();
  }

  stick() {
    this.stuck = true;
    this.unseen = 0;
    this.more.hidden = true;
    this.list.scrollTop = this.list.scrollHeight;
  }

  scrolled() {
    const { scrollTop, clientHeight, scrollHeight } = this.list;
    this.stuck = scrollTop + clientHeight >= scrollHeight - 24;
    if (this.stuck) {
      this.unseen = 0;
      this.more.hidden = true;
    }
  }

  relabel() {
    const { mode, name } = this.filter;
    this.allButton.setAttribute("aria-pressed", String(mode === "all"));
    this.questionButton.setAttribute("aria-pressed", String(mode === "questions"));
    this.flaggedButton.setAttribute("aria-pressed", String(mode === "flagged"));
    this.heldButton.setAttribute("aria-pressed", String(mode === "held"));
    this.userButton.hidden = mode !== "user";
    this.userButton.textContent = `${t("chat.user", { name })} ✕`;
    this.userButton.setAttribute("aria-label", t("chat.clearUser", { name }));
    this.counter.textContent = t("chat.count", { count: count(this.total) });
    this.toolbar?.setAttribute("aria-label", t("chat.heading"));
    if (this.noticeVars) this.notice.textContent = t(this.noticeVars.key, this.noticeVars.vars);
    if (!this.more.hidden) this.more.textContent = t("chat.newBelow", { count: count(this.unseen) });
  }
}
