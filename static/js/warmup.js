// The warm-up page (预热): live countdown to the start, zh/en labels, and the "remind me"
// form posting to /api/rooms/{room}/reminders. The page itself is rendered by the
// server from the script; this module only adds behaviour. Server texts go in as text.
import { addStrings, bindLangSwitch, currentLang, setLang, t } from "./livecon.js";

addStrings({
  zh: {
    "warmup.kicker": "直播预告",
    "warmup.host": "主播",
    "warmup.starts": "开播时间",
    "warmup.products": "直播好物",
    "warmup.anchor": "原价",
    "warmup.live": "直播价",
    "warmup.benefits": "直播间专享福利",
    "warmup.remind": "开播提醒我",
    "warmup.name": "称呼（选填）",
    "warmup.contact": "联系方式（选填）",
    "warmup.consent": "同意仅用于本场开播提醒",
    "warmup.submit": "提醒我",
    "warmup.countdown": "距开播 {time}",
    "warmup.days": "{d}天 {time}",
    "warmup.live_now": "正在直播",
    "warmup.saved": "已登记，开播前提醒你",
    "warmup.updated": "已更新你的提醒",
    "warmup.failed": "没有登记成功：{message}",
    "warmup.need_consent": "留下联系方式需要勾选同意",
  },
  en: {
    "warmup.kicker": "Coming up live",
    "warmup.host": "Host",
    "warmup.starts": "Starts",
    "warmup.products": "On the show",
    "warmup.anchor": "Regular price",
    "warmup.live": "Live price",
    "warmup.benefits": "Live-only benefits",
    "warmup.remind": "Remind me",
    "warmup.name": "Name (optional)",
    "warmup.contact": "Contact (optional)",
    "warmup.consent": "Use it only to remind me of this show",
    "warmup.submit": "Remind me",
    "warmup.countdown": "Starts in {time}",
    "warmup.days": "{d}d {time}",
    "warmup.live_now": "Live now",
    "warmup.saved": "Saved: we will remind you before the start",
    "warmup.updated": "Your reminder was updated",
    "warmup.failed": "Not saved: {message}",
    "warmup.need_consent": "Tick the consent box to leave a contact",
  },
});

const VIEWER_KEY = "livecon.viewer";
const room = document.body.dataset.room || "";
const countdown = document.getElementById("countdown");
const startsAt = Number(countdown.dataset.startsAtMs);
const form = document.getElementById("remind-form");
const result = document.getElementById("remind-result");

function pad(n) {
  return String(n).padStart(2, "0");
}

function renderCountdown() {
  const left = Math.ceil((startsAt - Date.now()) / 1000);
  countdown.classList.toggle("is-live", left <= 0);
  if (left <= 0) {
    countdown.textContent = t("warmup.live_now");
    return;
  }
  const days = Math.floor(left / 86400);
  const time = `${pad(Math.floor((left % 86400) / 3600))}:${pad(Math.floor((left % 3600) / 60))}:${pad(left % 60)}`;
  countdown.textContent = t("warmup.countdown", { time: days ? t("warmup.days", { d: days, time }) : time });
}

function viewerId() {
  const asked = new URLSearchParams(location.search).get("viewer");
  if (asked) return asked;
  try {
    return localStorage.getItem(`${VIEWER_KEY}.${room}`) || "";
  } catch {
    return "";
  }
}

function remember(viewer) {
  try {
    localStorage.setItem(`${VIEWER_KEY}.${room}`, viewer);
  } catch {
    // storage may be blocked inside a shop's iframe: the next visit gets a new id
  }
}

function show(text, ok) {
  result.textContent = text;
  result.dataset.state = ok ? "ok" : "error";
}

async function submit(event) {
  event.preventDefault();
  const data = new FormData(form);
  const body = {
    name: String(data.get("name") || "").trim(),
    contact: String(data.get("contact") || "").trim(),
    consent: data.get("consent") === "on",
  };
  if (body.contact && !body.consent) {
    show(t("warmup.need_consent"), false);
    return;
  }
  const viewer = viewerId();
  if (viewer) body.viewer = viewer;
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const response = await fetch(`/api/rooms/${encodeURIComponent(room)}/reminders`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) {
      show(t("warmup.failed", { message: answer.error || response.status }), false);
      return;
    }
    remember(answer.viewer);
    show(t(answer.added ? "warmup.saved" : "warmup.updated"), true);
  } catch (error) {
    show(t("warmup.failed", { message: error.message }), false);
  } finally {
    button.disabled = false;
  }
}

setLang(currentLang());
bindLangSwitch(document.getElementById("lang"));
document.addEventListener("livecon:lang", renderCountdown);
form.addEventListener("submit", submit);
renderCountdown();
setInterval(renderCountdown, 1000);
