// The viewer widget (观众挂件): product card, price anchor, stock, countdown, buy, chat, like.
// One socket (Hub); every text from the server goes in as text, never as HTML.
import {
  Hub, addStrings, bindLangSwitch, bindStatus, clock, el, money, requestKey, t,
} from "./livecon.js";

addStrings({
  zh: {
    "show.default": "直播间", online: "{n} 人在线", "price.live": "直播价", "price.anchor": "原价 {price}",
    "card.waiting": "直播即将开始，商品马上上架", "card.image": "商品图片",
    "stock.left": "剩 {left}/{total} 件", "stock.low": "只剩 {n} 件", "stock.none": "已抢光",
    "stock.ready": "库存 {n} 件", limit: "每人限购 {n} 件",
    "timer.ends": "距结束 {time}", "timer.starts": "{at} 开抢", "timer.soon": "{time} 后开抢",
    "timer.paused": "已暂停", "timer.ended": "已结束", "timer.none": "即将开抢",
    qty: "数量", "qty.less": "减少数量", "qty.more": "增加数量",
    "buy.now": "立即抢购", "buy.more": "继续抢购", "buy.busy": "抢购中…", "buy.waiting": "等待开播",
    "buy.not_started": "未开抢", "buy.paused": "暂停中", "buy.ended": "已结束",
    "buy.waitlist": "已售罄 · 加入候补", "buy.waitlisted": "候补中 · 第 {n} 位",
    "buy.limit": "已达限购", "buy.retry": "重试", "bought": "已抢到 {n} 件 · 订单 {orders}",
    "ans.accepted": "抢到了！订单号 {order}", "ans.sold_out": "已售罄，可以加入候补",
    "ans.limit_reached": "已达每人限购数量", "ans.not_open": "还没开抢或已经结束",
    "ans.pending": "订单确认中，马上自动重试…", "ans.unavailable": "系统繁忙，请点重试",
    "ans.rate_limited": "操作太快了，请稍后点重试", "ans.waitlisted": "已加入候补，第 {n} 位",
    "ans.lost": "连接中断，重连后自动重试", "ans.direct": "候补成功！订单号 {order}",
    "ans.sold_out_event": "已售罄", "ans.failed": "没有成功：{reason}",
    "chat.label": "评论区", "chat.sampled": "评论太多，仅显示部分", "chat.placeholder": "说点什么…",
    "chat.send": "发送", "chat.input": "评论内容", "chat.too_long": "最多 500 字",
    "chat.rate": "发言太快了，请稍后再试", "chat.offline": "未连接，评论没有发出",
    "chat.failed": "评论没有发出：{reason}", like: "点赞", "role.host": "主播", "role.staff": "场控",
    "notice.lottery": "抽奖", "notice.announcement": "公告", "notice.close": "关闭",
    "notice.ended": "直播已结束，感谢观看！", "notice.winners": "中奖：{names}",
    "fans.new": "新粉专享", "fans.returning": "老粉专享价", "fans.welcome": "老粉回来啦",
    "buy.fans_new": "新粉专享", "buy.fans_returning": "老粉专享",
    "fans.why.new": "这是给新朋友的见面礼，老粉福利请看下一款",
    "fans.why.returning": "这是老粉专享价，关注主播，下一场就能参与",
    "ans.fans_only.new": "这是新粉专享，欢迎下次再来", "ans.fans_only.returning": "这是老粉专享，关注后下一场就能参与",
    "lottery.fans.new": "仅限新粉参与", "lottery.fans.returning": "仅限老粉参与", "lottery.fans.out": "（本次你不能参与）",
  },
  en: {
    "show.default": "Live room", online: "{n} watching", "price.live": "Live price",
    "price.anchor": "Was {price}", "card.waiting": "The show starts soon - products coming up",
    "card.image": "Product image",
    "stock.left": "{left}/{total} left", "stock.low": "Only {n} left", "stock.none": "All gone",
    "stock.ready": "{n} in stock", limit: "Limit {n} per buyer",
    "timer.ends": "Ends in {time}", "timer.starts": "Starts at {at}", "timer.soon": "Starts in {time}",
    "timer.paused": "Paused", "timer.ended": "Ended", "timer.none": "Starting soon",
    qty: "Quantity", "qty.less": "Fewer", "qty.more": "More",
    "buy.now": "Buy now", "buy.more": "Buy more", "buy.busy": "Buying…", "buy.waiting": "Show not started",
    "buy.not_started": "Not started", "buy.paused": "Paused", "buy.ended": "Ended",
    "buy.waitlist": "Sold out · Join waitlist", "buy.waitlisted": "Waitlisted · #{n}",
    "buy.limit": "Limit reached", "buy.retry": "Retry", "bought": "Bought {n} · order {orders}",
    "ans.accepted": "Got it! Order {order}", "ans.sold_out": "Sold out - you can join the waitlist",
    "ans.limit_reached": "You reached the per-buyer limit", "ans.not_open": "The sale is not open",
    "ans.pending": "Confirming your order, retrying…", "ans.unavailable": "Busy - please retry",
    "ans.rate_limited": "Too fast - retry in a moment", "ans.waitlisted": "On the waitlist, number {n}",
    "ans.lost": "Connection lost - will retry when reconnected", "ans.direct": "From the waitlist! Order {order}",
    "ans.sold_out_event": "Sold out", "ans.failed": "Did not work: {reason}",
    "chat.label": "Comments", "chat.sampled": "Busy chat - showing a sample", "chat.placeholder": "Say something…",
    "chat.send": "Send", "chat.input": "Your comment", "chat.too_long": "500 characters at most",
    "chat.rate": "Too fast - wait a moment", "chat.offline": "Not connected - comment not sent",
    "chat.failed": "Comment not sent: {reason}", like: "Like", "role.host": "Host", "role.staff": "Staff",
    "notice.lottery": "Lottery", "notice.announcement": "Announcement", "notice.close": "Close",
    "notice.ended": "The show has ended - thanks for watching!", "notice.winners": "Winners: {names}",
    "fans.new": "New fans only", "fans.returning": "Returning fans' price", "fans.welcome": "Welcome back",
    "buy.fans_new": "New fans only", "buy.fans_returning": "Returning fans only",
    "fans.why.new": "A welcome gift for first-time viewers - returning fans, stay for the next one",
    "fans.why.returning": "This price is for returning fans - follow us and join in next show",
    "ans.fans_only.new": "This one is for new fans only", "ans.fans_only.returning": "This one is for returning fans - join us next show",
    "lottery.fans.new": "New fans only", "lottery.fans.returning": "Returning fans only", "lottery.fans.out": " (you cannot enter this one)",
  },
});

