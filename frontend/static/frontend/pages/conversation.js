// A conversation: live messages, "typing…", "Seen" receipts (also after a reload, from
// read_positions), replies, reactions (double-click a message for a heart), edit and unsend,
// photos, message requests, mute and group settings, and an outbox that survives going
// offline (messages carry their client_id and are sent once the socket is back).
import { api } from "../api.js";
import { gateway } from "../socket.js";
import { $, h, pageLimit, refreshTimes, showError, timeEl, userId, uuid } from "../util.js";

const TYPING_SEND_EVERY_MS = 2500;
const TYPING_SHOW_MS = 5000;
const EDIT_WINDOW_MS = 15 * 60 * 1000;
const HEART = "❤️";
const SNIPPET = 60;

export const state = {
  me: null,
  conversationId: 0,
  bodyMax: 0, // the server's limit, from <body data-body-max>
  byId: new Map(), // message id -> <li>
  byClientId: new Map(), // client_id -> <li> (mine: pending or sent)
  olderUrl: null,
  othersReadUpTo: 0,
  readSent: 0,
  readAcked: 0, // the newest read the server has confirmed
  newestTheirs: 0,
  lastTypingSent: 0,
  typingUntil: new Map(), // username -> timestamp
  loaded: null, // resolves once the newest messages are on the page
  messages: new Map(), // message id -> message (as the server last described it)
  conversation: null,
  replyTo: null, // the message being answered
  editing: null, // the message being edited (in the composer)
};

const ui = {};

// --- rendering -------------------------------------------------------------------

const nearBottom = () => ui.list.scrollHeight - ui.list.scrollTop - ui.list.clientHeight < 120;

function scrollToEnd() {
  ui.list.scrollTop = ui.list.scrollHeight;
}

const statusText = (node) => node.querySelector(".msg-status");

const pendingText = () => (gateway.connected ? "Sending…" : "Queued: sends when you are back online");

const senderName = (message) => (message.sender ? message.sender.username : "Deleted account");

function snippet(message) {
  if (!message) return "Original message";
  if (message.deleted) return "Message unsent";
  const text = message.body || (message.kind === "image" ? "Photo" : "");
  return text.length > SNIPPET ? `${text.slice(0, SNIPPET)}…` : text;
}

function reactionsLine(message) {
  if (!message.reactions || message.reactions.length === 0) return null;
  return h(
    "ul",
    { class: "msg-reactions", "aria-label": "Reactions" },
    ...message.reactions.map((r) =>
      h("li", { class: `reaction${r.users.includes(state.me.id) ? " mine" : ""}`, title: `${r.users.length} reacted ${r.emoji}` }, `${r.emoji}${r.users.length > 1 ? ` ${r.users.length}` : ""}`),
    ),
  );
}

function actions(message, mine) {
  if (!message.id || message.deleted) return null;
  const editable = mine && message.kind === "text" && Date.now() - Date.parse(message.created_at) < EDIT_WINDOW_MS;
  return h(
    "span",
    { class: "msg-actions" },
    h("button", { type: "button", class: "link act-reply", dataset: { act: "reply" } }, "Reply"),
    h("button", { type: "button", class: "link act-react", dataset: { act: "react" }, "aria-label": "React with a heart" }, HEART),
    editable ? h("button", { type: "button", class: "link act-edit", dataset: { act: "edit" } }, "Edit") : null,
    mine ? h("button", { type: "button", class: "link act-unsend", dataset: { act: "unsend" } }, "Unsend") : null,
  );
}

function bubble(message, { pending = false } = {}) {
  const mine = pending || userId(message.sender) === state.me.id;
  const original = message.reply_to ? state.messages.get(message.reply_to) : null;
  const node = h(
    "li",
    { class: `msg ${mine ? "mine" : "theirs"}${pending ? " pending" : ""}${message.deleted ? " deleted" : ""}` },
    mine ? null : h("span", { class: "msg-sender" }, senderName(message)),
    message.reply_to ? h("button", { type: "button", class: "msg-quote", dataset: { act: "quote", target: message.reply_to } }, `↪ ${original ? `${senderName(original)}: ` : ""}${snippet(original)}`) : null,
    message.thumbnail_url ? h("a", { class: "msg-photo", href: message.image_url, target: "_blank", rel: "noopener" }, h("img", { src: message.thumbnail_url, alt: "Photo", width: "200", height: "200" })) : null,
    message.deleted ? h("p", { class: "msg-body muted" }, message.sender ? "Message unsent" : "Message unavailable") : message.body || message.kind !== "image" ? h("p", { class: "msg-body" }, message.body) : null,
    reactionsLine(message),
    h(
      "span",
      { class: "msg-meta" },
      timeEl(message.created_at || message.queued_at, { class: "muted" }),
      message.edited_at && !message.deleted ? h("span", { class: "msg-edited muted" }, "Edited") : null,
      mine ? h("span", { class: "msg-status muted" }) : null,
    ),
    actions(message, mine),
  );
  if (message.id) node.dataset.id = String(message.id);
  if (message.client_id) node.dataset.clientId = message.client_id;
  return node;
}

