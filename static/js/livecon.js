// livecon browser client: one socket to the hub, resume, versioned state, i18n, safe DOM.
// Plain ES module, no dependencies. Every text from the server goes into textContent.

const STRINGS = { zh: {}, en: {} };

export function addStrings(table) {
  for (const code of Object.keys(STRINGS)) Object.assign(STRINGS[code], table[code] || {});
}

addStrings({
  zh: {
    "status.connecting": "连接中…",
    "status.open": "已连接",
    "status.closed": "连接断开，正在重连…",
    "status.refused": "无法连接：{reason}",
    "status.resync": "已重新同步",
    "lang.switch": "English",
  },
  en: {
    "status.connecting": "Connecting…",
    "status.open": "Connected",
    "status.closed": "Disconnected, reconnecting…",
    "status.refused": "Cannot connect: {reason}",
    "status.resync": "Resynchronised",
    "lang.switch": "中文",
  },
});

const LANG_KEY = "livecon.lang";

export function currentLang() {
  const asked = new URLSearchParams(location.search).get("lang");
  if (asked === "zh" || asked === "en") return asked;
  const saved = localStorage.getItem(LANG_KEY);
  if (saved === "zh" || saved === "en") return saved;
  return (navigator.language || "zh").toLowerCase().startsWith("zh") ? "zh" : "en";
}

let lang = currentLang();

export function setLang(code) {
  lang = code;
  localStorage.setItem(LANG_KEY, code);
  document.documentElement.lang = code === "zh" ? "zh-CN" : "en";
  translate(document);
  document.dispatchEvent(new CustomEvent("livecon:lang", { detail: code }));
}

export function t(key, vars = {}) {
  const text = STRINGS[lang][key] ?? STRINGS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : ""));
}

// Fill every element carrying data-i18n with its translation (as text, never HTML).
export function translate(root) {
  for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of root.querySelectorAll("[data-i18n-placeholder]")) {
    node.placeholder = t(node.dataset.i18nPlaceholder);
  }
  for (const node of root.querySelectorAll("[data-i18n-title]")) node.title = t(node.dataset.i18nTitle);
}

// el("div", {class: "x", onclick: fn}, "text", child) - strings become text nodes.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") node.addEventListener(name.slice(2), value);
    else if (name === "class") node.className = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function money(fen, currency = "CNY") {
  const symbol = currency === "CNY" ? "¥" : currency === "USD" ? "$" : currency + " ";
  const value = Number(fen) / 100;
  return symbol + (Number.isInteger(value) ? String(value) : value.toFixed(2));
}

export function clock(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "--:--";
  const sign = seconds < 0 ? "-" : "";
  const total = Math.floor(Math.abs(seconds));
  return `${sign}${Math.floor(total / 60)}:${String(total % 60).padStart(2, "0")}`;
}

const FATAL = new Set([4000, 4001, 4002, 4003, 4004, 4005]);
const REASONS = {
  4000: "bad request", 4001: "token invalid", 4002: "token expired", 4003: "token revoked",
  4004: "unsupported protocol", 4005: "token is for another room", 4008: "rate limited", 4009: "too slow", 4029: "too many connections",
};

