/**
 * Live case timelines in the browser: connect, subscribe, resume, drop duplicates.
 *
 * Load the Socket.IO client first (served by the app, no CDN):
 *   <script src="/static/vendor/socket.io.min.js"></script>
 *   <script type="module">
 *     import { LiveClient } from "/static/js/live.js";
 *     const live = new LiveClient({ scope: "user-42", onEvent: (e) => render(e) });
 *     live.subscribe(17);
 *   </script>
 *
 * Pages authenticate with the login cookie; programs may pass `token`. For each case the
 * client keeps the last sequence number it has delivered (in memory and localStorage), so
 * after a reconnect (Socket.IO's own backoff: 1 s doubling to 30 s, randomised) or a page
 * reload it asks the server only for what it missed. Events are handed to `onEvent` once
 * each and in sequence order: duplicates are dropped by (case_id, seq), and an event that
 * arrives ahead of a gap waits until the gap is filled from the server. A "resync" from the
 * server (its live feed was interrupted) resumes every case the same way.
 */

const GAP_WAIT_MS = 1500; // how long an out-of-order event waits before asking the server
const RECENT_LIMIT = 500; // inbox events (cases not subscribed) remembered for de-duplication

export class LiveClient {
  constructor({
    url = "",
    token = null,
    scope = "anonymous",
    onEvent = () => {},
    onStatus = () => {},
    storage = globalThis.localStorage,
    io = globalThis.io,
  } = {}) {
    if (typeof io !== "function") {
      throw new Error("load /static/vendor/socket.io.min.js before live.js");
    }
    this.onEvent = onEvent;
    this.onStatus = onStatus;
    this.storage = storage;
    this.prefix = `mediation.live.${scope}.`;
    this.cases = new Map(); // case_id -> { cursor, ahead: Map(seq -> envelope), timer }
    this.regions = new Set();
    this.recent = new Set();
    this.socket = io(url, {
      auth: token ? { token } : undefined,
      withCredentials: true,
      reconnection: true,
      reconnectionDelay: 1000,
      reconnectionDelayMax: 30000,
      randomizationFactor: 0.5,
    });
    this.socket.on("connect", () => {
      this.onStatus("connected");
      for (const caseId of this.cases.keys()) this._resume(caseId);
      for (const region of this.regions) this.socket.emit("subscribe_region", { region });
    });
    this.socket.on("disconnect", (reason) => this.onStatus("disconnected", reason));
    this.socket.on("connect_error", (err) => {
      // A refusal (no login, expired token) is not retried by Socket.IO: say so.
      this.onStatus(this.socket.active ? "reconnecting" : "refused", err && err.message);
    });
    this.socket.on("event", (envelope) => this._receive(envelope));
    // The server's queue listener was cut off (a Redis outage) and is back: what was
    // published meanwhile never came. Resume every case from its cursor; the page fetches
    // its inbox and boards again (onStatus "resync"), as they have no cursor.
    this.socket.on("resync", () => {
      for (const caseId of this.cases.keys()) this._resume(caseId);
      for (const region of this.regions) this.socket.emit("subscribe_region", { region });
      this.onStatus("resync");
    });
  }

  /** Follow a case: what was missed since the stored cursor, then the live stream. */
  subscribe(caseId, after = null) {
    const id = Number(caseId);
    if (!this.cases.has(id)) {
      const stored = Number(this.storage?.getItem(this.prefix + id) ?? 0);
      this.cases.set(id, { cursor: after ?? stored, ahead: new Map(), timer: null });
    }
    if (this.socket.connected) return this._resume(id);
    return Promise.resolve({ ok: true, pending: true });
  }

  unsubscribe(caseId) {
    const id = Number(caseId);
    const state = this.cases.get(id);
    if (state) clearTimeout(state.timer);
    this.cases.delete(id);
    return this._call("unsubscribe", { case_id: id });
  }

  /** A supervisor's board: every event of the cases in a GB/T 2260 region. */
  subscribeRegion(region) {
    this.regions.add(String(region));
    return this._call("subscribe_region", { region: String(region) });
  }

  postMessage(caseId, body, channel = "case") {
    return this._call("post_message", { case_id: Number(caseId), body, channel });
  }

  editMessage(caseId, seq, body) {
    return this._call("edit_message", { case_id: Number(caseId), seq, body });
  }

  deleteMessage(caseId, seq) {
    return this._call("delete_message", { case_id: Number(caseId), seq });
  }

  markRead(caseId, seq) {
    return this._call("mark_read", { case_id: Number(caseId), seq });
  }

  cursor(caseId) {
    return this.cases.get(Number(caseId))?.cursor ?? 0;
  }

  close() {
    for (const state of this.cases.values()) clearTimeout(state.timer);
    this.socket.close();
  }

  _call(event, data) {
    return this.socket.timeout(10000).emitWithAck(event, data)
      .catch((err) => ({ ok: false, error: String(err && err.message || err) }));
  }

  async _resume(caseId) {
    let ack;
    do {
      const state = this.cases.get(caseId);
      if (!state) return { ok: false, error: "unsubscribed" };
      ack = await this._call("subscribe", { case_id: caseId, after: state.cursor });
      if (!ack.ok) {
        this.onStatus("subscribe_failed", ack.error, caseId);
        return ack;
      }
      for (const envelope of ack.missed) this._receive(envelope);
      const last = ack.missed.length ? ack.missed[ack.missed.length - 1].seq : state.cursor;
      // Events the user may not see leave gaps: the server's last_seq closes them.
      this._advanceTo(caseId, ack.more ? last : Math.max(last, ack.last_seq));
    } while (ack.more);
    return ack;
  }

  _receive(envelope) {
    const state = this.cases.get(envelope.case_id);
    if (!state) {
      const key = `${envelope.case_id}:${envelope.seq}`;
      if (this.recent.has(key)) return;
      this.recent.add(key);
      if (this.recent.size > RECENT_LIMIT) this.recent.delete(this.recent.values().next().value);
      this.onEvent(envelope);
      return;
    }
    if (envelope.seq <= state.cursor || state.ahead.has(envelope.seq)) return; // duplicate
    state.ahead.set(envelope.seq, envelope);
    this._drain(envelope.case_id, state);
    if (state.ahead.size && !state.timer) {
      state.timer = setTimeout(() => {
        state.timer = null;
        if (state.ahead.size) this._resume(envelope.case_id);
      }, GAP_WAIT_MS);
    }
  }

  _drain(caseId, state) {
    while (state.ahead.has(state.cursor + 1)) {
      const next = state.ahead.get(state.cursor + 1);
      state.ahead.delete(state.cursor + 1);
      state.cursor += 1;
      this.onEvent(next);
    }
    this._store(caseId, state);
  }

  _advanceTo(caseId, seq) {
    const state = this.cases.get(caseId);
    if (!state || seq <= state.cursor) return;
    // Anything held below the new cursor is delivered now, in order.
    for (const s of [...state.ahead.keys()].sort((a, b) => a - b)) {
      if (s > seq) break;
      this.onEvent(state.ahead.get(s));
      state.ahead.delete(s);
    }
    state.cursor = seq;
    this._drain(caseId, state);
  }

  _store(caseId, state) {
    try {
      this.storage?.setItem(this.prefix + caseId, String(state.cursor));
    } catch (err) {
      // Storage full or disabled: the cursor still lives in memory.
    }
  }
}
