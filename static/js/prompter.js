// The host's teleprompter (主播提词器): what to say now, the clock, live price and stock,
// the flash-sale countdown, cues from the team and pinned questions. Read from 2-3 m,
// often through beam-splitter glass (mirror mode). Next / previous from the keyboard,
// a presentation clicker or a foot pedal.
// One socket (Hub); every text from the server goes in as text (el() / textContent).
import {
  Hub, addStrings, bindLangSwitch, bindStatus, clock, currentLang, el, money, t,
} from "./livecon.js";

addStrings({
  zh: {
    "p.phase.not_started": "未开播", "p.phase.live": "直播中", "p.phase.paused": "已暂停",
    "p.phase.closing": "收尾", "p.phase.ended": "已下播",
    "p.kind.opening": "开场", "p.kind.intro": "介绍", "p.kind.interaction": "互动",
    "p.kind.product": "商品", "p.kind.lottery": "福袋", "p.kind.qa": "答疑", "p.kind.closing": "收尾",
    "p.segment": "第 {n}/{count} 段", "p.waiting": "等待场控开播", "p.waiting.title": "直播即将开始",
    "p.first": "第一段", "p.next": "下一段", "p.next.last": "这是最后一段",
    "p.timer": "本段剩余", "p.timer.over": "已超时", "p.timer.paused": "已暂停",
    "p.prompt": "互动口令", "p.prompt.count": "已收到 {n} 条",
    "p.urgency": "逼单话术",
    "p.price.live": "直播价", "p.price.anchor": "日常价", "p.saving": "省 {amount}",
    "p.stock": "剩余 {n} 件", "p.stock.low": "只剩 {n} 件", "p.stock.sold": "已售 {n} 件",
    "p.limit": "每人限购 {n} 件",
    "p.fans.new": "新粉专享", "p.fans.returning": "老粉专享价",
    "p.fans.say.new": "第一次来的朋友专享，老粉看下一款",
    "p.fans.say.returning": "老朋友专享，新朋友点关注，下一场也能抢",
    "p.sale": "秒杀倒计时", "p.sale.paused": "秒杀已暂停", "p.sale.ended": "秒杀已结束",
    "p.sale.none": "尚未开售", "p.sale.scheduled": "即将开抢",
    "p.soldout": "已售罄", "p.soldout.say": "告诉大家已经抢光，准备下一款",
    "p.pinned": "置顶问题",
    "p.cue.ack": "按 Enter / 空格 或点一下 确认", "p.cue.from": "来自 {from}", "p.cue.more": "后面还有 {n} 条",
    "p.cue.auto": "系统提醒", "p.cue.level.urgent": "紧急", "p.cue.level.warning": "注意",
    "p.cue.level.info": "提示",
    "p.step.ok": "已切换：第 {n}/{count} 段", "p.step.failed": "无法切换：{reason}",
    "p.step.offline": "未连接，无法切换", "p.step.timeout": "服务器没有响应，请再按一次",
    "p.ack.failed": "确认没有发出：{reason}", "p.ack.ok": "已确认",
    "p.online": "{n} 人在线",
    "p.ended": "直播已结束", "p.ended.thanks": "辛苦了！记得保存回放和数据。",
    "p.tb.label": "提词器设置", "p.tb.mirror": "镜像", "p.tb.mirror.title": "镜像显示（分光玻璃提词器）",
    "p.tb.smaller": "A−", "p.tb.smaller.title": "字号减小", "p.tb.bigger": "A+",
    "p.tb.bigger.title": "字号增大", "p.tb.font": "字号 {n}%",
    "p.tb.scroll": "滚动 {n}", "p.tb.scroll.off": "滚动 关", "p.tb.slower.title": "自动滚动减慢",
    "p.tb.faster.title": "自动滚动加快", "p.tb.full": "全屏", "p.tb.full.title": "全屏显示",
    "p.tb.hide": "隐藏", "p.tb.hide.title": "隐藏工具栏", "p.tb.show.title": "显示工具栏",
    "p.tb.keys": "→ / PageDown 下一段 · ← / PageUp 上一段",
    "p.conn": "连接状态：{status}",
  },
  en: {
    "p.phase.not_started": "Not started", "p.phase.live": "Live", "p.phase.paused": "Paused",
    "p.phase.closing": "Closing", "p.phase.ended": "Ended",
    "p.kind.opening": "Opening", "p.kind.intro": "Intro", "p.kind.interaction": "Interaction",
    "p.kind.product": "Product", "p.kind.lottery": "Lottery", "p.kind.qa": "Q&A", "p.kind.closing": "Closing",
    "p.segment": "Segment {n}/{count}", "p.waiting": "Waiting for the controller to start",
    "p.waiting.title": "The show starts soon",
    "p.first": "First up", "p.next": "Next", "p.next.last": "This is the last segment",
    "p.timer": "Time left", "p.timer.over": "Over time", "p.timer.paused": "Paused",
    "p.prompt": "Ask viewers", "p.prompt.count": "{n} replies so far",
    "p.urgency": "Urgency lines",
    "p.price.live": "Live price", "p.price.anchor": "Usually", "p.saving": "Save {amount}",
    "p.stock": "{n} left", "p.stock.low": "Only {n} left", "p.stock.sold": "{n} sold",
    "p.limit": "Limit {n} per buyer",
    "p.fans.new": "New fans only", "p.fans.returning": "Returning fans' price",
    "p.fans.say.new": "Only for first-time viewers - regulars, the next one is yours",
    "p.fans.say.returning": "For returning fans - new here? Follow, next show it's yours too",
    "p.sale": "Flash sale ends in", "p.sale.paused": "Flash sale paused", "p.sale.ended": "Flash sale ended",
    "p.sale.none": "Not on sale yet", "p.sale.scheduled": "Starting soon",
    "p.soldout": "Sold out", "p.soldout.say": "Tell viewers it is gone, move to the next one",
    "p.pinned": "Pinned questions",
    "p.cue.ack": "Press Enter / Space or tap to confirm", "p.cue.from": "From {from}",
    "p.cue.more": "{n} more waiting", "p.cue.auto": "Automatic",
    "p.cue.level.urgent": "Urgent", "p.cue.level.warning": "Warning", "p.cue.level.info": "Note",
    "p.step.ok": "Now segment {n}/{count}", "p.step.failed": "Cannot move: {reason}",
    "p.step.offline": "Not connected - cannot move", "p.step.timeout": "No answer from the server - press again",
    "p.ack.failed": "Confirmation not sent: {reason}", "p.ack.ok": "Confirmed",
    "p.online": "{n} watching",
    "p.ended": "The show has ended", "p.ended.thanks": "Well done! Remember the replay and the data.",
    "p.tb.label": "Prompter settings", "p.tb.mirror": "Mirror", "p.tb.mirror.title": "Mirror the text (beam-splitter glass)",
    "p.tb.smaller": "A−", "p.tb.smaller.title": "Smaller text", "p.tb.bigger": "A+",
    "p.tb.bigger.title": "Bigger text", "p.tb.font": "Text {n}%",
    "p.tb.scroll": "Scroll {n}", "p.tb.scroll.off": "Scroll off", "p.tb.slower.title": "Scroll slower",
    "p.tb.faster.title": "Scroll faster", "p.tb.full": "Full screen", "p.tb.full.title": "Full screen",
    "p.tb.hide": "Hide", "p.tb.hide.title": "Hide the toolbar", "p.tb.show.title": "Show the toolbar",
    "p.tb.keys": "→ / PageDown next · ← / PageUp back",
    "p.conn": "Connection: {status}",
  },
});

