/* livecon widget loader for shop pages (classic script, no globals):
 *   <script src="https://HOST/embed.js" data-room="snack" data-token="..." async></script>
 * Optional: data-target (element id or CSS selector to fill), data-height (px, default 640),
 * data-lang (zh | en), data-title (the iframe's accessible title). */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.src) return;
  var room = script.getAttribute("data-room") || "";
  if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(room)) {
    if (window.console) console.warn("livecon embed: data-room is missing or invalid");
    return;
  }
  var origin = new URL(script.src, location.href).origin;
  var lang = script.getAttribute("data-lang") || document.documentElement.lang || navigator.language || "";
  lang = lang.toLowerCase().indexOf("zh") === 0 ? "zh" : "en";
  var height = parseInt(script.getAttribute("data-height") || "", 10);
  var src = new URL("/widget/" + encodeURIComponent(room), origin);
  src.searchParams.set("token", script.getAttribute("data-token") || "");
  src.searchParams.set("lang", lang);

  var frame = document.createElement("iframe");
  frame.src = src.href;
  frame.title = script.getAttribute("data-title") || (lang === "zh" ? "直播间购物挂件" : "Live shopping widget");
  frame.setAttribute("loading", "lazy");
  frame.setAttribute("referrerpolicy", "strict-origin");
  frame.className = "livecon-widget";
  frame.style.cssText = "display:block;width:100%;border:0;height:" + (height > 0 ? height : 640) + "px";

  function find(target) {
    var found = document.getElementById(target);
    if (found) return found;
    try { return document.querySelector(target); } catch (error) { return null; }
  }

  // Inside data-target, else right after the script tag (in the body once it exists).
  function place(late) {
    var target = script.getAttribute("data-target");
    var host = target ? find(target) : null;
    if (target && !host && !late) return false;
    if (host) host.appendChild(frame);
    else if (script.parentNode && script.parentNode !== document.head) {
      script.parentNode.insertBefore(frame, script.nextSibling);
    } else if (document.body) document.body.appendChild(frame);
    else return false;
    return true;
  }

  if (!place(document.readyState !== "loading")) {
    document.addEventListener("DOMContentLoaded", function () { place(true); }, { once: true });
  }
})();