const CHAT_KEEP = 50;
const RETRY_OUTCOMES = new Set(["pending", "unavailable", "rate_limited"]);
const FINAL = new Set(["accepted", "sold_out", "limit_reached", "not_open", "waitlisted", "fans_only"]);
const TIERS = new Set(["new", "returning"]);
const WELCOME_MS = 8000;
const SAID = new Set([...RETRY_OUTCOMES, ...FINAL]);

const ui = {};
const sales = new Map();          // sale id -> latest sale:<id> view
const mine = new Map();           // sale id -> {orders: Map(order -> qty), waitlist, limit}
const clicked = new Set();
let show = null;
let me = "";
let tier = null;                  // "new" | "returning" in this show, from the "fan" direct frame
let welcomed = false;
let qty = 1;
let press = null;                 // {kind, sale, qty, key, busy, retry, auto, tries}
let message = null;               // {key, vars} or {text}
let likes = 0;
let likesToSend = 0;
let likeTimer = 0;
let notice = null;
let closedLottery = null; // the lottery whose notice the viewer closed: not shown again
let online = null;

const hub = new Hub({
  onWelcome: welcome,
  onState: state,
  onEvent: event,
  onChat: chat,
  onDirect: direct,
  onNotice: (frame) => { if (frame.kind === "chat_dropped") markSampled(); },
});

