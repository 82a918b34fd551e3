// The one client of the /ws/ protocol (docs/websocket.md): one socket per tab.
//
// - Authenticates with the session cookie (the browser sends the page's Origin).
// - Reconnects with exponential backoff and full jitter; at once when the network is back.
// - Resumes from the last durable event id this tab has seen (sessionStorage), so events
//   that happened while the socket was down are replayed, and drops any id it has seen:
//   every durable event reaches the page once.
// - Keeps an outbox of messages (with their client_id) in sessionStorage: each is sent
//   when the socket is ready and sent again after a reconnect until it is acked; the
//   server makes a repeated client_id a no-op, so a message is delivered once.
import { leaveToLogin, uuid } from "./util.js";

const BACKOFF_BASE_MS = 500;
const BACKOFF_CAP_MS = 15000;
const PING_EVERY_MS = 20000;
const DEAD_AFTER_MS = 45000;
const RESUME_WAIT_MS = 4000;

function storageGet(key, fallback) {
  try {
    const raw = window.sessionStorage.getItem(key);
    return raw === null ? fallback : JSON.parse(raw);
  } catch {
    return fallback;
  }
}

function storageSet(key, value) {
  try {
    window.sessionStorage.setItem(key, JSON.stringify(value));
  } catch {
    // Storage full or disabled: the tab still works, it just cannot resume across pages.
  }
}

export class Gateway {
  constructor() {
    this.ws = null;
    this.status = "idle"; // idle | connecting | open | reconnecting | offline | closed
    this.attempt = 0;
    this.listeners = new Map();
    this.pending = new Map(); // ref -> {resolve, reject}
    this.everReady = false;
    this.isReady = false;
    this.readyWaiters = [];
    this.retryTimer = null;
    this.heartbeat = null;
    this.resumeTimer = null;
    this.lastFrameAt = 0;
    this.helloLastId = null;
    this.refSeq = 0;
    this.user = null;
  }

  start(userId) {
    if (this.userId !== undefined) return;
    this.userId = userId;
    this.lastKey = `instaclone.lastEventId.${userId}`;
    this.outboxKey = `instaclone.outbox.${userId}`;
    this.lastId = storageGet(this.lastKey, null);
    this.outbox = storageGet(this.outboxKey, []).filter((item) => item && item.client_id && item.ref);
    window.addEventListener("online", () => this.reconnectNow());
    window.addEventListener("offline", () => this.drop("offline"));
    window.addEventListener("pagehide", () => this.shutdown());
    window.addEventListener("pageshow", (event) => {
      if (event.persisted) this.restart();
    });
    this.connect();
  }

  // --- subscriptions -------------------------------------------------------------

  /** type: a durable event ("message.new", ...), an ephemeral frame type ("typing", ...)
   *  or a local one: "status", "ready", "reconnected", "resync", "message.sent",
   *  "message.failed", "outbox". */
  on(type, callback) {
    if (!this.listeners.has(type)) this.listeners.set(type, new Set());
    this.listeners.get(type).add(callback);
    return () => this.listeners.get(type).delete(callback);
  }

  emit(type, data, extra) {
    for (const callback of [...(this.listeners.get(type) || [])]) {
      try {
        callback(data, extra);
      } catch (error) {
        console.error(`listener for ${type} failed`, error);
      }
    }
  }

