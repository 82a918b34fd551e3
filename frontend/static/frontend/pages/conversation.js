// A conversation: live messages, "typing…", "Seen" receipts, and an outbox that survives
// going offline (messages carry their client_id and are sent once the socket is back).
import { api } from "../api.js";
import { gateway } from "../socket.js";
import { $, h, pageLimit, refreshTimes, showError, timeEl, userId } from "../util.js";

const TYPING_SEND_EVERY_MS = 2500;
const TYPING_SHOW_MS = 5000;

export const state = {
  me: null,
  conversationId: 0,
  bodyMax: 0, // the server's limit, from <body data-body-max>
  byId: new Map(), // message id -> <li>
  byClientId: new Map(), // client_id -> <li> (mine: pending or sent)
  olderUrl: null,
  othersReadUpTo: 0,
  readSent: 0,
  newestTheirs: 0,
  lastTypingSent: 0,
  typingUntil: new Map(), // username -> timestamp
  loaded: null, // resolves once the newest messages are on the page
};

const ui = {};

// --- rendering -------------------------------------------------------------------

const nearBottom = () => ui.list.scrollHeight - ui.list.scrollTop - ui.list.clientHeight < 120;

function scrollToEnd() {
  ui.list.scrollTop = ui.list.scrollHeight;
}

const statusText = (node) => node.querySelector(".msg-status");

const pendingText = () => (gateway.connected ? "Sending…" : "Queued: sends when you are back online");

function bubble(message, { pending = false } = {}) {
  const mine = pending || userId(message.sender) === state.me.id;
  const node = h(
    "li",
    { class: `msg ${mine ? "mine" : "theirs"}${pending ? " pending" : ""}` },
    mine ? null : h("span", { class: "msg-sender" }, message.sender ? message.sender.username : "Deleted account"),
    message.deleted ? h("p", { class: "msg-body muted" }, "Message unavailable") : h("p", { class: "msg-body" }, message.body),
    h("span", { class: "msg-meta" }, timeEl(message.created_at || message.queued_at, { class: "muted" }), mine ? h("span", { class: "msg-status muted" }) : null),
  );
  if (message.id) node.dataset.id = String(message.id);
  if (message.client_id) node.dataset.clientId = message.client_id;
  return node;
}

const firstLaterThan = (id) => [...ui.list.children].find((child) => child.dataset.id && Number(child.dataset.id) > id);

/** Places a confirmed message once: replaces my pending bubble with the same client_id. */
function placeMessage(message) {
  if (state.byId.has(message.id)) return state.byId.get(message.id);
  if (userId(message.sender) !== state.me.id) state.newestTheirs = Math.max(state.newestTheirs, message.id);
  const pending = state.byClientId.get(message.client_id);
  if (pending && userId(message.sender) === state.me.id) {
    pending.classList.remove("pending", "failed");
    pending.classList.add("sent");
    pending.dataset.id = String(message.id);
    statusText(pending).textContent = "Sent";
    pending.querySelector("time").setAttribute("datetime", message.created_at);
    state.byId.set(message.id, pending);
    // Keep id order: a pending bubble may sit below messages that arrived meanwhile.
    const later = firstLaterThan(message.id);
    if (later) ui.list.insertBefore(pending, later);
    refreshTimes(pending);
    return pending;
  }
  const node = bubble(message);
  state.byId.set(message.id, node);
  if (message.client_id) state.byClientId.set(message.client_id, node);
  const later = firstLaterThan(message.id);
  const firstPending = ui.list.querySelector("li.pending");
  ui.list.insertBefore(node, later || firstPending || null);
  return node;
}

function showPending(item) {
  if (state.byClientId.has(item.client_id)) return;
  const node = bubble({ ...item, sender: state.me }, { pending: true });
  state.byClientId.set(item.client_id, node);
  ui.list.append(node);
  statusText(node).textContent = pendingText();
}

function renderPendingStatus() {
  for (const node of ui.list.querySelectorAll("li.pending:not(.failed)")) statusText(node).textContent = pendingText();
}

/** "Seen" goes under my newest message the others have read. */
function renderSeen() {
  for (const node of ui.list.querySelectorAll("li.seen")) {
    node.classList.remove("seen");
    statusText(node).textContent = node.classList.contains("sent") ? "Sent" : "";
  }
  if (!state.othersReadUpTo) return;
  const mine = [...ui.list.querySelectorAll("li.msg.mine[data-id]")].filter((node) => Number(node.dataset.id) <= state.othersReadUpTo);
  const newest = mine[mine.length - 1];
  if (newest) {
    newest.classList.add("seen");
    statusText(newest).textContent = "Seen";
  }
}

function renderTyping() {
  const now = Date.now();
  const names = [...state.typingUntil].filter(([, until]) => until > now).map(([name]) => name);
  ui.typingLine.hidden = names.length === 0;
  ui.typingLine.textContent = names.length ? `${names.join(", ")} ${names.length === 1 ? "is" : "are"} typing…` : "";
}

// --- talking to the server ---------------------------------------------------------

function markRead() {
  if (document.visibilityState !== "visible") return;
  const newest = state.newestTheirs;
  if (newest <= state.readSent) return;
  state.readSent = newest;
  const viaRest = () => api(`/api/conversations/${state.conversationId}/read`, { method: "POST", json: { message_id: newest } }).catch(() => {
    state.readSent = 0;
  });
  if (gateway.connected) gateway.request({ type: "message.read", conversation: state.conversationId, message_id: newest }).catch(viaRest);
  else viaRest();
}