function build() {
  const app = document.getElementById("app");
  ui.title = el("h1", { class: "w-title" }, t("show.default"));
  ui.online = el("span", { class: "w-online" });
  ui.lang = el("button", { type: "button", class: "w-lang" });
  ui.welcome = el("span", { class: "w-welcome", role: "status", hidden: true });
  ui.img = el("img", { class: "w-img", alt: "", hidden: true, decoding: "async" });
  ui.img.addEventListener("error", () => { ui.img.hidden = true; ui.card.classList.add("no-img"); });
  ui.img.addEventListener("load", () => { ui.img.hidden = false; ui.card.classList.remove("no-img"); });
  ui.name = el("h2", { class: "w-name", id: "w-name" });
  ui.price = el("strong", { class: "w-now" });
  ui.anchor = el("s", { class: "w-anchor" });
  ui.fill = el("span", { class: "w-fill" });
  ui.bar = el("span", { class: "w-bar", role: "progressbar", "aria-valuemin": 0 }, ui.fill);
  ui.stock = el("span", { class: "w-stock-text" });
  ui.low = el("span", { class: "w-low", hidden: true });
  ui.timer = el("span", { class: "w-timer", role: "timer" });
  ui.limit = el("span", { class: "w-limit" });
  ui.fans = el("span", { class: "w-fans", hidden: true });
  ui.card = el("section", { class: "w-card no-img", "aria-labelledby": "w-name", onclick: tapCard },
    ui.img,
    el("div", { class: "w-info" },
      ui.fans,
      ui.name,
      el("p", { class: "w-price" }, el("span", { class: "w-tag", "data-i18n": "price.live" }, t("price.live")),
        ui.price, ui.anchor),
      el("p", { class: "w-stock" }, ui.bar, ui.stock, ui.low),
      el("p", { class: "w-meta" }, ui.timer, ui.limit)));
  ui.less = el("button", { type: "button", class: "w-step", onclick: () => step(-1) }, "−");
  ui.more = el("button", { type: "button", class: "w-step", onclick: () => step(1) }, "+");
  ui.qtyValue = el("output", { class: "w-qty-value", "aria-live": "polite" }, "1");
  ui.qty = el("div", { class: "w-qty", role: "group" }, ui.less, ui.qtyValue, ui.more);
  ui.why = el("p", { class: "w-why", id: "w-why", hidden: true });
  ui.buy = el("button", { type: "button", class: "w-buy-btn", onclick: pressBuy });
  ui.msg = el("p", { class: "w-msg", role: "status", "aria-live": "polite" });
  ui.orders = el("p", { class: "w-orders", hidden: true });
  ui.noticeText = el("span", { class: "w-notice-text" });
  ui.noticeFans = el("span", { class: "w-notice-fans", hidden: true });
  ui.notice = el("aside", { class: "w-notice", hidden: true, role: "status" },
    el("span", { class: "w-notice-body" }, ui.noticeFans, ui.noticeText), ui.close = el("button", { type: "button", class: "w-x", onclick: closeNotice }, "×"));
  ui.sampled = el("p", { class: "w-sampled", hidden: true, "data-i18n": "chat.sampled" }, t("chat.sampled"));
  ui.lines = el("ul", { class: "w-lines" });
  ui.chat = el("div", { class: "w-chat", role: "log", "aria-live": "off" }, ui.lines);
  ui.input = el("input", { type: "text", class: "w-input", maxlength: 500, enterkeyhint: "send", autocomplete: "off" });
  ui.chatMsg = el("p", { class: "w-chat-msg", role: "alert", hidden: true });
  ui.likeCount = el("span", { class: "w-like-count" }, "0");
  ui.like = el("button", { type: "button", class: "w-like", onclick: like }, el("span", { "aria-hidden": "true" }, "♥"), ui.likeCount);
  ui.form = el("form", { class: "w-compose", onsubmit: sendComment },
    ui.input, el("button", { type: "submit", class: "w-send", "data-i18n": "chat.send" }, t("chat.send")), ui.like);
  app.append(
    el("header", { class: "w-head" }, ui.title, ui.welcome, ui.online, ui.lang),
    ui.card,
    el("div", { class: "w-buy" }, ui.qty, ui.buy),
    ui.why, ui.msg, ui.orders, ui.notice,
    el("div", { class: "w-chat-box" }, ui.sampled, ui.chat),
    ui.chatMsg, ui.form,
  );
  bindLangSwitch(ui.lang);
  bindStatus(document.getElementById("status"), hub);
  document.addEventListener("livecon:lang", render);
  ui.input.addEventListener("input", () => { ui.chatMsg.hidden = true; });
}

// ---------------------------------------------------------------- hub callbacks

function welcome(frame) {
  me = frame.user || "";
  if (!frame.resumed) sales.clear();
  if (press && press.retry && press.auto) setTimeout(() => send(press), 0);
  render();
}

