// Inbox: conversations, newest activity first, with unread counts; reordered live.
import { api } from "../api.js";
import { gateway } from "../socket.js";
import { $, avatar, h, showError, timeEl, userId } from "../util.js";

export function conversationTitle(conversation, self) {
  const others = conversation.participants.filter((user) => user.id !== self.id);
  return (others.length ? others : conversation.participants).map((user) => user.username).join(", ");
}

export async function init(self) {
  const list = $("#conversations");
  const conversations = new Map();
  const typingUntil = new Map(); // conversation id -> timestamp
  let next = null;
  let markLoaded;
  const loaded = new Promise((resolve) => { markLoaded = resolve; });

  const activity = (conversation) => (conversation.last_message ? conversation.last_message.id : 0);

  const item = (conversation) => {
    const others = conversation.participants.filter((user) => user.id !== self.id);
    const last = conversation.last_message;
    const typing = (typingUntil.get(conversation.id) || 0) > Date.now();
    const preview = typing ? "typing…" : last ? `${userId(last.sender) === self.id ? "You: " : ""}${last.body}` : "No messages yet";
    const unread = conversation.unread_count;
    const title = conversationTitle(conversation, self);
    return h(
      "li",
      { class: `conversation ${unread ? "unread" : ""}`.trim(), dataset: { id: conversation.id } },
      h(
        "a",
        { href: `/inbox/${conversation.id}`, "aria-label": `${title}${unread ? `, ${unread} unread` : ""}` },
        avatar(others[0] || conversation.participants[0]),
        h("span", { class: "conversation-main" }, h("strong", { class: "conversation-title" }, title), h("span", { class: `preview muted${typing ? " typing" : ""}` }, preview)),
        h("span", { class: "conversation-meta" }, last ? timeEl(last.created_at, { class: "muted" }) : null, unread ? h("span", { class: "badge unread-count" }, String(unread)) : null),
      ),
    );
  };

  const render = () => {
    const sorted = [...conversations.values()].sort((a, b) => activity(b) - activity(a) || b.id - a.id);
    list.replaceChildren(...sorted.map(item));
    $("#inbox-empty").hidden = sorted.length > 0;
    $("#more-conversations").hidden = !next;
  };

  const load = async (url) => {
    const page = await api(url);
    for (const conversation of page.results) conversations.set(conversation.id, conversation);
    next = page.next;
    render();
  };

  gateway.on("message.new", async (message) => {
    await loaded;
    const conversation = conversations.get(message.conversation);
    if (!conversation) {
      await load("/api/conversations");
      return;
    }
    if (conversation.last_message && conversation.last_message.id >= message.id) return;
    conversation.last_message = message;
    typingUntil.delete(message.conversation);
    if (userId(message.sender) !== self.id) conversation.unread_count += 1;
    render();
  });
  gateway.on("message.read", async (data) => {
    await loaded;
    const conversation = conversations.get(data.conversation);
    if (conversation && userId(data.user) === self.id) {
      conversation.unread_count = 0;
      render();
    }
  });
  gateway.on("typing", (data) => {
    if (!data || userId(data.user) === self.id || !conversations.has(data.conversation)) return;
    typingUntil.set(data.conversation, Date.now() + 5000);
    render();
    setTimeout(render, 5050);
  });
  gateway.on("reconnected", () => load("/api/conversations"));
  gateway.on("resync", () => load("/api/conversations"));

  $("#more-conversations").addEventListener("click", () => next && load(next));
  const form = $("#new-conversation");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const error = $("#new-conversation-error");
    const username = form.username.value.trim().replace(/^@/, "");
    if (!/^[A-Za-z0-9_.]{3,30}$/.test(username)) return showError(error, "Enter a username.");
    showError(error, "");
    try {
      const conversation = await api("/api/conversations", { method: "POST", json: { usernames: [username] } });
      window.location.assign(`/inbox/${conversation.id}`);
    } catch (failure) {
      showError(error, failure.detail);
    }
  });

  await gateway.ready();
  try {
    await load("/api/conversations");
  } finally {
    markLoaded();
  }
}