async function loadNewest() {
  const page = await api(`/api/conversations/${state.conversationId}/messages`);
  const stick = nearBottom();
  for (const message of [...page.results].reverse()) placeMessage(message);
  if (state.olderUrl === null && !ui.list.dataset.loaded) state.olderUrl = page.next;
  ui.list.dataset.loaded = "1";
  ui.older.hidden = !state.olderUrl;
  renderSeen();
  if (stick) scrollToEnd();
}

async function loadOlder() {
  if (!state.olderUrl) return;
  const height = ui.list.scrollHeight;
  const page = await api(state.olderUrl);
  for (const message of page.results) placeMessage(message);
  state.olderUrl = page.next;
  ui.older.hidden = !state.olderUrl;
  ui.list.scrollTop += ui.list.scrollHeight - height;
}

// --- live events -------------------------------------------------------------------

async function onMessageNew(message) {
  if (message.conversation !== state.conversationId) return;
  await state.loaded;
  const stick = nearBottom();
  placeMessage(message);
  if (userId(message.sender) !== state.me.id) {
    if (message.sender) state.typingUntil.delete(message.sender.username);
    renderTyping();
    markRead();
  }
  renderSeen();
  if (stick || userId(message.sender) === state.me.id) scrollToEnd();
}

async function onMessageSent(message, meta) {
  if (meta.conversation !== state.conversationId) return;
  await state.loaded;
  placeMessage(message);
  renderSeen();
}

function onMessageFailed(frame, meta) {
  if (meta.conversation !== state.conversationId) return;
  const node = state.byClientId.get(meta.client_id);
  if (!node) return;
  if (meta.retrying) {
    statusText(node).textContent = "Will retry when the connection is back";
    return;
  }
  node.classList.add("failed");
  statusText(node).textContent = `Not sent: ${frame.detail || "error"}`;
}

async function onMessageRead(data) {
  if (data.conversation !== state.conversationId || userId(data.user) === state.me.id) return;
  await state.loaded;
  state.othersReadUpTo = Math.max(state.othersReadUpTo, data.message_id);
  renderSeen();
}

function onTyping(data) {
  if (!data || data.conversation !== state.conversationId || userId(data.user) === state.me.id) return;
  const name = typeof data.user === "object" ? data.user.username : document.querySelector("#chat-title").textContent;
  state.typingUntil.set(name, Date.now() + TYPING_SHOW_MS);
  renderTyping();
  setTimeout(renderTyping, TYPING_SHOW_MS + 50);
}

function onPresence(data) {
  if (!data || userId(data.user) === state.me.id) return;
  ui.presence.textContent = data.online ? "online" : "";
}

/** After a reconnect or a resync: durable events were replayed; this also catches messages
 *  sent over REST elsewhere. */
async function onCatchUp() {
  await state.loaded;
  await loadNewest();
}

// --- composing ---------------------------------------------------------------------

function onInput() {
  const now = Date.now();
  if (ui.input.value.trim() && now - state.lastTypingSent > TYPING_SEND_EVERY_MS) {
    state.lastTypingSent = now;
    gateway.typing(state.conversationId);
  }
}

function onKeydown(event) {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    ui.form.requestSubmit();
  }
}

function onSubmit(event) {
  event.preventDefault();
  const body = ui.input.value.trim();
  if (!body) return;
  if (body.length > state.bodyMax) {
    showError(ui.error, `A message is at most ${state.bodyMax.toLocaleString()} characters.`);
    return;
  }
  showError(ui.error, "");
  ui.input.value = "";
  state.lastTypingSent = 0;
  showPending(gateway.sendMessage(state.conversationId, body));
  scrollToEnd();
  ui.input.focus();
}

// --- wiring ------------------------------------------------------------------------

export async function init(self) {
  state.me = self;
  state.conversationId = Number(document.body.dataset.conversationId);
  state.bodyMax = pageLimit("bodyMax");
  let markLoaded;
  state.loaded = new Promise((resolve) => {
    markLoaded = resolve;
  });
  Object.assign(ui, {
    list: $("#messages"),
    form: $("#message-form"),
    input: $("#message-body"),
    typingLine: $("#typing"),
    error: $("#message-error"),
    older: $("#older-messages"),
    presence: $("#chat-presence"),
  });

  gateway.on("message.new", onMessageNew);
  gateway.on("message.sent", onMessageSent);
  gateway.on("message.failed", onMessageFailed);
  gateway.on("message.read", onMessageRead);
  gateway.on("typing", onTyping);
  gateway.on("presence", onPresence);
  gateway.on("status", renderPendingStatus);
  gateway.on("reconnected", onCatchUp);
  gateway.on("resync", onCatchUp);
  document.addEventListener("visibilitychange", markRead);
  ui.input.addEventListener("input", onInput);
  ui.input.addEventListener("keydown", onKeydown);
  ui.form.addEventListener("submit", onSubmit);
  ui.older.addEventListener("click", loadOlder);

  await gateway.ready();
  try {
    await loadNewest();
  } finally {
    markLoaded();
  }
  for (const item of gateway.queued(state.conversationId)) showPending(item);
  scrollToEnd();
  markRead();
  ui.input.focus();
}