function state(key, value) {
  if (key === "show") show = value;
  else if (key === "online") online = value?.now ?? null;
  else if (key.startsWith("sale:") && value) sales.set(value.sale || key.slice(5), value);
  else if (key === "lottery") {
    // a viewer who arrives (or reconnects) during a lottery sees it, once
    const shown = notice?.type === "lottery" && notice.lottery === value?.lottery;
    if (value?.status === "open" && !shown && value.lottery !== closedLottery) {
      setNotice({ ...value, type: "lottery", text: value.keyword ? `「${value.keyword}」` : "" });
    }
    return;
  } else return;
  render();
}

function event(ev) {
  if (ev.type === "lottery" || ev.type === "announcement") setNotice(ev);
  else if (ev.type === "lottery_opened" || ev.type === "lottery_drawn") {
    setNotice({ ...ev, type: "lottery", text: ev.keyword ? `「${ev.keyword}」` : "" });
  }
  else if (ev.type === "show_ended") setNotice({ type: "announcement", key: "notice.ended" });
  else if (ev.type === "sold_out" && ev.sale && sales.has(ev.sale)) {
    sales.get(ev.sale).remaining = 0;
    render();
  } else if (ev.type === "price_changed") flash(ui.price);
}

function chat(items, meta) {
  const atEnd = ui.chat.scrollHeight - ui.chat.scrollTop - ui.chat.clientHeight < 40;
  for (const item of items) {
    const staff = item.role && item.role !== "viewer";
    ui.lines.append(el("li", { class: `w-line${staff ? " staff" : ""}${item.user === me ? " mine" : ""}`, "data-id": item.id },
      staff ? el("span", { class: "w-role" }, t(item.role === "host" ? "role.host" : "role.staff")) : null,
      el("span", { class: "w-who" }, `${item.name || item.user || "?"}: `),
      el("span", { class: "w-text" }, item.text ?? ""),
      item.count > 1 ? el("span", { class: "w-count" }, ` ×${item.count}`) : null));
  }
  while (ui.lines.childElementCount > CHAT_KEEP) ui.lines.firstElementChild.remove();
  if (meta?.sampled) markSampled();
  if (atEnd) ui.chat.scrollTop = ui.chat.scrollHeight;
}

function direct(frame) {
  if (frame.kind === "fan") return learnTier(frame.tier);
  if (frame.kind !== "order" || !frame.sale) return;
  const mineNow = mineOf(frame.sale);
  if (mineNow.orders.has(frame.order)) return;
  mineNow.orders.set(frame.order, frame.quantity || 1);
  mineNow.waitlist = 0;
  if (!(press && press.key === frame.request_id)) say("ans.direct", { order: frame.order });
  render();
}

// The server fixes a viewer's tier when they first join the show; it never changes in it.
function learnTier(value) {
  if (!TIERS.has(value)) return;
  tier = value;
  if (tier === "returning" && !welcomed) {
    welcomed = true;
    ui.welcome.hidden = false;
    setTimeout(() => { ui.welcome.hidden = true; }, WELCOME_MS);
  }
  render();
}

// Who may buy in a sale (or enter a lottery): "all", "new" or "returning".
function limitOf(item) {
  return TIERS.has(item?.fans) ? item.fans : "all";
}

// Whether this viewer is known to be outside the limit (unknown tier: let the server say).
function isShutOut(item) {
  const limit = limitOf(item);
  return limit !== "all" && tier !== null && tier !== limit;
}

let sampledTimer = 0;
function markSampled() {
  ui.sampled.hidden = false;
  clearTimeout(sampledTimer);
  sampledTimer = setTimeout(() => { ui.sampled.hidden = true; }, 8000);
}

// ---------------------------------------------------------------- the sale on air

function mineOf(sale) {
  if (!mine.has(sale)) mine.set(sale, { orders: new Map(), waitlist: 0, limit: false });
  return mine.get(sale);
}

function boughtOf(sale) {
  let units = 0;
  for (const n of mineOf(sale).orders.values()) units += n;
  return units;
}

function product() {
  return show && show.phase !== "ended" ? show.product || null : null;
}

// The sale of the product on air: open or paused first, then the latest.
function currentSale() {
  const id = product()?.id;
  let best = null;
  for (const sale of sales.values()) {
    if (id ? sale.product !== id : sale.status !== "open") continue;
    const live = sale.status === "open" || sale.status === "paused";
    const bestLive = best && (best.status === "open" || best.status === "paused");
    if (!best || (live && !bestLive) || (live === bestLive && sale.starts_at_ms > best.starts_at_ms)) best = sale;
  }
  return best;
}