  /** Resolves once the socket has said hello and finished its replay, or after `timeoutMs`
   *  (pages then load over REST anyway). Subscribe before snapshot: pages wait for this
   *  before fetching their state. */
  ready(timeoutMs = 3000) {
    if (this.isReady) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.readyWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  get connected() {
    return this.status === "open";
  }

  setStatus(status) {
    if (this.status === status) return;
    this.status = status;
    document.documentElement.dataset.socket = status;
    this.emit("status", status);
  }

  // --- connection ------------------------------------------------------------------

  connect() {
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.ws) return;
    const url = new URL("/ws/", window.location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    if (Number.isInteger(this.lastId)) url.searchParams.set("after", String(this.lastId));
    this.setStatus(this.everReady ? "reconnecting" : "connecting");
    let ws;
    try {
      ws = new WebSocket(url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    this.isReady = false;
    ws.onopen = () => {
      this.lastFrameAt = Date.now();
    };
    ws.onmessage = (message) => {
      if (this.ws !== ws) return;
      this.lastFrameAt = Date.now();
      let frame;
      try {
        frame = JSON.parse(message.data);
      } catch {
        return;
      }
      this.handleFrame(frame);
    };
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this.handleClose(event.code);
    };
    ws.onerror = () => {};
  }

  handleFrame(frame) {
    switch (frame.type) {
      case "hello":
        this.user = frame.user;
        this.helloLastId = frame.last_event_id;
        if (!Number.isInteger(this.lastId) || this.lastId > frame.last_event_id) {
          // A fresh tab (or a server whose log is behind ours): start from now.
          this.saveLastId(frame.last_event_id);
          this.becomeReady();
        } else if (this.lastId === frame.last_event_id) {
          this.becomeReady();
        } else {
          // The server replays what we missed, then says "resumed".
          this.resumeTimer = setTimeout(() => this.becomeReady(), RESUME_WAIT_MS);
        }
        break;
      case "resumed":
        this.becomeReady();
        break;
      case "event":
        if (!Number.isInteger(frame.id) || (Number.isInteger(this.lastId) && frame.id <= this.lastId)) return;
        this.saveLastId(frame.id);
        this.emit(frame.event, frame.data, { id: frame.id });
        break;
      case "ack":
        this.settle(frame.ref, true, frame.data);
        break;
      case "error":
        if (frame.code === "resync_required") {
          this.saveLastId(this.helloLastId ?? 0);
          this.emit("resync");
          this.becomeReady();
        } else if (frame.ref) {
          this.settle(frame.ref, false, frame);
        }
        break;
      case "pong":
        break;
      default:
        this.emit(frame.type, frame.data);
    }
  }

  becomeReady() {
    clearTimeout(this.resumeTimer);
    if (this.isReady || !this.ws) return;
    this.isReady = true;
    this.attempt = 0;
    const reconnected = this.everReady;
    this.everReady = true;
    this.setStatus("open");
    this.startHeartbeat();
    const waiters = this.readyWaiters.splice(0);
    waiters.forEach((resolve) => resolve());
    this.emit("ready");
    if (reconnected) this.emit("reconnected");
    this.flushOutbox();
  }

  handleClose(code) {
    this.ws = null;
    this.isReady = false;
    clearTimeout(this.resumeTimer);
    this.stopHeartbeat();
    for (const [ref, waiter] of this.pending) {
      if (!this.outbox.some((item) => item.ref === ref)) waiter.reject({ code: "disconnected", detail: "Disconnected." });
    }
    this.pending.clear();
    if (this.status === "closed") return;
    if (code === 4401) {
      this.setStatus("closed");
      leaveToLogin();
      return;
    }
    this.scheduleReconnect();
  }

  /** Forgets the current socket at once (a dead or offline connection may take long to close). */
  drop(reason) {
    const ws = this.ws;
    if (ws) {
      ws.onclose = null;
      ws.onmessage = null;
      try {
        ws.close(4000, reason);
      } catch {
        // already closing
      }
    }
    if (ws || this.status !== "offline") this.handleClose(0);
  }

  scheduleReconnect() {
    clearTimeout(this.retryTimer);
    const offline = navigator.onLine === false;
    this.setStatus(offline ? "offline" : "reconnecting");
    const ceiling = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** this.attempt);
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    this.attempt = Math.min(this.attempt + 1, 16);
    // Offline: the "online" event reconnects at once; the timer is a fallback.
    this.retryTimer = setTimeout(() => this.connect(), offline ? BACKOFF_CAP_MS : delay);
  }

  reconnectNow() {
    if (this.status === "closed" || (this.ws && this.isReady)) return;
    if (this.ws) this.drop("reconnect");
    this.attempt = 0;
    this.connect();
  }

  shutdown() {
    this.setStatus("closed");
    clearTimeout(this.retryTimer);
    this.stopHeartbeat();
    if (this.ws) {
      this.ws.onclose = null;
      this.ws.close(1000);
      this.ws = null;
    }
  }

  /** Connects again after shutdown(). */
  restart() {
    if (this.status !== "closed") return;
    this.status = "idle";
    this.attempt = 0;
    this.connect();
  }

  startHeartbeat() {
    this.stopHeartbeat();
    this.heartbeat = setInterval(() => {
      if (!this.ws) return;
      if (Date.now() - this.lastFrameAt > DEAD_AFTER_MS) {
        this.drop("dead");
        return;
      }
      this.sendFrame({ type: "ping" });
    }, PING_EVERY_MS);
  }

  stopHeartbeat() {
    clearInterval(this.heartbeat);
    this.heartbeat = null;
  }

  saveLastId(id) {
    this.lastId = id;
    storageSet(this.lastKey, id);
  }

  // --- sending -----------------------------------------------------------------------

  sendFrame(frame) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    try {
      this.ws.send(JSON.stringify(frame));
      return true;
    } catch {
      return false;
    }
  }