// One socket to the hub. Callbacks: onWelcome(welcome), onState(key, value), onEvent(event),
// onChat(items, meta), onDirect(item), onNotice(frame), onStatus(status, detail).
export class Hub {
  constructor(options) {
    const params = new URLSearchParams(location.search);
    this.token = options.token || params.get("token") || "";
    // the screen's room (/dashboard/ROOM): the hub refuses a token for another room (4005)
    this.room = options.room ?? decodeURIComponent(location.pathname.split("/")[2] || "");
    this.url = options.url || `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
    this.handlers = options;
    this.state = new Map();
    this.epoch = null;
    this.seq = 0;
    this.attempt = 0;
    this.pending = new Map();
    this.nextId = 1;
    this.closedByUs = false;
    this.skew = 0;
  }

  connect() {
    this.closedByUs = false;
    let url = `${this.url}?token=${encodeURIComponent(this.token)}`;
    if (this.room) url += `&room=${encodeURIComponent(this.room)}`;
    if (this.epoch) url += `&epoch=${encodeURIComponent(this.epoch)}&seq=${this.seq}`;
    this.status("connecting");
    const socket = new WebSocket(url);
    this.socket = socket;
    socket.onmessage = (message) => this.receive(JSON.parse(message.data));
    socket.onclose = (closed) => this.closed(closed.code, closed.reason);
  }

  close() {
    this.closedByUs = true;
    if (this.socket) this.socket.close(1000);
  }

  status(status, detail = {}) {
    this.handlers.onStatus?.(status, detail);
  }

  closed(code, reason) {
    for (const { reject } of this.pending.values()) {
      reject(Object.assign(new Error("disconnected"), { code: "disconnected" }));
    }
    this.pending.clear();
    if (this.closedByUs) return;
    if (FATAL.has(code)) {
      this.status("refused", { code, reason: REASONS[code] || reason || String(code) });
      return;
    }
    this.status("closed", { code });
    const base = Math.min(15000, 500 * 2 ** this.attempt);
    this.attempt += 1;
    setTimeout(() => this.connect(), Math.random() * base + 250);
  }

  send(frame) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  // Send a frame with an id; resolves with the ack (or rejects with the error frame).
  request(frame, timeoutMs = 10000) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (!this.send({ ...frame, id })) {
        reject(Object.assign(new Error("not connected"), { code: "not_connected" }));
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(Object.assign(new Error("timeout"), { code: "timeout" }));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (value) => { clearTimeout(timer); resolve(value); },
        reject: (error) => { clearTimeout(timer); reject(error); },
      });
    });
  }

  now() {
    return Date.now() + this.skew;
  }

  receive(frame) {
    if (frame.ts) this.skew = frame.ts - Date.now();
    switch (frame.t) {
      case "welcome": return this.welcome(frame);
      case "batch": return this.batch(frame);
      case "snapshot": return this.snapshot(frame);
      case "ack": case "pong": return this.answer(frame, true);
      case "error": return this.answer(frame, false);
      case "direct": return this.handlers.onDirect?.(frame);
      case "notice": return this.handlers.onNotice?.(frame);
      default: return undefined;
    }
  }

  welcome(frame) {
    this.attempt = 0;
    if (!frame.resumed) this.state.clear();
    this.epoch = frame.epoch;
    if (!frame.resumed) this.seq = frame.seq;
    this.status("open", { resumed: frame.resumed, historyLost: frame.history_lost });
    this.handlers.onWelcome?.(frame);
    this.applyState(frame.st || {});
  }

  snapshot(frame) {
    this.epoch = frame.epoch;
    this.seq = frame.seq;
    this.state.clear();
    this.status("open", { historyLost: true });
    this.applyState(frame.st || {});
  }

  batch(frame) {
    for (const event of frame.ev || []) {
      if (event.seq <= this.seq) continue;
      this.seq = event.seq;
      this.handlers.onEvent?.(event);
    }
    if (frame.seq > this.seq) this.seq = frame.seq;
    if (frame.chat) this.handlers.onChat?.(frame.chat, { sampled: !!frame.sampled, total: frame.chat_total });
    this.applyState(frame.st || {});
  }

  applyState(changes) {
    for (const [key, value] of Object.entries(changes)) {
      const old = this.state.get(key);
      const newer = !(old && typeof old.version === "number" && value && typeof value.version === "number"
        && value.version < old.version);
      if (!newer) continue;
      this.state.set(key, value);
      this.handlers.onState?.(key, value);
    }
  }

  answer(frame, ok) {
    const waiting = this.pending.get(frame.id);
    if (!waiting) return;
    this.pending.delete(frame.id);
    if (ok) waiting.resolve(frame);
    else waiting.reject(Object.assign(new Error(frame.message), { code: frame.code, frame }));
  }
}

// The connection banner every screen shows while not connected.
export function bindStatus(banner, hub) {
  const previous = hub.handlers.onStatus;
  hub.handlers.onStatus = (status, detail) => {
    banner.dataset.status = status;
    banner.textContent = t(`status.${status}`, detail);
    banner.hidden = status === "open";
    previous?.(status, detail);
  };
}

export function bindLangSwitch(button) {
  button.textContent = t("lang.switch");
  button.addEventListener("click", () => setLang(lang === "zh" ? "en" : "zh"));
  document.addEventListener("livecon:lang", () => { button.textContent = t("lang.switch"); });
}

// A random idempotency key for one press of a button.
export function requestKey() {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