function maxQty(sale) {
  if (!sale) return 1;
  const left = Math.max(1, (sale.limit || 1) - boughtOf(sale.sale));
  return sale.remaining > 0 ? Math.max(1, Math.min(left, sale.remaining)) : left;
}

function step(delta) {
  qty += delta;
  render();
}

// What the buy button says and does now.
function action(sale) {
  if (press?.busy) return ["buy.busy", null];
  if (press?.retry) return ["buy.retry", "retry"];
  if (!sale) return [product() ? "buy.not_started" : "buy.waiting", null];
  if (sale.status === "scheduled") return ["buy.not_started", null];
  if (sale.status === "paused") return ["buy.paused", null];
  if (sale.status !== "open") return ["buy.ended", null];
  if (isShutOut(sale)) return [`buy.fans_${limitOf(sale)}`, null];
  const own = mineOf(sale.sale);
  if (own.waitlist) return ["buy.waitlisted", null];
  if (own.limit || boughtOf(sale.sale) >= (sale.limit || 1)) return ["buy.limit", null];
  if (sale.remaining <= 0) return ["buy.waitlist", "waitlist"];
  return [boughtOf(sale.sale) ? "buy.more" : "buy.now", "buy"];
}

function pressBuy() {
  const sale = currentSale();
  const [, kind] = action(sale);
  if (kind === "retry") send(press);
  else if (kind && sale) send({ kind, sale: sale.sale, qty, key: requestKey(), tries: 0 });
}

// A press keeps its key until it gets a final answer, so a retry can never buy twice.
function send(current) {
  press = current;
  press.busy = true;
  press.retry = false;
  press.tries += 1;
  render();
  const frame = { t: press.kind, sale: press.sale, key: press.key };
  if (press.qty > 1) frame.qty = press.qty;
  hub.request(frame).then((ack) => answered(current, ack), (error) => failed(current, error));
}

function answered(current, ack) {
  if (press !== current) return;
  const outcome = ack.outcome;
  const sale = sales.get(current.sale);
  if (sale && typeof ack.remaining === "number") sale.remaining = ack.remaining;
  const own = mineOf(current.sale);
  if (outcome === "accepted" && ack.order) own.orders.set(ack.order, current.qty);
  if (outcome === "limit_reached") own.limit = true;
  if (outcome === "waitlisted") own.waitlist = ack.position || 1;
  if (outcome === "fans_only" && tier === null && TIERS.has(ack.fans)) tier = ack.fans === "new" ? "returning" : "new";
  if (RETRY_OUTCOMES.has(outcome)) keepForRetry(current, outcome === "pending" && current.tries < 5);
  else press = null;
  if (outcome === "fans_only") {
    if (TIERS.has(ack.fans)) say(`ans.fans_only.${ack.fans}`);
    else say(null, {}, ack.message || String(outcome));
  } else if (SAID.has(outcome)) say(`ans.${outcome}`, { order: ack.order || "", n: ack.position || 1 });
  else say(null, {}, ack.message || String(outcome));
  render();
}

function failed(current, error) {
  if (press !== current) return;
  const code = error?.code;
  const lost = code === "disconnected" || code === "timeout" || code === "not_connected";
  if (code === "rate_limited" || code === "unavailable") {
    keepForRetry(current, false);
    say(`ans.${code}`);
  } else if (code && !lost) {
    press = null;
    say("ans.failed", { reason: error.message || code });
  } else {
    keepForRetry(current, false);
    current.auto = true;
    say("ans.lost");
  }
  render();
}

function keepForRetry(current, automatic) {
  current.busy = false;
  current.retry = true;
  current.auto = false;
  if (automatic) setTimeout(() => { if (press === current && current.retry) send(current); }, 1500);
}

function say(key, vars = {}, text = "") {
  message = key ? { key, vars } : { text };
}

function tapCard() {
  const id = product()?.id;
  if (id) sendClick(id);
}

function sendClick(id) {
  if (clicked.has(id)) return;
  clicked.add(id);
  hub.request({ t: "click", product: id }).catch((error) => { if (!error?.code) clicked.delete(id); });
}