// ---------------------------------------------------------------- settings

const PREFS_KEY = "livecon.prompter";
const SCALES = [0.6, 0.7, 0.8, 0.9, 1, 1.15, 1.3, 1.5, 1.75, 2];
const SPEEDS = [0, 1, 2, 3, 4, 5, 6, 8];
const SCROLL_PX_PER_S = 14;            // per speed step, at text scale 1
const STEP_GUARD_MS = 300;             // a bouncing pedal or a double tap is one press
const TOAST_MS = 2200;
const NEXT_KEYS = new Set(["ArrowRight", "PageDown", "ArrowDown", "n", "N"]);
const PREVIOUS_KEYS = new Set(["ArrowLeft", "PageUp", "ArrowUp", "p", "P"]);
// Enter and Space confirm a cue; so do a clicker's "blank screen" button and Escape.
const ACK_KEYS = new Set(["Enter", " ", "Escape", ".", "b", "B"]);

function loadPrefs() {
  const prefs = { mirror: false, scale: 1, speed: 0, toolbar: true };
  try {
    const saved = JSON.parse(localStorage.getItem(PREFS_KEY) || "{}");
    if (typeof saved.mirror === "boolean") prefs.mirror = saved.mirror;
    if (SCALES.includes(saved.scale)) prefs.scale = saved.scale;
    if (SPEEDS.includes(saved.speed)) prefs.speed = saved.speed;
    if (typeof saved.toolbar === "boolean") prefs.toolbar = saved.toolbar;
  } catch {
    // unreadable settings: keep the defaults
  }
  return prefs;
}

const prefs = loadPrefs();

