// The lottery panel (抽奖 / 福袋), controllers and admins only: open a lottery (empty
// fields take the lottery segment on air's settings, server side), the live entrant
// count and countdown from state "lottery", draw and cancel, the winners (names from
// lottery_drawn, user ids from lottery_winners) and the seed's hash, then the seed.
import { addStrings, clock, el, t } from "./livecon.js";
import { button, fanBadge, fanSelect, field, label, panel } from "./dashboard-ui.js";

addStrings({
  zh: {
    "lot.heading": "抽奖",
    "lot.prize": "奖品", "lot.keyword": "口令", "lot.winners": "中奖人数", "lot.window": "参与时长（秒）",
    "lot.eligibility": "参与资格", "lot.fans": "谁可以参与", "lot.elig.comment": "评论口令", "lot.elig.buyers": "本场下单用户",
    "lot.fromSegment": "当前是抽奖环节「{title}」：留空的项使用脚本设置",
    "lot.open": "开始抽奖", "lot.draw": "开奖", "lot.cancel": "取消抽奖",
    "lot.none": "暂无抽奖",
    "lot.status.open": "进行中", "lot.status.drawn": "已开奖", "lot.status.cancelled": "已取消",
    "lot.entrants": "参与 {count} 人", "lot.left": "剩余 {clock}", "lot.closed": "参与已截止",
    "lot.summary": "{prize} · 口令「{keyword}」 · {n} 名",
    "lot.seedHash": "种子哈希 {hash}", "lot.seed": "种子 {seed}",
    "lot.winnersTitle": "中奖名单", "lot.noWinners": "无人中奖",
    "lot.confirmDraw": "现在开奖？", "lot.confirmCancel": "取消这次抽奖？",
    "act.lot.open": "开始抽奖", "act.lot.draw": "开奖", "act.lot.cancel": "取消抽奖",
  },
  en: {
    "lot.heading": "Lottery",
    "lot.prize": "Prize", "lot.keyword": "Keyword", "lot.winners": "Winners", "lot.window": "Window (s)",
    "lot.eligibility": "Who can enter", "lot.fans": "Which fans", "lot.elig.comment": "Comment the keyword", "lot.elig.buyers": "Buyers of this show",
    "lot.fromSegment": "Lottery segment on air ({title}): empty fields take the script's settings",
    "lot.open": "Open lottery", "lot.draw": "Draw", "lot.cancel": "Cancel lottery",
    "lot.none": "No lottery yet",
    "lot.status.open": "Open", "lot.status.drawn": "Drawn", "lot.status.cancelled": "Cancelled",
    "lot.entrants": "{count} entrants", "lot.left": "{clock} left", "lot.closed": "Entries closed",
    "lot.summary": "{prize} · keyword \u201c{keyword}\u201d · {n} winners",
    "lot.seedHash": "Seed hash {hash}", "lot.seed": "Seed {seed}",
    "lot.winnersTitle": "Winners", "lot.noWinners": "No winners",
    "lot.confirmDraw": "Draw the lottery now?", "lot.confirmCancel": "Cancel this lottery?",
    "act.lot.open": "Open lottery", "act.lot.draw": "Draw", "act.lot.cancel": "Cancel lottery",
  },
});

export class LotteryPanel {
  constructor({ actions, confirmer, now, onAction = () => {} }) {
    Object.assign(this, { actions, confirmer, now, onAction });
    this.value = null;
    this.winnerIds = new Map(); // lottery id -> [{user, name}]
    this.segment = null;
    this.node = this.build();
  }

  build() {
    this.prize = el("input", { type: "text", maxlength: "100", class: "lot-prize" });
    this.keyword = el("input", { type: "text", maxlength: "20", class: "lot-keyword" });
    this.winners = el("input", { type: "number", min: "1", max: "1000", step: "1", class: "lot-winners" });
    this.window = el("input", { type: "number", min: "10", max: "3600", step: "1", class: "lot-window" });
    this.eligibility = el("select", { class: "lot-eligibility" },
      el("option", { value: "comment", dataset: { i18n: "lot.elig.comment" } }, t("lot.elig.comment")),
      el("option", { value: "buyers", dataset: { i18n: "lot.elig.buyers" } }, t("lot.elig.buyers")));
    this.fans = fanSelect("lot-fans");
    this.hint = el("p", { class: "hint lot-hint", hidden: true });
    this.openButton = el("button", { type: "submit", class: "primary lot-open", dataset: { i18n: "lot.open" } }, t("lot.open"));
    this.form = el("form", { class: "lot-form" },
      field("lot.prize", this.prize), field("lot.keyword", this.keyword),
      el("div", { class: "row" }, field("lot.winners", this.winners), field("lot.window", this.window)),
      el("div", { class: "row" }, field("lot.eligibility", this.eligibility), field("lot.fans", this.fans)), this.hint, el("div", { class: "row" }, this.openButton));
    this.form.addEventListener("submit", (event) => { event.preventDefault(); this.open(); });
    this.status = el("span", { class: "lot-status-text" });
    this.fansBadge = el("span", { class: "badge fans-badge lot-fans-badge", hidden: true });
    this.countdown = el("span", { class: "lot-countdown" });
    this.entrants = el("span", { class: "lot-entrants" });
    this.seedLine = el("p", { class: "lot-seed" });
    this.winnerList = el("ol", { class: "lot-winners-list" });
    this.drawButton = button("lot.draw", () => this.command("draw"), { class: "primary lot-draw" });
    this.cancelButton = button("lot.cancel", () => this.command("cancel"), { class: "lot-cancel" });
    this.live = el("div", { class: "lot-live", hidden: true },
      el("p", { class: "lot-status" }, this.status, this.fansBadge), el("p", { class: "lot-figures", "aria-live": "polite" }, this.entrants, this.countdown),
      el("div", { class: "row" }, this.drawButton, this.cancelButton),
      this.winnersTitle = label("lot.winnersTitle", "h3", { hidden: true }), this.winnerList, this.seedLine);
    this.empty = label("lot.none", "p", { class: "empty" });
    return panel("lottery", "lot.heading", this.form, this.empty, this.live);
  }