/** Draws a known message again (an edit, an unsend, a reaction), keeping its place and its
 *  "Sent"/"Seen" line. */
function redraw(id) {
  const old = state.byId.get(id);
  const message = state.messages.get(id);
  if (!old || !message) return;
  const node = bubble(message);
  for (const name of ["sent", "seen"]) if (old.classList.contains(name)) node.classList.add(name);
  const status = statusText(old);
  if (status && statusText(node)) statusText(node).textContent = status.textContent;
  old.replaceWith(node);
  state.byId.set(id, node);
  if (message.client_id) state.byClientId.set(message.client_id, node);
  refreshTimes(node);
  // Replies quoting it show the new text.
  for (const quote of ui.list.querySelectorAll(`.msg-quote[data-target="${id}"]`)) {
    quote.textContent = `↪ ${senderName(message)}: ${snippet(message)}`;
  }
}

const firstLaterThan = (id) => [...ui.list.children].find((child) => child.dataset.id && Number(child.dataset.id) > id);

/** Places a confirmed message once: replaces my pending bubble with the same client_id. */
function placeMessage(message) {
  if (state.byId.has(message.id)) {
    const known = state.messages.get(message.id);
    // A page fetched later may describe it newer (an edit, a reaction missed meanwhile).
    if (!known || JSON.stringify(known) !== JSON.stringify(message)) {
      state.messages.set(message.id, message);
      redraw(message.id);
    }
    return state.byId.get(message.id);
  }
  state.messages.set(message.id, message);
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
    redraw(message.id);
    return state.byId.get(message.id);
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

const readOverRest = (messageId, { keepalive = false } = {}) =>
  api(`/api/conversations/${state.conversationId}/read`, { method: "POST", json: { message_id: messageId }, keepalive });

function readConfirmed(messageId) {
  state.readAcked = Math.max(state.readAcked, messageId);
}

function markRead() {
  if (document.visibilityState !== "visible") return;
  const newest = state.newestTheirs;
  if (newest <= state.readSent) return;
  state.readSent = newest;
  const viaRest = () =>
    readOverRest(newest).then(
      () => readConfirmed(newest),
      () => {
        state.readSent = 0;
      },
    );
  if (gateway.connected) {
    gateway.request({ type: "message.read", conversation: state.conversationId, message_id: newest }).then(() => readConfirmed(newest), viaRest);
  } else viaRest();
}

/** Leaving the page: what it showed is read, even when the page had not said so yet (left
 * while still loading) or its read is unconfirmed (the frame still unsent, or its ack on the
 * way). It goes over REST in a request that outlives the page; a repeat is a no-op. (At
 * pagehide a page left by navigation is still "visible"; one hidden first was not seen.) */
function flushRead() {
  const shown = document.visibilityState === "visible" ? state.newestTheirs : 0;
  const newest = Math.max(shown, state.readSent);
  if (newest > state.readAcked) readOverRest(newest, { keepalive: true }).catch(() => {});
}

function applyConversation(conversation) {
  state.conversation = conversation;
  document.dispatchEvent(new CustomEvent("instaclone:conversation", { detail: conversation }));
  const positions = Object.values(conversation.read_positions || {});
  if (positions.length) state.othersReadUpTo = Math.max(state.othersReadUpTo, ...positions);
  const title = conversation.title || conversation.participants.filter((u) => u.id !== state.me.id).map((u) => u.username).join(", ");
  if (title) $("#chat-title").textContent = title;
  ui.mute.textContent = conversation.muted ? "Unmute" : "Mute";
  ui.mute.setAttribute("aria-pressed", conversation.muted ? "true" : "false");
  ui.request.hidden = conversation.status !== "request";
  for (const node of document.querySelectorAll(".group-only")) node.hidden = !conversation.is_group;
  renderSeen();
}

async function loadConversation() {
  applyConversation(await api(`/api/conversations/${state.conversationId}`));
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

async function onMessageUpdate(message) {
  if (message.conversation !== state.conversationId) return;
  await state.loaded;
  if (!state.byId.has(message.id)) return;
  state.messages.set(message.id, message);
  redraw(message.id);
}

async function onMessageDelete(data) {
  if (data.conversation !== state.conversationId) return;
  await state.loaded;
  const message = state.messages.get(data.id);
  if (!message) return;
  state.messages.set(data.id, { ...message, body: "", image_url: null, thumbnail_url: null, reactions: [], deleted: true });
  redraw(data.id);
}

async function onMessageReaction(data) {
  if (data.conversation !== state.conversationId) return;
  await state.loaded;
  const message = state.messages.get(data.message);
  if (!message) return;
  const reactions = (message.reactions || []).map((r) => ({ emoji: r.emoji, users: r.users.filter((id) => id !== data.user) })).filter((r) => r.users.length);
  if (data.emoji) {
    const existing = reactions.find((r) => r.emoji === data.emoji);
    if (existing) existing.users.push(data.user);
    else reactions.push({ emoji: data.emoji, users: [data.user] });
  }
  state.messages.set(data.message, { ...message, reactions });
  redraw(data.message);
}

function onConversationUpdate(data) {
  if (data.id !== state.conversationId) return;
  if (!data.participants.some((u) => u.id === state.me.id)) {
    window.location.assign("/inbox");
    return;
  }
  loadConversation().catch(() => {});
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
  await loadConversation();
}

// --- acting on messages ------------------------------------------------------------

async function react(id, emoji) {
  const message = state.messages.get(id);
  if (!message || message.deleted) return;
  const already = (message.reactions || []).some((r) => r.emoji === emoji && r.users.includes(state.me.id));
  const wanted = already ? null : emoji;
  try {
    if (gateway.connected) await gateway.request({ type: "message.react", message: id, emoji: wanted });
    else if (wanted) await api(`/api/messages/${id}/reactions`, { method: "POST", json: { emoji: wanted } });
    else await api(`/api/messages/${id}/reactions`, { method: "DELETE" });
  } catch (failure) {
    showError(ui.error, failure.detail || "Could not react.");
  }
}

function startReply(id) {
  const message = state.messages.get(id);
  if (!message) return;
  cancelReply();
  state.replyTo = message;
  ui.replyBar.hidden = false;
  ui.replyText.textContent = `Replying to ${senderName(message)}: ${snippet(message)}`;
  ui.input.focus();
}

function cancelReply() {
  if (state.editing) ui.input.value = "";
  state.replyTo = null;
  state.editing = null;
  ui.replyBar.hidden = true;
}

/** Edits in the composer: its text goes in, Send saves it. */
function startEdit(id) {
  const message = state.messages.get(id);
  if (!message || message.deleted) return;
  cancelReply();
  state.editing = message;
  ui.replyBar.hidden = false;
  ui.replyText.textContent = "Editing message";
  ui.input.value = message.body;
  ui.input.focus();
}

async function saveEdit(body) {
  const message = state.editing;
  cancelReply();
  if (body === message.body) return;
  try {
    const updated = await api(`/api/messages/${message.id}`, { method: "PATCH", json: { body } });
    state.messages.set(updated.id, updated);
    redraw(updated.id);
  } catch (failure) {
    showError(ui.error, failure.detail);
  }
}

/** Unsend asks once more, on the button itself. */
async function unsendMessage(id, button) {
  if (button.dataset.act === "unsend") {
    button.dataset.act = "unsend-confirm";
    button.textContent = "Unsend for everyone?";
    setTimeout(() => {
      button.dataset.act = "unsend";
      button.textContent = "Unsend";
    }, 4000);
    return;
  }
  try {
    await api(`/api/messages/${id}`, { method: "DELETE" });
    await onMessageDelete({ conversation: state.conversationId, id });
  } catch (failure) {
    showError(ui.error, failure.detail);
  }
}

/** Scrolls to a quoted message, loading older pages until it is on the page. */
async function showOriginal(id) {
  for (let i = 0; i < 50 && !state.byId.has(id) && state.olderUrl; i += 1) await loadOlder();
  const node = state.byId.get(id);
  if (!node) return;
  node.scrollIntoView({ block: "center" });
  node.classList.add("highlight");
  setTimeout(() => node.classList.remove("highlight"), 1500);
}

function onListClick(event) {
  const button = event.target.closest("button[data-act]");
  if (!button) return;
  const item = button.closest("li.msg");
  const id = item && Number(item.dataset.id);
  const act = button.dataset.act;
  if (act === "quote") showOriginal(Number(button.dataset.target));
  else if (!id) return;
  else if (act === "reply") startReply(id);
  else if (act === "react") react(id, HEART);
  else if (act === "edit") startEdit(id);
  else if (act === "unsend" || act === "unsend-confirm") unsendMessage(id, button);
}

function onListDoubleClick(event) {
  if (event.target.closest("button, a")) return;
  const item = event.target.closest("li.msg[data-id]");
  if (item) {
    event.preventDefault();
    react(Number(item.dataset.id), HEART);
  }
}

async function onPhoto() {
  const file = ui.photo.files[0];
  ui.photo.value = "";
  if (!file) return;
  const form = new FormData();
  form.append("image", file);
  form.append("client_id", uuid());
  const caption = state.editing ? "" : ui.input.value.trim();
  if (caption) form.append("body", caption);
  if (state.replyTo) form.append("reply_to", String(state.replyTo.id));
  showError(ui.error, "");
  try {
    const message = await api(`/api/conversations/${state.conversationId}/messages`, { method: "POST", form });
    ui.input.value = "";
    cancelReply();
    placeMessage(message);
    renderSeen();
    scrollToEnd();
  } catch (failure) {
    showError(ui.error, failure.detail);
  }
}

// --- the conversation itself ---------------------------------------------------------

async function conversationCall(path, method, json) {
  try {
    const result = await api(`/api/conversations/${state.conversationId}${path}`, { method, json });
    if (result && result.id === state.conversationId) applyConversation(result);
    return true;
  } catch (failure) {
    showError(ui.error, failure.detail);
    return false;
  }
}

function toggleMute() {
  conversationCall("/mute", state.conversation && state.conversation.muted ? "DELETE" : "POST");
}

async function deleteConversation() {
  if (await conversationCall("", "DELETE")) window.location.assign("/inbox");
}

async function blockSender() {
  const other = state.conversation.participants.find((u) => u.id !== state.me.id);
  if (!other || !window.confirm(`Block ${other.username}?`)) return;
  try {
    await api(`/api/users/${encodeURIComponent(other.username)}/block`, { method: "POST" });
    window.location.assign("/inbox");
  } catch (failure) {
    showError(ui.error, failure.detail);
  }
}

function renameGroup() {
  const title = window.prompt("Group name", state.conversation.title || "");
  if (title !== null) conversationCall("", "PATCH", { title });
}

function addPeople() {
  const names = window.prompt("Add people (usernames, separated by commas)");
  if (!names) return;
  const usernames = names.split(",").map((name) => name.trim().replace(/^@/, "")).filter(Boolean);
  if (usernames.length) conversationCall("/participants", "POST", { usernames });
}

async function leaveGroup() {
  if (!window.confirm("Leave this group?")) return;
  if (await conversationCall(`/participants/${encodeURIComponent(state.me.username)}`, "DELETE")) window.location.assign("/inbox");
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
  if (state.editing) {
    saveEdit(body);
    ui.input.value = "";
    return;
  }
  ui.input.value = "";
  state.lastTypingSent = 0;
  const replyTo = state.replyTo ? state.replyTo.id : null;
  cancelReply();
  showPending(gateway.sendMessage(state.conversationId, body, replyTo));
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
    mute: $("#chat-mute"),
    request: $("#chat-request"),
    replyBar: $("#reply-bar"),
    replyText: $("#reply-text"),
    photo: $("#message-photo"),
  });

  gateway.on("message.new", onMessageNew);
  gateway.on("message.sent", onMessageSent);
  gateway.on("message.failed", onMessageFailed);
  gateway.on("message.read", onMessageRead);
  gateway.on("message.update", onMessageUpdate);
  gateway.on("message.delete", onMessageDelete);
  gateway.on("message.reaction", onMessageReaction);
  gateway.on("conversation.update", onConversationUpdate);
  gateway.on("typing", onTyping);
  gateway.on("presence", onPresence);
  gateway.on("status", renderPendingStatus);
  gateway.on("reconnected", onCatchUp);
  gateway.on("resync", onCatchUp);
  document.addEventListener("visibilitychange", markRead);
  window.addEventListener("pagehide", flushRead);
  ui.input.addEventListener("input", onInput);
  ui.input.addEventListener("keydown", onKeydown);
  ui.form.addEventListener("submit", onSubmit);
  ui.older.addEventListener("click", loadOlder);
  ui.list.addEventListener("click", onListClick);
  ui.list.addEventListener("dblclick", onListDoubleClick);
  ui.photo.addEventListener("change", onPhoto);
  ui.mute.addEventListener("click", toggleMute);
  $("#reply-cancel").addEventListener("click", cancelReply);
  $("#request-accept").addEventListener("click", () => conversationCall("/accept", "POST"));
  $("#request-delete").addEventListener("click", deleteConversation);
  $("#request-block").addEventListener("click", blockSender);
  $("#chat-rename").addEventListener("click", renameGroup);
  $("#chat-add").addEventListener("click", addPeople);
  $("#chat-leave").addEventListener("click", leaveGroup);

  await gateway.ready();
  try {
    await loadNewest();
    await loadConversation();
  } finally {
    markLoaded();
  }
  for (const item of gateway.queued(state.conversationId)) showPending(item);
  scrollToEnd();
  markRead();
  ui.input.focus();
}