function savePrefs() {
  try {
    localStorage.setItem(PREFS_KEY, JSON.stringify(prefs));
  } catch {
    // storage full or disabled: the settings last for this page only
  }
}

// ---------------------------------------------------------------- live data

const ui = {};
const cues = [];                       // waiting cues, oldest first: {cue, text, level, from, auto, key}
const soldOut = new Set();             // sale ids said sold out
let urgencyIndex = null;               // segment index for which the urgency cue fired
let ended = false;
let connection = "connecting";
let lastStep = { dir: "", at: -Infinity };
let toastTimer = 0;
let renderQueued = false;
let shownIndex = null;                 // segment on screen, to reset the scroll on a change
let shownPrice = null;
let shownStock = null;
let scrollFrame = 0;
let scrollLast = 0;
let scrollCarry = 0;                   // sub-pixel scroll not yet applied
let wakeLock = null;

const hub = new Hub({
  onWelcome: () => queueRender(),
  onState: (key, value) => {
    if ((key === "prompter" || key === "show") && value && typeof value.phase === "string") {
      ended = value.phase === "ended";
    }
    queueRender();
  },
  onEvent: event,
  onStatus: (status) => {
    connection = status;
    renderDot();
  },
});

function state(key) {
  return hub.state.get(key) || null;
}

function event(ev) {
  switch (ev.type) {
    case "cue":
      if (!cues.some((cue) => cue.cue === ev.cue && cue.text === ev.text)) {
        cues.push({
          cue: String(ev.cue), text: String(ev.text ?? ""), level: String(ev.level || "info"),
          from: String(ev.from ?? ""), auto: ev.auto === true, key: ev.key ? String(ev.key) : "",
        });
      }
      if (ev.key === "urgency") urgencyIndex = state("prompter")?.index ?? null;
      break;
    case "cue_ack": {
      const at = cues.findIndex((cue) => cue.cue === ev.cue);
      if (at >= 0) cues.splice(at, 1);
      break;
    }
    case "sold_out":
      if (ev.sale) soldOut.add(String(ev.sale));
      break;
    case "stock_added":
      if (ev.sale) soldOut.delete(String(ev.sale));
      break;
    case "show_ended":
      ended = true;
      break;
    default:
      break;
  }
  queueRender();
}

// The sale of the product on air: this segment's open (or paused) sale first, then any open
// or paused sale of the product, newest first, then the product's latest sale.
function currentSale(product, index) {
  if (!product) return null;
  let best = null;
  let bestRank = -1;
  for (const [key, sale] of hub.state) {
    if (!key.startsWith("sale:") || !sale || sale.product !== product.id) continue;
    const live = sale.status === "open" || sale.status === "paused";
    const rank = (live ? 2 : 0) + (live && sale.segment === index ? 1 : 0);
    if (rank > bestRank || (rank === bestRank && (sale.starts_at_ms || 0) > (best.starts_at_ms || 0))) {
      best = sale;
      bestRank = rank;
    }
  }
  return best;
}

function currency() {
  return state("show")?.currency || "CNY";
}

// ---------------------------------------------------------------- building the screen

function button(className, onClick) {
  return el("button", {
    type: "button",
    class: className,
    onclick: (e) => {
      onClick(e);
      // a mouse or touch press leaves no focus behind, so Space / Enter go to the prompter
      if (e.detail > 0) e.currentTarget.blur();
    },
  });
}