// ---------------------------------------------------------------- rendering

function render() {
  const card = product();
  const sale = currentSale();
  const currency = sale?.currency || show?.currency || "CNY";
  labels();
  ui.title.textContent = show?.title || t("show.default");
  document.title = ui.title.textContent;
  ui.title.classList.toggle("is-live", show?.phase === "live");
  ui.online.textContent = online === null ? "" : t("online", { n: online });
  ui.card.classList.toggle("empty", !card);
  if (card && hub.socket?.readyState === WebSocket.OPEN) sendClick(card.id);
  const image = card?.image || "";
  if (ui.img.getAttribute("src") !== image) {
    if (image) ui.img.src = image;
    else { ui.img.removeAttribute("src"); ui.img.hidden = true; ui.card.classList.add("no-img"); }
  }
  ui.img.alt = card ? `${t("card.image")}: ${card.name}` : "";
  ui.name.textContent = card ? card.name : t("card.waiting");
  const price = sale?.price ?? card?.price;
  const anchor = sale?.anchor_price ?? card?.anchor_price;
  ui.price.textContent = price ? money(price, currency) : "";
  ui.anchor.textContent = anchor && anchor > price ? money(anchor, currency) : "";
  ui.anchor.setAttribute("aria-label", t("price.anchor", { price: ui.anchor.textContent }));
  ui.price.parentElement.hidden = !card;
  renderStock(card, sale);
  const limit = sale?.limit ?? card?.limit;
  ui.limit.textContent = limit ? t("limit", { n: limit }) : "";
  renderFans(card ? sale : null, card);
  renderBuy(sale);
  ui.msg.textContent = message ? (message.key ? t(message.key, message.vars) : message.text) : "";
  renderNotice();
  tick();
}

// The sale's fan limit on the card, and why this viewer cannot buy before they press.
function renderFans(sale, card) {
  const limit = limitOf(sale || card);
  const live = sale ? sale.status !== "ended" : Boolean(card);
  ui.fans.hidden = !live || limit === "all";
  ui.fans.dataset.fans = limit;
  ui.fans.textContent = ui.fans.hidden ? "" : t(`fans.${limit}`);
  const why = !!live && isShutOut(sale) && !press;
  ui.why.hidden = !why;
  ui.why.textContent = why ? t(`fans.why.${limit}`) : "";
  if (why) ui.buy.setAttribute("aria-describedby", "w-why");
  else ui.buy.removeAttribute("aria-describedby");
  ui.welcome.textContent = t("fans.welcome");
}

function labels() {
  const named = [[ui.chat, "chat.label"], [ui.input, "chat.input"], [ui.like, "like"], [ui.less, "qty.less"],
    [ui.more, "qty.more"], [ui.close, "notice.close"], [ui.qty, "qty"]];
  for (const [node, key] of named) node.setAttribute("aria-label", t(key));
  ui.input.placeholder = t("chat.placeholder");
}

function renderStock(card, sale) {
  const row = ui.bar.parentElement;
  row.hidden = !card;
  if (!card) return;
  const total = sale ? sale.released : 0;
  const left = sale ? Math.max(0, sale.remaining) : card.stock;
  ui.bar.hidden = !sale;
  ui.fill.style.width = `${total ? Math.round((100 * left) / total) : 0}%`;
  ui.bar.setAttribute("aria-valuemax", total);
  ui.bar.setAttribute("aria-valuenow", left);
  ui.stock.textContent = !sale ? t("stock.ready", { n: left })
    : left ? t("stock.left", { left, total }) : t("stock.none");
  const low = sale && left > 0 && (left <= 10 || left <= total * 0.2);
  ui.low.hidden = !low;
  ui.low.textContent = low ? t("stock.low", { n: left }) : "";
  row.classList.toggle("is-low", !!low);
}

function renderBuy(sale) {
  const [label, kind] = action(sale);
  const own = sale ? mineOf(sale.sale) : null;
  ui.buy.textContent = t(label, { n: own?.waitlist || 0 });
  ui.buy.disabled = !kind;
  ui.buy.dataset.action = kind || "none";
  ui.buy.dataset.state = label.slice(4);
  const top = maxQty(sale);
  qty = Math.min(Math.max(1, qty), top);
  ui.qty.hidden = !(kind === "buy" || kind === "waitlist") || top <= 1;
  ui.qtyValue.textContent = String(qty);
  ui.less.disabled = qty <= 1;
  ui.more.disabled = qty >= top;
  const orders = own ? [...own.orders.keys()] : [];
  ui.orders.hidden = !orders.length;
  ui.orders.dataset.bought = String(sale ? boughtOf(sale.sale) : 0);
  ui.orders.textContent = orders.length ? t("bought", { n: boughtOf(sale.sale), orders: orders.join(", ") }) : "";
}