  // The timeline's current segment: a lottery segment means the server has defaults.
  setTimeline(value) {
    const segment = (value?.segments || [])[value?.index ?? -1];
    this.segment = segment?.kind === "lottery" ? segment : null;
    this.renderHint();
  }

  renderHint() {
    this.hint.hidden = !this.segment;
    if (this.segment) this.hint.textContent = t("lot.fromSegment", { title: this.segment.title || "" });
  }

  async open() {
    const frame = { t: "lottery", command: "open", eligibility: this.eligibility.value };
    const prize = this.prize.value.trim();
    const keyword = this.keyword.value.trim();
    if (prize) frame.prize = prize;
    if (keyword) frame.keyword = keyword;
    if (this.winners.value) frame.winners = Number(this.winners.value);
    if (this.window.value) frame.window_s = Number(this.window.value);
    if (this.fans.value) frame.fans = this.fans.value;
    await this.actions.fire(frame, "act.lot.open");
    this.onAction();
  }

  async command(command) {
    if (!(await this.confirmer.ask(t(command === "draw" ? "lot.confirmDraw" : "lot.confirmCancel")))) return;
    await this.actions.fire({ t: "lottery", command }, `act.lot.${command}`);
    this.onAction();
  }

  setLottery(value) {
    this.value = value;
    this.render();
  }

  onEvent(event) {
    if (event.type === "lottery_drawn" || event.type === "lottery_opened") {
      this.value = { ...(this.value || {}), ...event };
      delete this.value.type;
      this.render();
    } else if (event.type === "lottery_winners") {
      this.winnerIds.set(event.lottery, event.winners || []);
      this.render();
    }
  }

  render() {
    const value = this.value;
    this.empty.hidden = Boolean(value);
    this.live.hidden = !value;
    if (!value) return;
    const open = value.status === "open";
    this.node.dataset.status = value.status || "";
    this.status.textContent = `${t(`lot.status.${value.status}`)} · ${t("lot.summary",
      { prize: value.prize || "", keyword: value.keyword || "—", n: value.winners_count ?? "" })}`;
    fanBadge(this.fansBadge, value.fans);
    this.entrants.textContent = t("lot.entrants", { count: value.entrants ?? 0 });
    this.drawButton.hidden = !open;
    this.cancelButton.hidden = !open;
    this.openButton.disabled = open;
    const ids = this.winnerIds.get(value.lottery);
    const names = value.winners || [];
    const winners = ids && ids.length ? ids : names.map((name) => ({ name, user: "" }));
    this.winnersTitle.hidden = value.status !== "drawn";
    this.winnerList.replaceChildren(...(value.status === "drawn" ? winners : []).map((one) => el("li", { class: "lot-winner" },
      el("span", { class: "lot-winner-name" }, one.name || one.user),
      one.user ? el("span", { class: "hint lot-winner-user" }, one.user) : null)));
    if (value.status === "drawn" && winners.length === 0) this.winnerList.append(el("li", { class: "hint" }, t("lot.noWinners")));
    this.seedLine.replaceChildren(el("small", {}, t("lot.seedHash", { hash: value.seed_sha256 || "" })),
      value.seed ? el("small", { class: "lot-seed-value" }, t("lot.seed", { seed: value.seed })) : null);
    this.tick();
  }

  tick() {
    if (!this.value) return;
    if (this.value.status !== "open") { this.countdown.textContent = ""; return; }
    const left = Math.max(0, Math.ceil(((this.value.closes_at_ms || 0) - this.now()) / 1000));
    this.countdown.textContent = ` · ${left > 0 ? t("lot.left", { clock: clock(left) }) : t("lot.closed")}`;
  }

  relabel() {
    this.renderHint();
    this.render();
  }
}