function build() {
  const app = document.getElementById("app");
  ui.dot = el("span", { class: "dot", role: "img", dataset: { status: "connecting" } });
  ui.mirror = button("tb-btn tb-mirror", () => setPref("mirror", !prefs.mirror));
  ui.smaller = button("tb-btn tb-smaller", () => stepPref("scale", SCALES, -1));
  ui.scale = el("span", { class: "tb-value tb-scale" });
  ui.bigger = button("tb-btn tb-bigger", () => stepPref("scale", SCALES, 1));
  ui.slower = button("tb-btn tb-slower", () => stepPref("speed", SPEEDS, -1));
  ui.speed = el("span", { class: "tb-value tb-speed" });
  ui.faster = button("tb-btn tb-faster", () => stepPref("speed", SPEEDS, 1));
  ui.full = button("tb-btn tb-full", toggleFullscreen);
  ui.lang = button("tb-btn tb-lang", () => {});
  ui.hide = button("tb-btn tb-hide", () => setPref("toolbar", !prefs.toolbar));
  ui.keys = el("span", { class: "tb-keys" });
  ui.tools = el("div", { class: "tb-tools" },
    ui.mirror, ui.smaller, ui.scale, ui.bigger, ui.slower, ui.speed, ui.faster, ui.full, ui.lang, ui.keys);
  ui.toolbar = el("div", { class: "toolbar", role: "toolbar" }, ui.dot, ui.tools, ui.hide);

  ui.counter = el("span", { class: "counter" });
  ui.kind = el("span", { class: "kind" });
  ui.phase = el("span", { class: "phase" });
  ui.online = el("span", { class: "online" });
  ui.showTitle = el("span", { class: "show-title" });
  ui.title = el("h1", { class: "title" });
  ui.timerLabel = el("div", { class: "timer-label" });
  ui.timerValue = el("div", { class: "timer-value" });
  ui.timer = el("div", { class: "timer", role: "timer" }, ui.timerLabel, ui.timerValue);
  const head = el("header", { class: "head" },
    el("div", { class: "head-main" },
      el("div", { class: "meta" }, ui.counter, ui.kind, ui.phase, ui.online, ui.showTitle),
      ui.title),
    ui.timer);

  ui.promptLabel = el("div", { class: "box-label" });
  ui.promptText = el("div", { class: "prompt-text" });
  ui.promptCount = el("div", { class: "prompt-count" });
  ui.prompt = el("div", { class: "prompt", hidden: true }, ui.promptLabel, ui.promptText, ui.promptCount);
  ui.urgencyLabel = el("div", { class: "box-label" });
  ui.urgencyList = el("ul", { class: "urgency-list" });
  ui.urgency = el("div", { class: "urgency", hidden: true }, ui.urgencyLabel, ui.urgencyList);
  ui.points = el("ol", { class: "points" });
  ui.waiting = el("p", { class: "waiting", hidden: true });
  ui.scroller = el("div", { class: "scroller" }, ui.waiting, ui.points);
  const script = el("section", { class: "script" }, ui.prompt, ui.urgency, ui.scroller);

  ui.productName = el("div", { class: "product-name" });
  ui.fansBadge = el("div", { class: "fans-badge" });
  ui.fansSay = el("div", { class: "fans-say" });
  ui.fans = el("div", { class: "fans", hidden: true }, ui.fansBadge, ui.fansSay);
  ui.priceLabel = el("div", { class: "price-label" });
  ui.price = el("div", { class: "price" });
  ui.anchorLabel = el("span", { class: "anchor-label" });
  ui.anchor = el("s", { class: "anchor" });
  ui.saving = el("span", { class: "saving" });
  ui.stock = el("div", { class: "stock" });
  ui.sold = el("div", { class: "sold" });
  ui.limit = el("div", { class: "limit" });
  ui.saleLabel = el("div", { class: "sale-label" });
  ui.saleTimer = el("div", { class: "sale-timer", role: "timer" });
  ui.soldOut = el("div", { class: "soldout", role: "alert", hidden: true },
    ui.soldOutTitle = el("div", { class: "soldout-title" }),
    ui.soldOutSay = el("div", { class: "soldout-say" }));
  ui.product = el("div", { class: "product", hidden: true },
    ui.productName,
    ui.fans,
    el("div", { class: "prices" },
      el("div", { class: "live" }, ui.priceLabel, ui.price),
      el("div", { class: "was" }, ui.anchorLabel, ui.anchor, ui.saving)),
    el("div", { class: "stock-row" }, ui.stock, ui.sold),
    ui.limit,
    el("div", { class: "sale" }, ui.saleLabel, ui.saleTimer),
    ui.soldOut);
  ui.pinnedLabel = el("h2", { class: "box-label" });
  ui.pinnedList = el("ol", { class: "pinned-list" });
  ui.pinned = el("div", { class: "pinned", hidden: true }, ui.pinnedLabel, ui.pinnedList);
  ui.side = el("aside", { class: "side", hidden: true }, ui.product, ui.pinned);

  ui.nextLabel = el("span", { class: "next-label" });
  ui.nextKind = el("span", { class: "next-kind" });
  ui.nextTitle = el("span", { class: "next-title" });
  ui.nextDuration = el("span", { class: "next-duration" });
  ui.next = el("footer", { class: "next" }, ui.nextLabel, ui.nextKind, ui.nextTitle, ui.nextDuration);

  ui.endedTitle = el("div", { class: "ended-title" });
  ui.endedSay = el("div", { class: "ended-say" });
  ui.ended = el("div", { class: "ended", hidden: true }, ui.endedTitle, ui.endedSay);

  ui.stage = el("div", { class: "stage" },
    head, el("div", { class: "body" }, script, ui.side), ui.next, ui.ended);

  ui.cueLevel = el("div", { class: "cue-level" });
  ui.cueText = el("div", { class: "cue-text" });
  ui.cueFrom = el("div", { class: "cue-from" });
  ui.cueMore = el("div", { class: "cue-more" });
  ui.cueHint = el("div", { class: "cue-hint" });
  ui.cueBand = el("div", { class: "cue-band", role: "alertdialog", "aria-live": "assertive" },
    ui.cueLevel, ui.cueText, ui.cueFrom, ui.cueMore, ui.cueHint);
  ui.cue = el("div", { class: "cue", hidden: true, onclick: () => acknowledge() }, ui.cueBand);

  ui.toast = el("div", { class: "toast", role: "status", "aria-live": "polite", hidden: true });

  app.append(ui.stage, ui.cue, ui.toast, ui.toolbar);
  bindLangSwitch(ui.lang);
  bindStatus(document.getElementById("status"), hub);
}

