// The controllers' live dashboard (场控 / 中控台): one socket to the room, the panels of
// dashboard-*.js, and the top bar. The role comes from the welcome frame; controls are
// built only for roles that may use them (support sees no script, sale, stock, price
// or cue controls; the server refuses them anyway).
import "./dashboard-strings.js";
import { Hub, bindLangSwitch, bindStatus, currentLang, el, t } from "./livecon.js";
import { Actions, Confirmer, Toaster, label } from "./dashboard-ui.js";
import { ChatPanel } from "./dashboard-chat.js";
import { MetricsPanel } from "./dashboard-metrics.js";
import { ShowPanel, setLabel } from "./dashboard-show.js";
import { ChecklistPanel } from "./dashboard-checklist.js";
import { OrdersPanel, SalesPanel } from "./dashboard-sales.js";
import { AlertsPanel, AuditPanel } from "./dashboard-log.js";
import { Moderation } from "./dashboard-moderation.js";
import { LotteryPanel } from "./dashboard-lottery.js";
import { RoomAuditPanel } from "./dashboard-audit.js";

const CONTROL_ROLES = new Set(["controller", "admin"]);

const app = document.getElementById("app");
const room = document.body.dataset.room || "";
const products = new Map(); // product id -> name, from the timeline and the show card
const saleProducts = new Map(); // sale id -> product id
let currency = "CNY";
let showTitle = "";
let panels = null;

const productName = (id) => products.get(id) || id || "";
const toaster = new Toaster();
const confirmer = new Confirmer();

const top = {
  showTitle: el("span", { class: "show-title" }),
  room: el("span", { class: "room" }),
  role: el("span", { class: "badge role-badge", hidden: true }),
  connection: el("span", { class: "conn", dataset: { state: "connecting" } }),
  reconcile: el("span", { class: "reconcile", dataset: { ok: "none" } }),
  bus: el("span", { class: "bus", role: "alert", hidden: true }),
  why: el("span", { class: "conn-why", role: "alert", hidden: true }),
  lang: el("button", { type: "button", class: "lang-switch" }),
};

const hub = new Hub({
  onStatus: (status, detail) => {
    top.connection.dataset.state = status;
    setLabel(top.connection, `dash.conn.${status === "resync" ? "open" : status}`);
    // say why a link does not work: expired, revoked, another room's token...
    const why = `dash.refused.${detail?.code}`;
    top.why.hidden = status !== "refused";
    if (status !== "refused") return;
    if (t(why) !== why) setLabel(top.why, why);
    else top.why.textContent = String(detail?.reason || detail?.code || "");
  },
  onWelcome: (frame) => welcome(frame),
  onState: (key, value) => panels && state(key, value),
  onEvent: (event) => panels && handleEvent(event),
  onChat: (items, meta) => panels?.chat.receive(items, meta),
  onNotice: (frame) => {
    if (frame.kind === "chat_dropped") panels?.chat.dropped(Number(frame.count) || 0);
  },
});

function layout() {
  document.documentElement.lang = currentLang() === "zh" ? "zh-CN" : "en";
  top.room.textContent = t("dash.room", { room });
  setLabel(top.reconcile, "dash.reconcile.none");
  const header = el("header", { class: "topbar" },
    el("div", { class: "brand" }, label("dash.title", "h1"), top.showTitle, top.room),
    el("div", { class: "indicators" }, top.role, top.connection, top.why, top.bus, top.reconcile, top.lang));
  app.replaceChildren(header, el("p", { class: "loading" }, t("status.connecting")));
  document.body.append(toaster.node, confirmer.node);
  bindStatus(document.getElementById("status"), hub);
  bindLangSwitch(top.lang);
  document.addEventListener("livecon:lang", relabel);
}

function welcome(frame) {
  if (!panels) build(frame.role);
  else if (!frame.resumed) {
    panels.sales.reset();
    saleProducts.clear();
  }
}

