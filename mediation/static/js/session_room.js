/**
 * The session room (templates/sessions/room.html): being present, and the chat's post box.
 *
 * pages.js already holds the page's one live connection (window.mediationLive) and re-renders
 * the room's live parts (state, people present, chat) when the case's events arrive. This
 * module adds what is particular to the room:
 * - `join_session` when the connection is up (and again after every reconnect, and every
 *   `data-heartbeat` seconds so the server knows the room is still open), `leave_session`
 *   when the page goes away (a closed connection leaves by itself too);
 * - posting through the socket (`post_message`, channel "session"); without a connection the
 *   form posts as a plain form (the server's fallback);
 * - on `live:event` of this session: announce arrivals and departures to screen readers,
 *   open or close the post box when the session starts or ends, and keep the chat scrolled
 *   to the newest message.
 */
import { refresh } from "./pages.js";

const root = document.querySelector("[data-session-room]");

function connected(live) {
  return Boolean(live && live.socket && live.socket.connected);
}

function call(live, event, data) {
  return live.socket.timeout(10000).emitWithAck(event, data)
    .catch((err) => ({ ok: false, error: String((err && err.message) || err) }));
}

function scrollChat() {
  const list = document.querySelector("#part-session_chat .chat-list");
  if (list) list.scrollTop = list.scrollHeight;
}

function setup(live) {
  const sessionId = Number(root.dataset.sessionId);
  const caseId = Number(root.dataset.caseId);
  const heartbeatMs = Math.max(5, Number(root.dataset.heartbeat || 25)) * 1000;
  let timer = null;
  let inRoom = false;

  async function join() {
    if (root.dataset.mayEnter !== "1" || !connected(live)) return;
    const ack = await call(live, "join_session", { session_id: sessionId });
    inRoom = Boolean(ack && ack.ok);
    root.dataset.present = inRoom ? "joined" : "refused";
  }

  function startBeat() {
    clearInterval(timer);
    timer = setInterval(join, heartbeatMs);
  }

  function stopBeat() {
    clearInterval(timer);
    timer = null;
  }

  live.socket.on("connect", () => { join(); });
  if (connected(live)) join();
  startBeat();

  window.addEventListener("pagehide", () => {
    stopBeat();
    if (inRoom && connected(live)) live.socket.emit("leave_session", { session_id: sessionId });
  });

  const announcer = document.getElementById("presence-announcer");
  const form = document.getElementById("chat-form");
  const closedNote = document.getElementById("chat-closed");

  document.addEventListener("live:event", (e) => {
    const env = e.detail;
    if (!env || env.case_id !== caseId || !env.data || env.data.session_id !== sessionId) return;
    if ((env.type === "session.entered" || env.type === "session.left") && announcer) {
      const verb = env.type === "session.entered" ? announcer.dataset.entered : announcer.dataset.left;
      announcer.textContent = `${env.data.name} ${verb || ""}`.trim();
    } else if (env.type === "session.started") {
      root.dataset.status = "in_progress";
      if (form) form.hidden = false;
      if (closedNote) closedNote.hidden = true;
    } else if (env.type === "session.ended" || env.type === "session.cancelled") {
      root.dataset.status = env.type === "session.ended" ? "ended" : "cancelled";
      if (form) form.hidden = true;
      stopBeat();
    }
  });
  document.addEventListener("live:refreshed", (e) => {
    if (e.detail && e.detail.part === "session_chat") scrollChat();
  });
  scrollChat();

  // The caucus (背靠背谈话): its section shows once a message of this session's channel
  // arrives (a side's section is hidden until the mediator opens it); its form is posted in
  // the background and the messages part fetched again, so the room stays open. A refused
  // post (422, 409) is sent again as a plain form, which shows the refusal beside the field;
  // nothing was written the first time.
  const caucusSection = document.querySelector("[data-caucus]");
  const caucusForm = document.getElementById("caucus-form");
  document.addEventListener("live:event", (e) => {
    const env = e.detail;
    if (!env || env.case_id !== caseId || !env.data || env.data.session_id !== sessionId) return;
    if (env.type === "session.caucus.posted" && caucusSection) caucusSection.hidden = false;
    if ((env.type === "session.ended" || env.type === "session.cancelled") && caucusForm) caucusForm.hidden = true;
  });
  if (caucusForm) {
    caucusForm.addEventListener("submit", async (e) => {
      e.preventDefault();
      const box = caucusForm.querySelector("textarea[name=body]");
      const button = caucusForm.querySelector("button[type=submit]");
      if (button) button.disabled = true;
      let ok = false;
      try {
        const response = await fetch(caucusForm.action, {
          method: "POST", body: new FormData(caucusForm), credentials: "same-origin",
          headers: { "X-Requested-With": "fetch" } });
        ok = response.ok && response.redirected;
      } catch (err) {
        ok = false;
      }
      if (!ok) { caucusForm.submit(); return; }
      if (button) button.disabled = false;
      if (box) { box.value = ""; box.focus(); }
      const part = document.querySelector('[data-part="session_caucus"]');
      if (part) refresh(part).catch(() => {});
    });
  }

  if (!form) return;
  const box = form.querySelector("textarea[name=body]");
  const status = document.getElementById("chat-status");
  form.addEventListener("submit", async (e) => {
    if (!connected(live)) {
      if (status) status.textContent = root.dataset.offline; // posts as a plain form
      return;
    }
    e.preventDefault();
    const body = box.value.trim();
    if (!body) { box.focus(); return; }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    if (status) { status.classList.remove("error"); status.textContent = root.dataset.sending; }
    const ack = await call(live, "post_message", { case_id: caseId, session_id: sessionId, channel: "session", body });
    button.disabled = false;
    if (ack.ok) {
      box.value = "";
      if (status) status.textContent = "";
      const part = document.querySelector('[data-part="session_chat"]');
      if (part) refresh(part).then(scrollChat).catch(() => {});
    } else if (status) {
      status.classList.add("error");
      const known = { 429: root.dataset.rateLimited, 409: root.dataset.notOpen };
      status.textContent = known[ack.code] ? `${known[ack.code]}（${ack.error}）` : (ack.error || "");
    }
    box.focus();
  });
  box.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) form.requestSubmit();
  });
}

function whenLive(tries = 0) {
  if (window.mediationLive) setup(window.mediationLive);
  else if (tries < 100) setTimeout(() => whenLive(tries + 1), 50);
}

if (root) whenLive();