// ---------------------------------------------------------------- settings UI

function setPref(name, value) {
  prefs[name] = value;
  savePrefs();
  applyPrefs();
}

function stepPref(name, values, delta) {
  const at = values.indexOf(prefs[name]);
  const next = values[Math.max(0, Math.min(values.length - 1, (at < 0 ? 0 : at) + delta))];
  setPref(name, next);
}

function applyPrefs() {
  document.body.classList.toggle("mirrored", prefs.mirror);
  document.body.classList.toggle("tools-hidden", !prefs.toolbar);
  document.documentElement.style.setProperty("--scale", String(prefs.scale));
  ui.mirror.setAttribute("aria-pressed", String(prefs.mirror));
  ui.hide.setAttribute("aria-expanded", String(prefs.toolbar));
  ui.smaller.disabled = prefs.scale === SCALES[0];
  ui.bigger.disabled = prefs.scale === SCALES[SCALES.length - 1];
  ui.slower.disabled = prefs.speed === SPEEDS[0];
  ui.faster.disabled = prefs.speed === SPEEDS[SPEEDS.length - 1];
  labelToolbar();
  startScrolling();
}

function labelToolbar() {
  const label = (node, text, title) => {
    node.textContent = text;
    if (title) {
      node.title = title;
      node.setAttribute("aria-label", title);
    }
  };
  ui.toolbar.setAttribute("aria-label", t("p.tb.label"));
  label(ui.mirror, t("p.tb.mirror"), t("p.tb.mirror.title"));
  label(ui.smaller, t("p.tb.smaller"), t("p.tb.smaller.title"));
  label(ui.bigger, t("p.tb.bigger"), t("p.tb.bigger.title"));
  label(ui.scale, t("p.tb.font", { n: Math.round(prefs.scale * 100) }));
  label(ui.slower, "−", t("p.tb.slower.title"));
  label(ui.faster, "+", t("p.tb.faster.title"));
  label(ui.speed, prefs.speed ? t("p.tb.scroll", { n: prefs.speed }) : t("p.tb.scroll.off"));
  label(ui.full, t("p.tb.full"), t("p.tb.full.title"));
  label(ui.hide, prefs.toolbar ? t("p.tb.hide") : "⚙", prefs.toolbar ? t("p.tb.hide.title") : t("p.tb.show.title"));
  ui.keys.textContent = t("p.tb.keys");
  renderDot();
}

function renderDot() {
  if (!ui.dot) return;
  ui.dot.dataset.status = connection;
  const text = t("p.conn", { status: t(`status.${connection}`, { reason: "" }) });
  ui.dot.title = text;
  ui.dot.setAttribute("aria-label", text);
}

function toggleFullscreen() {
  if (document.fullscreenElement) document.exitFullscreen?.().catch(() => {});
  else document.documentElement.requestFullscreen?.().catch(() => {});
}

// ---------------------------------------------------------------- rendering

function queueRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    render();
  });
}

function setText(node, text) {
  const value = text ?? "";
  if (node.textContent !== value) node.textContent = value;
}

// Replace a list's items only where the text changed, so the scroll position survives
// the once-a-second republish of the talking points.
function fillList(list, items, make = (text) => el("li", {}, text)) {
  const nodes = list.children;
  items.forEach((text, at) => {
    if (at < nodes.length) setText(nodes[at], text);
    else list.append(make(text));
  });
  while (nodes.length > items.length) nodes[nodes.length - 1].remove();
}

function kindLabel(kind) {
  return kind ? t(`p.kind.${kind}`) : "";
}

