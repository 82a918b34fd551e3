// Inbox: conversations, newest activity first, with unread counts; reordered live. A second
// tab lists message requests (a stranger's 1:1), which open with Accept / Delete / Block.
import { api } from "../api.js";
import { gateway } from "../socket.js";
import { $, USERNAME, avatar, h, showError, timeEl, userId } from "../util.js";

const TYPING_SHOW_MS = 5000;

export const state = {
  me: null,
  conversations: new Map(), // id -> conversation
  typingUntil: new Map(), // conversation id -> timestamp
  next: null,
  loaded: null, // resolves once the first page is on screen
  box: "accepted", // or "requests"
};

const ui = {};

export function conversationTitle(conversation, self) {
  if (conversation.title) return conversation.title;
  const others = conversation.participants.filter((user) => user.id !== self.id);
  return (others.length ? others : conversation.participants).map((user) => user.username).join(", ");
}

const activity = (conversation) => (conversation.last_message ? conversation.last_message.id : 0);

function conversationItem(conversation) {
  const self = state.me;
  const others = conversation.participants.filter((user) => user.id !== self.id);
  const last = conversation.last_message;
  const typing = (state.typingUntil.get(conversation.id) || 0) > Date.now();
  const preview = typing ? "typing…" : last ? `${userId(last.sender) === self.id ? "You: " : ""}${last.body}` : "No messages yet";
  const unread = conversation.unread_count;
  const title = conversationTitle(conversation, self);
  return h(
    "li",
    { class: `conversation ${unread ? "unread" : ""} ${conversation.muted ? "muted-conversation" : ""}`.trim(), dataset: { id: conversation.id } },
    h(
      "a",
      { href: `/inbox/${conversation.id}`, "aria-label": `${title}${unread ? `, ${unread} unread` : ""}` },
      avatar(others[0] || conversation.participants[0]),
      h("span", { class: "conversation-main" }, h("strong", { class: "conversation-title" }, title), h("span", { class: `preview muted${typing ? " typing" : ""}` }, preview)),
      h("span", { class: "conversation-meta" }, last ? timeEl(last.created_at, { class: "muted" }) : null, unread ? h("span", { class: "badge unread-count" }, String(unread)) : null),
    ),
  );
}

function render() {
  const sorted = [...state.conversations.values()].sort((a, b) => activity(b) - activity(a) || b.id - a.id);
  ui.list.replaceChildren(...sorted.map(conversationItem));
  $("#inbox-empty").hidden = sorted.length > 0;
  $("#more-conversations").hidden = !state.next;
}

async function load(url) {
  const page = await api(url);
  for (const conversation of page.results) state.conversations.set(conversation.id, conversation);
  state.next = page.next;
  render();
}

const boxUrl = () => (state.box === "requests" ? "/api/conversations?box=requests" : "/api/conversations");

async function loadFirst() {
  const page = await api(boxUrl());
  state.conversations.clear();
  for (const conversation of page.results) state.conversations.set(conversation.id, conversation);
  state.next = page.next;
  render();
  refreshRequestCount();
}

async function refreshRequestCount() {
  try {
    const requests = await api("/api/conversations?box=requests");
    const n = requests.results.length;
    ui.requestsTab.textContent = n ? `Requests (${n}${requests.next ? "+" : ""})` : "Requests";
  } catch {
    // the count is a nicety
  }
}

function showBox(box) {
  state.box = box;
  ui.inboxTab.setAttribute("aria-selected", box === "accepted" ? "true" : "false");
  ui.requestsTab.setAttribute("aria-selected", box === "requests" ? "true" : "false");
  $("#inbox-empty").textContent = box === "requests" ? "No message requests." : "No conversations yet.";
  return loadFirst();
}

async function onMessageNew(message) {
  await state.loaded;
  const conversation = state.conversations.get(message.conversation);
  if (!conversation) {
    await loadFirst();
    return;
  }
  if (conversation.last_message && conversation.last_message.id >= message.id) return;
  conversation.last_message = message;
  state.typingUntil.delete(message.conversation);
  if (userId(message.sender) !== state.me.id) conversation.unread_count += 1;
  render();
}

async function onMessageRead(data) {
  await state.loaded;
  const conversation = state.conversations.get(data.conversation);
  if (conversation && userId(data.user) === state.me.id) {
    conversation.unread_count = 0;
    render();
  }
}

function onTyping(data) {
  if (!data || userId(data.user) === state.me.id || !state.conversations.has(data.conversation)) return;
  state.typingUntil.set(data.conversation, Date.now() + TYPING_SHOW_MS);
  render();
  setTimeout(render, TYPING_SHOW_MS + 50);
}

async function onNewConversation(event) {
  event.preventDefault();
  const form = ui.form;
  const error = $("#new-conversation-error");
  const username = form.username.value.trim().replace(/^@/, "");
  if (!USERNAME.test(username)) return showError(error, "Enter a username.");
  showError(error, "");
  try {
    const conversation = await api("/api/conversations", { method: "POST", json: { usernames: [username] } });
    window.location.assign(`/inbox/${conversation.id}`);
  } catch (failure) {
    showError(error, failure.detail);
  }
}

export async function init(self) {
  state.me = self;
  let markLoaded;
  state.loaded = new Promise((resolve) => { markLoaded = resolve; });
  Object.assign(ui, { list: $("#conversations"), form: $("#new-conversation"), inboxTab: $("#tab-inbox"), requestsTab: $("#tab-requests") });
  ui.inboxTab.addEventListener("click", () => showBox("accepted"));
  ui.requestsTab.addEventListener("click", () => showBox("requests"));

  gateway.on("message.new", onMessageNew);
  gateway.on("message.read", onMessageRead);
  gateway.on("typing", onTyping);
  gateway.on("reconnected", loadFirst);
  gateway.on("resync", loadFirst);
  gateway.on("conversation.update", loadFirst);
  $("#more-conversations").addEventListener("click", () => state.next && load(state.next));
  ui.form.addEventListener("submit", onNewConversation);

  await gateway.ready();
  try {
    await loadFirst();
  } finally {
    markLoaded();
  }
}