function build(role) {
  const canControl = CONTROL_ROLES.has(role);
  document.body.dataset.role = role;
  top.role.hidden = false;
  setLabel(top.role, `dash.role.${role}`);
  const now = () => hub.now();
  const shared = { now, productName, currency: () => currency };
  const actions = new Actions(hub, toaster);
  const alerts = new AlertsPanel(shared);
  panels = {
    show: new ShowPanel({ actions, confirmer, canControl, now, onAutoCueAck: (event) => alerts.acknowledge(event) }),
    checklist: new ChecklistPanel({ actions, canControl }),
    metrics: new MetricsPanel(),
    sales: new SalesPanel({ ...shared, actions, confirmer, canControl }),
    chat: null, // built with its moderation hooks in addModeration()
    orders: new OrdersPanel(shared),
    alerts,
    audit: new AuditPanel({ ...shared, productOfSale: (sale) => saleProducts.get(sale) }),
  };
  addModeration(canControl, actions);
  app.querySelector(".loading")?.remove();
  app.append(el("div", { class: "grid" },
    el("div", { class: "col col-show" }, panels.checklist.node, panels.show.node, panels.show.cueNode),
    el("div", { class: "col col-main" }, panels.metrics.node, panels.sales.node, panels.lottery?.node),
    el("div", { class: "col col-chat" }, panels.moderation.node, panels.chat.node),
    el("div", { class: "col col-side" }, panels.alerts.node, panels.orders.node, panels.audit.node, panels.roomAudit.node)));
  setInterval(() => {
    panels.show.tick();
    panels.sales.tick();
    panels.lottery?.tick();
  }, 250);
  panels.roomAudit.start();
  setInterval(() => panels.metrics.sample(), 1000);
  panels.metrics.sample();
}

function state(key, value) {
  if (key.startsWith("sale:")) {
    const id = key.slice(5);
    if (value?.product) saleProducts.set(id, value.product);
    panels.sales.setSale(id, value);
    return;
  }
  switch (key) {
    case "timeline":
      learnProducts(value.segments || []);
      panels.show.setTimeline(value);
      panels.lottery?.setTimeline(value);
      break;
    case "show":
      currency = value.currency || "CNY";
      panels.metrics.setCurrency(currency);
      if (value.product?.id) products.set(value.product.id, value.product.name);
      showTitle = value.title || "";
      top.showTitle.textContent = showTitle;
      document.title = `${t("dash.title")} · ${showTitle || room}`;
      panels.show.setShow(value);
      break;
    case "prompter": panels.show.setPrompter(value); break;
    case "checklist": panels.checklist.setChecklist(value); break;
    case "pinned": panels.moderation.setPinned(value); break;
    case "slow_mode": panels.moderation.setSlowMode(value); break;
    case "lottery": panels.lottery?.setLottery(value); break;
    case "metrics": panels.metrics.setMetrics(value); break;
    case "presence": panels.metrics.setPresence(value); break;
    case "reconcile": {
      const ok = panels.alerts.setReconcile(value);
      top.reconcile.dataset.ok = String(ok);
      setLabel(top.reconcile, ok ? "dash.reconcile.ok" : "dash.reconcile.bad");
      break;
    }
    case "bus":
      // Redis unreachable: this node goes on alone (its viewers only; sales fail closed)
      top.bus.hidden = value?.healthy !== false;
      if (!top.bus.hidden) setLabel(top.bus, "dash.bus.down");
      break;
    default: break; // unknown keys are ignored (protocol section 2)
  }
}

function learnProducts(segments) {
  for (const segment of segments) {
    if (segment.product) products.set(segment.product, segment.product_name || segment.product);
  }
  panels.sales.setProducts([...products.entries()]);
}

function handleEvent(event) {
  if (event.type === "order") panels.orders.add(event);
  if (event.type === "comment_hidden" || event.type === "comment_deleted") panels.chat.removed(event.comment);
  panels.show.onEvent(event);
  panels.alerts.onEvent(event);
  panels.audit.onEvent(event);
  panels.moderation.onEvent(event);
  panels.lottery?.onEvent(event);
}

function relabel() {
  top.room.textContent = t("dash.room", { room });
  document.title = `${t("dash.title")} · ${showTitle || room}`;
  if (!panels) return;
  for (const name of ["show", "checklist", "metrics", "sales", "chat", "orders", "alerts", "audit", "moderation", "lottery", "roomAudit"]) {
    const one = panels[name];
    if (!one) continue;
    if (name === "metrics") one.render();
    else one.relabel();
  }
  panels.metrics.draw();
}

// Moderation in the comment stream (support too), the lottery (controllers and admins
// only) and the room's audit log, refreshed after every action sent from this page.
function addModeration(canControl, actions) {
  const hooks = {};
  panels.chat = new ChatPanel(hooks);
  panels.moderation = new Moderation({ actions, chat: panels.chat });
  hooks.decorate = (row, item) => panels.moderation.decorate(row, item);
  hooks.flagged = (id) => panels.moderation.flagged(id);
  panels.roomAudit = new RoomAuditPanel({ hub, room });
  if (canControl) panels.lottery = new LotteryPanel({ actions, confirmer, now: () => hub.now() });
  const run = actions.run.bind(actions);
  actions.run = (...args) => run(...args).finally(() => panels.roomAudit.refresh());
}

layout();
hub.connect();