function render() {
  const prompter = state("prompter");
  const show = state("show");
  const phase = ended ? "ended" : prompter?.phase || show?.phase || "not_started";
  const segment = prompter?.segment || null;
  const count = show?.count ?? null;
  const running = segment !== null && phase !== "not_started" && phase !== "ended";
  document.body.dataset.phase = phase;
  document.body.dataset.kind = running ? segment.kind : "";

  if (running && shownIndex !== segment.index) {
    const changed = shownIndex !== null;
    shownIndex = segment.index;
    ui.scroller.scrollTop = 0;
    scrollCarry = 0;
    ui.title.classList.remove("changed");
    if (changed) {
      void ui.title.offsetWidth;       // restart the animation
      ui.title.classList.add("changed");
    }
  }

  // header
  setText(ui.counter, running && count ? t("p.segment", { n: segment.index + 1, count }) : "");
  setText(ui.kind, running ? kindLabel(segment.kind) : "");
  ui.kind.hidden = !running;
  setText(ui.phase, t(`p.phase.${phase}`));
  ui.phase.dataset.phase = phase;
  const online = state("online");
  setText(ui.online, online && typeof online.now === "number" ? t("p.online", { n: online.now }) : "");
  setText(ui.showTitle, show?.title || "");
  setText(ui.title, running ? segment.title : t("p.waiting.title"));

  // what to say
  const prompt = running && prompter.prompt ? prompter.prompt : "";
  ui.prompt.hidden = !prompt;
  setText(ui.promptLabel, t("p.prompt"));
  setText(ui.promptText, prompt);
  const counted = state("prompt");
  const promptCount = prompt && counted && counted.segment === segment.index ? counted.count : null;
  setText(ui.promptCount, typeof promptCount === "number" ? t("p.prompt.count", { n: promptCount }) : "");

  ui.waiting.hidden = running || phase === "ended";
  setText(ui.waiting, t("p.waiting"));
  fillList(ui.points, running ? (prompter.talking_points || []).map(String) : []);

  renderProduct(prompter, running);
  renderPinned();
  renderNext(prompter, phase);

  ui.ended.hidden = phase !== "ended";
  setText(ui.endedTitle, t("p.ended"));
  setText(ui.endedSay, t("p.ended.thanks"));

  renderCue();
  tick();
  startScrolling();
}

function renderProduct(prompter, running) {
  const product = running ? prompter.product : null;
  ui.product.hidden = !product;
  const urgencyLines = running ? (prompter.urgency_lines || []).map(String) : [];
  if (!product) {
    ui.urgency.hidden = true;
    shownPrice = null;
    shownStock = null;
    return;
  }
  const sale = currentSale(product, prompter.segment.index);
  const money_ = (fen) => money(fen, sale?.currency || currency());
  const price = sale && typeof sale.price === "number" ? sale.price : product.price;
  const anchor = sale && typeof sale.anchor_price === "number" ? sale.anchor_price : product.anchor_price;
  const remaining = sale && typeof sale.remaining === "number" ? sale.remaining : product.stock;
  const released = sale && typeof sale.released === "number" ? sale.released : null;
  const limit = sale && typeof sale.limit === "number" ? sale.limit : product.limit;
  const gone = Boolean(sale) && (remaining <= 0 || soldOut.has(sale.sale));
  const low = !gone && (urgencyIndex === prompter.segment.index
    || (released !== null && released > 0 && remaining <= Math.max(1, Math.ceil(released * 0.1))));

  setText(ui.productName, product.name);
  setText(ui.priceLabel, t("p.price.live"));
  setText(ui.price, money_(price));
  flashOnChange(ui.price, shownPrice, price);
  shownPrice = price;
  const discounted = typeof anchor === "number" && anchor > price;
  ui.anchor.parentElement.hidden = !discounted;
  setText(ui.anchorLabel, t("p.price.anchor"));
  setText(ui.anchor, discounted ? money_(anchor) : "");
  setText(ui.saving, discounted ? t("p.saving", { amount: money_(anchor - price) }) : "");

  setText(ui.stock, typeof remaining === "number" ? t(low ? "p.stock.low" : "p.stock", { n: remaining }) : "");
  ui.stock.classList.toggle("low", low);
  ui.stock.hidden = gone;
  flashOnChange(ui.stock, shownStock, remaining);
  shownStock = remaining;
  setText(ui.sold, sale && sale.sold ? t("p.stock.sold", { n: sale.sold }) : "");
  setText(ui.limit, limit ? t("p.limit", { n: limit }) : "");
  renderFans(sale, product);

  ui.soldOut.hidden = !gone;
  setText(ui.soldOutTitle, t("p.soldout"));
  setText(ui.soldOutSay, t("p.soldout.say"));

  ui.urgency.hidden = !low || urgencyLines.length === 0;
  setText(ui.urgencyLabel, t("p.urgency"));
  fillList(ui.urgencyList, low ? urgencyLines : []);
  ui.product.dataset.sale = sale ? String(sale.status) : "none";
}