// The countdown runs locally from the sale's wall-clock window and the hub's clock.
function tick() {
  const sale = currentSale();
  let text = "";
  if (sale) {
    const now = hub.now();
    if (sale.status === "open") text = t("timer.ends", { time: clock(Math.max(0, (sale.ends_at_ms - now) / 1000)) });
    else if (sale.status === "paused") text = t("timer.paused");
    else if (sale.status === "scheduled" && sale.starts_at_ms) {
      const wait = (sale.starts_at_ms - now) / 1000;
      text = wait < 3600 && wait > 0 ? t("timer.soon", { time: clock(wait) })
        : t("timer.starts", { at: new Date(sale.starts_at_ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) });
    } else text = t("timer.ended");
  } else if (product()) text = t("timer.none");
  if (ui.timer.textContent !== text) ui.timer.textContent = text;
  ui.timer.classList.toggle("urgent", !!sale && sale.status === "open" && sale.ends_at_ms - hub.now() < 60000);
}

function setNotice(ev) {
  notice = ev;
  renderNotice();
}

function renderNotice() {
  ui.notice.hidden = !notice;
  if (!notice) return;
  const parts = [];
  if (notice.key) parts.push(t(notice.key));
  else {
    parts.push(`${t(notice.type === "lottery" ? "notice.lottery" : "notice.announcement")} · `);
    for (const field of ["title", "text", "prize"]) if (typeof notice[field] === "string") parts.push(`${notice[field]} `);
    const winners = Array.isArray(notice.winners)
      ? notice.winners.map((w) => (typeof w === "string" ? w : w?.name || w?.user || "")).filter(Boolean) : [];
    if (winners.length) parts.push(t("notice.winners", { names: winners.join("、") }));
  }
  ui.noticeText.textContent = parts.join("").trim();
  ui.notice.classList.toggle("lottery", notice.type === "lottery");
  const limit = notice.type === "lottery" ? limitOf(notice) : "all";
  ui.noticeFans.hidden = limit === "all";
  ui.noticeFans.dataset.fans = limit;
  ui.noticeFans.textContent = limit === "all" ? ""
    : t(`lottery.fans.${limit}`) + (isShutOut(notice) ? t("lottery.fans.out") : "");
}

function closeNotice() {
  if (notice?.type === "lottery") closedLottery = notice.lottery ?? null;
  notice = null;
  renderNotice();
}

function flash(node) {
  node.classList.remove("flash");
  void node.offsetWidth;
  node.classList.add("flash");
}

// ---------------------------------------------------------------- comments and likes

function sendComment(submitted) {
  submitted.preventDefault();
  const text = ui.input.value.trim();
  if (!text) return;
  if ([...text].length > 500) return chatError(t("chat.too_long"));
  hub.request({ t: "comment", text }).then(
    () => { if (ui.input.value.trim() === text) ui.input.value = ""; },
    (error) => chatError(error?.code === "rate_limited" ? t("chat.rate")
      : error?.code ? t("chat.failed", { reason: error.message || error.code }) : t("chat.offline")),
  );
}

function chatError(text) {
  ui.chatMsg.textContent = text;
  ui.chatMsg.hidden = false;
}

function like() {
  likes += 1;
  likesToSend += 1;
  ui.likeCount.textContent = String(likes);
  flash(ui.like);
  if (!likeTimer) likeTimer = setTimeout(flushLikes, 800);
}

function flushLikes() {
  likeTimer = 0;
  const count = Math.min(50, likesToSend);
  if (!count) return;
  likesToSend -= count;
  const frame = count > 1 ? { t: "like", count } : { t: "like" };
  hub.request(frame).catch((error) => { if (!error?.code) likesToSend += count; });
  if (likesToSend) likeTimer = setTimeout(flushLikes, 1000);
}

build();
render();
setInterval(tick, 500);
hub.connect();
