/**
 * Makes server-rendered pages live; loaded on every signed-in page (no inline script: the
 * content security policy forbids it, so pages configure this through data attributes).
 *
 *   <body data-user="42" data-live-cases="17,18" data-live-regions="510104">
 *     <div data-part="referrals" data-cases="17" data-on="referral.,routing.">…</div>
 *     <time data-countdown datetime="2026-11-30T08:00:00Z" data-left="剩余" …>
 *
 * - One LiveClient (live.js) per page: the cases in data-live-cases are subscribed (missed
 *   events replayed, in order, once each), the regions in data-live-regions followed, and
 *   the user's own inbox events (offers, invitations, reminders) arrive without asking.
 * - A part whose data-cases names the event's case (or "*") and whose data-on prefixes
 *   match its type (or is empty) is fetched again from `<page>?part=<name>` and swapped in,
 *   at most once per 250 ms per part. The server renders it: one template, one truth.
 * - After a reconnect, or a "resync" from the server (its live feed was interrupted: the
 *   inbox and region boards have no cursor to resume from), every part is fetched again.
 * - Countdowns tick every second; an element with data-countdown-expired-class gets that
 *   class when its time has passed.
 * - Every event is also dispatched on `document` as a "live:event" CustomEvent, so a page's
 *   own script (the session room) can listen without opening a second connection; the
 *   client is `window.mediationLive`.
 */
import { LiveClient } from "./live.js";

const body = document.body;
const DEBOUNCE_MS = 250;
const pending = new Map(); // part name -> timer

function ids(text) {
  return (text || "").split(",").map((s) => s.trim()).filter(Boolean);
}

function matches(part, envelope) {
  const cases = part.dataset.cases || "*";
  if (cases !== "*" && !ids(cases).includes(String(envelope.case_id))) return false;
  const on = ids(part.dataset.on);
  return !on.length || on.some((prefix) => envelope.type.startsWith(prefix));
}

export async function refresh(part) {
  const name = part.dataset.part;
  const url = new URL(part.dataset.src || window.location.href, window.location.href);
  url.searchParams.set("part", name);
  const response = await fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } });
  if (!response.ok) return;
  const html = await response.text();
  const current = document.querySelector(`[data-part="${CSS.escape(name)}"]`);
  if (!current) return;
  // Keep what the user is typing: a part holding the focused field is left alone until blur.
  if (current.contains(document.activeElement) && document.activeElement.matches("input,textarea,select")) {
    document.activeElement.addEventListener("blur", () => schedule(current), { once: true });
    return;
  }
  current.innerHTML = html;
  current.dataset.refreshed = String(Number(current.dataset.refreshed || 0) + 1);
  tick();
  document.dispatchEvent(new CustomEvent("live:refreshed", { detail: { part: name } }));
}

function schedule(part) {
  const name = part.dataset.part;
  if (pending.has(name)) return;
  pending.set(name, setTimeout(() => {
    pending.delete(name);
    refresh(part).catch(() => {});
  }, DEBOUNCE_MS));
}

function onEvent(envelope) {
  for (const part of document.querySelectorAll("[data-part]")) {
    if (matches(part, envelope)) schedule(part);
  }
  document.dispatchEvent(new CustomEvent("live:event", { detail: envelope }));
}

function format(ms, el) {
  const over = ms < 0;
  let s = Math.floor(Math.abs(ms) / 1000);
  const d = Math.floor(s / 86400); s -= d * 86400;
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  const parts = d ? [`${d}${el.dataset.d}`, `${h}${el.dataset.h}`]
    : h ? [`${h}${el.dataset.h}`, `${m}${el.dataset.m}`] : [`${m}${el.dataset.m}`, `${s}${el.dataset.s}`];
  return `${over ? el.dataset.over : el.dataset.left} ${parts.join(" ")}`;
}

function tick() {
  const now = Date.now();
  for (const el of document.querySelectorAll("time[data-countdown]")) {
    const at = Date.parse(el.getAttribute("datetime"));
    if (Number.isNaN(at)) continue;
    el.textContent = format(at - now, el);
    el.classList.toggle("expired", at <= now);
  }
}

function status(state) {
  const el = document.getElementById("live-status");
  if (!el) return;
  el.dataset.state = state;
  el.textContent = state === "connected" ? el.dataset.connected : el.dataset.offline;
}

tick();
setInterval(tick, 1000);
// A printable page's button (a receipt): no inline handlers under the content security policy.
for (const button of document.querySelectorAll("[data-print]")) {
  button.addEventListener("click", () => window.print());
}

if (body.dataset.user && typeof globalThis.io === "function") {
  let connectedOnce = false;
  const live = new LiveClient({
    scope: `user-${body.dataset.user}`,
    onEvent,
    onStatus: (state) => {
      status(state);
      if (state === "resync") {
        document.querySelectorAll("[data-part]").forEach(schedule);
        return;
      }
      if (state === "connected") {
        if (connectedOnce) document.querySelectorAll("[data-part]").forEach(schedule);
        connectedOnce = true;
        body.dataset.live = "connected";
      } else {
        body.dataset.live = state;
      }
    },
  });
  // A page shows the case as rendered now: only what happens after it is news to it.
  const cursors = Object.fromEntries(ids(body.dataset.liveCursors).map((pair) => pair.split(":")));
  for (const id of ids(body.dataset.liveCases)) live.subscribe(id, Number(cursors[id] ?? 0) || null);
  for (const region of ids(body.dataset.liveRegions)) live.subscribeRegion(region);
  window.mediationLive = live;
}