// A sale for one fan tier (粉丝分层): a big badge, so the host says "老粉专享价" out loud,
// from the script's plan before the sale starts, then from the running sale.
function renderFans(sale, product) {
  const source = sale ? (sale.status !== "ended" ? sale.fans : "") : product?.fans;
  const limit = source === "new" || source === "returning" ? source : "";
  ui.fans.hidden = !limit;
  ui.fans.dataset.fans = limit || "all";
  setText(ui.fansBadge, limit ? t(`p.fans.${limit}`) : "");
  setText(ui.fansSay, limit ? t(`p.fans.say.${limit}`) : "");
}

function flashOnChange(node, before, after) {
  if (before === null || before === undefined || before === after) return;
  node.classList.remove("flash");
  void node.offsetWidth;
  node.classList.add("flash");
}

function renderPinned() {
  const pinned = state("pinned");
  const items = Array.isArray(pinned?.items) ? pinned.items : Array.isArray(pinned) ? pinned : [];
  ui.pinned.hidden = items.length === 0;
  setText(ui.pinnedLabel, t("p.pinned"));
  ui.pinnedList.replaceChildren(...items.slice(0, 5).map((item) => {
    const who = item?.name || item?.user || "";
    return el("li", {},
      el("span", { class: "pinned-text" }, String(item?.text ?? "")),
      who ? el("span", { class: "pinned-user" }, String(who)) : null);
  }));
  ui.side.hidden = ui.product.hidden && ui.pinned.hidden;
  document.body.classList.toggle("no-side", ui.side.hidden);
}

function renderNext(prompter, phase) {
  const next = phase === "ended" ? null : prompter?.next || null;
  const first = !prompter?.segment;
  ui.next.hidden = phase === "ended";
  setText(ui.nextLabel, next ? t(first ? "p.first" : "p.next") : t("p.next.last"));
  setText(ui.nextKind, next ? kindLabel(next.kind) : "");
  ui.nextKind.hidden = !next;
  setText(ui.nextTitle, next ? next.title : "");
  setText(ui.nextDuration, next && next.duration_s ? clock(next.duration_s) : "");
}

function renderCue() {
  const cue = cues[0];
  ui.cue.hidden = !cue;
  document.body.classList.toggle("has-cue", Boolean(cue));
  if (!cue) return;
  const level = ["urgent", "warning", "info"].includes(cue.level) ? cue.level : "info";
  ui.cue.dataset.level = level;
  setText(ui.cueLevel, cue.auto ? `${t(`p.cue.level.${level}`)} · ${t("p.cue.auto")}` : t(`p.cue.level.${level}`));
  setText(ui.cueText, cue.text);
  setText(ui.cueFrom, cue.from && !cue.auto ? t("p.cue.from", { from: cue.from }) : "");
  setText(ui.cueMore, cues.length > 1 ? t("p.cue.more", { n: cues.length - 1 }) : "");
  setText(ui.cueHint, t("p.cue.ack"));
}

// ---------------------------------------------------------------- clocks (local, every 250 ms)

function tick() {
  const prompter = state("prompter");
  const running = prompter?.segment && !ended && prompter.phase !== "ended";
  let label = t("p.timer");
  let value = "--:--";
  let mode = "idle";
  if (running && prompter.paused) {
    const left = typeof prompter.time_left_s === "number" ? prompter.time_left_s : null;
    label = t("p.timer.paused");
    value = left !== null && left < 0 ? `+${clock(-left)}` : clock(left);
    mode = left !== null && left < 0 ? "over" : "paused";
  } else if (running && typeof prompter.ends_at_ms === "number") {
    const left = (prompter.ends_at_ms - hub.now()) / 1000;
    if (left < 0) {
      label = t("p.timer.over");
      value = `+${clock(-left)}`;
      mode = "over";
    } else {
      value = clock(Math.ceil(left));
      mode = left <= 30 ? "soon" : "ok";
    }
  }
  setText(ui.timerLabel, label);
  setText(ui.timerValue, value);
  ui.timer.dataset.mode = mode;
  ui.timer.hidden = !running;

  const product = running ? prompter.product : null;
  const sale = product ? currentSale(product, prompter.segment.index) : null;
  let saleLabel = t("p.sale.none");
  let saleValue = "";
  let saleMode = "none";
  if (sale) {
    if (sale.status === "open") {
      const left = Math.max(0, ((sale.ends_at_ms || 0) - hub.now()) / 1000);
      saleLabel = t("p.sale");
      saleValue = clock(Math.ceil(left));
      saleMode = left <= 30 ? "soon" : "open";
    } else if (sale.status === "paused") {
      saleLabel = t("p.sale.paused");
      saleMode = "paused";
    } else if (sale.status === "scheduled") {
      saleLabel = t("p.sale.scheduled");
      saleMode = "scheduled";
    } else {
      saleLabel = t("p.sale.ended");
      saleMode = "ended";
    }
  }
  setText(ui.saleLabel, saleLabel);
  setText(ui.saleTimer, saleValue);
  ui.saleTimer.hidden = !saleValue;
  const row = ui.saleLabel.parentElement;
  row.dataset.mode = saleMode;
  row.hidden = !ui.soldOut.hidden;   // sold out: the countdown no longer matters

}