  /** Sends a frame with a ref and resolves with the ack's data (rejects with the error frame). */
  request(frame) {
    const ref = `r${Date.now().toString(36)}.${++this.refSeq}`;
    return new Promise((resolve, reject) => {
      if (!this.isReady || !this.sendFrame({ ...frame, ref })) {
        reject({ code: "disconnected", detail: "Not connected." });
        return;
      }
      this.pending.set(ref, { resolve, reject });
    });
  }

  settle(ref, ok, data) {
    const item = this.outbox.find((entry) => entry.ref === ref);
    if (item) {
      if (ok) {
        this.removeFromOutbox(item);
        this.emit("message.sent", data, { client_id: item.client_id, conversation: item.conversation });
      } else if (["unavailable", "throttled"].includes(data.code)) {
        // Kept: sent again on the next reconnect.
        this.emit("message.failed", data, { client_id: item.client_id, conversation: item.conversation, retrying: true });
      } else {
        this.removeFromOutbox(item);
        this.emit("message.failed", data, { client_id: item.client_id, conversation: item.conversation });
      }
    }
    const waiter = this.pending.get(ref);
    if (!waiter) return;
    this.pending.delete(ref);
    if (ok) waiter.resolve(data);
    else waiter.reject(data);
  }

  /** Queues a message (optionally a reply) and sends it now if the socket is ready. Returns
   *  the outbox item. */
  sendMessage(conversation, body, replyTo = null) {
    const clientId = uuid();
    const item = { ref: `m.${clientId}`, client_id: clientId, conversation, body, reply_to: replyTo, queued_at: new Date().toISOString() };
    this.outbox.push(item);
    storageSet(this.outboxKey, this.outbox);
    this.emit("outbox", item);
    if (this.isReady) this.transmit(item);
    return item;
  }

  transmit(item) {
    const frame = { type: "message.send", ref: item.ref, conversation: item.conversation, body: item.body, client_id: item.client_id };
    if (item.reply_to) frame.reply_to = item.reply_to;
    if (this.sendFrame(frame)) {
      this.pending.set(item.ref, { resolve: () => {}, reject: () => {} });
    }
  }

  flushOutbox() {
    for (const item of this.outbox) this.transmit(item);
  }

  removeFromOutbox(item) {
    this.outbox = this.outbox.filter((entry) => entry.client_id !== item.client_id);
    storageSet(this.outboxKey, this.outbox);
  }

  queued(conversation) {
    return this.outbox.filter((item) => item.conversation === conversation);
  }

  typing(conversation) {
    if (this.isReady) this.sendFrame({ type: "typing", conversation });
  }
}

export const gateway = new Gateway();