// ---------------------------------------------------------------- auto-scroll

function startScrolling() {
  const wanted = prefs.speed > 0 && !cues.length && state("prompter")?.phase !== "paused";
  if (!wanted) {
    cancelAnimationFrame(scrollFrame);
    scrollFrame = 0;
    return;
  }
  if (scrollFrame) return;
  scrollLast = performance.now();
  scrollFrame = requestAnimationFrame(scrollStep);
}

function scrollStep(now) {
  const box = ui.scroller;
  const seconds = Math.min(0.1, (now - scrollLast) / 1000);
  scrollLast = now;
  if (box.scrollHeight > box.clientHeight + 1) {
    scrollCarry += prefs.speed * SCROLL_PX_PER_S * prefs.scale * seconds;
    const whole = Math.floor(scrollCarry);
    if (whole >= 1) {
      box.scrollTop += whole;
      scrollCarry -= whole;
    }
  }
  scrollFrame = requestAnimationFrame(scrollStep);
}

// ---------------------------------------------------------------- commands

function toast(text, kind = "ok") {
  setText(ui.toast, text);
  ui.toast.dataset.kind = kind;
  ui.toast.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { ui.toast.hidden = true; }, TOAST_MS);
}

function reasonOf(error) {
  if (error && error.code) return error.message || error.code;
  if (error && error.message === "timeout") return t("p.step.timeout");
  return t("p.step.offline");
}

async function step(dir) {
  const now = performance.now();
  if (dir === lastStep.dir && now - lastStep.at < STEP_GUARD_MS) return;
  lastStep = { dir, at: now };
  try {
    const ack = await hub.request({ t: "step", dir });
    const count = state("show")?.count ?? "?";
    toast(t("p.step.ok", { n: Number(ack.index) + 1, count }), "ok");
  } catch (error) {
    if (error && error.code) toast(t("p.step.failed", { reason: reasonOf(error) }), "error");
    else toast(reasonOf(error), "error");
  }
}

async function acknowledge() {
  const cue = cues.shift();
  if (!cue) return;
  renderCue();
  startScrolling();
  try {
    await hub.request({ t: "cue_ack", cue: cue.cue });
  } catch (error) {
    // not confirmed: the cue comes back so the team knows the host has not seen it
    if (!cues.some((other) => other.cue === cue.cue)) cues.unshift(cue);
    toast(t("p.ack.failed", { reason: reasonOf(error) }), "error");
    queueRender();
  }
}

function keydown(e) {
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  if (cues.length && ACK_KEYS.has(e.key)) {
    e.preventDefault();
    if (!e.repeat) acknowledge();
    return;
  }
  const target = e.target instanceof Element ? e.target : null;
  if (target && target.closest("input, select, textarea")) return;
  if (target && target.closest("button") && (e.key === "Enter" || e.key === " ")) return;
  if (NEXT_KEYS.has(e.key) || (e.key === " " && !cues.length)) {
    e.preventDefault();
    if (!e.repeat) step("next");
  } else if (PREVIOUS_KEYS.has(e.key)) {
    e.preventDefault();
    if (!e.repeat) step("previous");
  }
}

// ---------------------------------------------------------------- keep the tablet awake

async function keepAwake() {
  if (!("wakeLock" in navigator) || document.visibilityState !== "visible" || wakeLock) return;
  try {
    wakeLock = await navigator.wakeLock.request("screen");
    wakeLock.addEventListener("release", () => { wakeLock = null; });
  } catch {
    wakeLock = null;               // not allowed here (insecure origin, battery saver): fine
  }
}

// ---------------------------------------------------------------- start

function relabel() {
  labelToolbar();
  render();
}

document.documentElement.lang = currentLang() === "zh" ? "zh-CN" : "en";
build();
applyPrefs();
render();
document.addEventListener("keydown", keydown);
document.addEventListener("livecon:lang", relabel);
document.addEventListener("visibilitychange", keepAwake);
setInterval(tick, 250);
keepAwake();
hub.connect();
