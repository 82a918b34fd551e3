// A conversation: live messages, "typing…", "Seen" receipts, and an outbox that survives
// going offline (messages carry their client_id and are sent once the socket is back).
import { api } from "../api.js";
import { gateway } from "../socket.js";
import { $, h, refreshTimes, showError, timeEl, userId } from "../util.js";

const TYPING_SEND_EVERY_MS = 2500;
const TYPING_SHOW_MS = 5000;
const BODY_MAX = 4000;

export async function init(self) {
  const conversationId = Number(document.body.dataset.conversationId);
  const list = $("#messages");
  const form = $("#message-form");
  const input = $("#message-body");
  const typingLine = $("#typing");
  const error = $("#message-error");
  const byId = new Map(); // message id -> <li>
  const byClientId = new Map(); // client_id -> <li> (mine: pending or sent)
  let olderUrl = null;
  let othersReadUpTo = 0;
  let readSent = 0;
  let newestTheirs = 0;
  let lastTypingSent = 0;
  const typingUntil = new Map(); // username -> timestamp
  let markLoaded;
  const loaded = new Promise((resolve) => {
    markLoaded = resolve;
  });

  const nearBottom = () => list.scrollHeight - list.scrollTop - list.clientHeight < 120;
  const scrollToEnd = () => {
    list.scrollTop = list.scrollHeight;
  };

  const statusText = (node) => node.querySelector(".msg-status");

  const bubble = (message, { pending = false } = {}) => {
    const mine = pending || userId(message.sender) === self.id;
    const node = h(
      "li",
      { class: `msg ${mine ? "mine" : "theirs"}${pending ? " pending" : ""}` },
      mine ? null : h("span", { class: "msg-sender" }, message.sender.username),
      h("p", { class: "msg-body" }, message.body),
      h("span", { class: "msg-meta" }, timeEl(message.created_at || message.queued_at, { class: "muted" }), mine ? h("span", { class: "msg-status muted" }) : null),
    );
    if (message.id) node.dataset.id = String(message.id);
    if (message.client_id) node.dataset.clientId = message.client_id;
    return node;
  };

  /** Places a confirmed message once: replaces my pending bubble with the same client_id. */
  const place = (message) => {
    if (byId.has(message.id)) return byId.get(message.id);
    if (userId(message.sender) !== self.id) newestTheirs = Math.max(newestTheirs, message.id);
    const pending = byClientId.get(message.client_id);
    if (pending && userId(message.sender) === self.id) {
      pending.classList.remove("pending", "failed");
      pending.classList.add("sent");
      pending.dataset.id = String(message.id);
      statusText(pending).textContent = "Sent";
      const time = pending.querySelector("time");
      time.setAttribute("datetime", message.created_at);
      byId.set(message.id, pending);
      // Keep id order: a pending bubble may sit below messages that arrived meanwhile.
      const later = [...list.children].find((child) => child.dataset.id && Number(child.dataset.id) > message.id);
      if (later) list.insertBefore(pending, later);
      refreshTimes(pending);
      return pending;
    }
    const node = bubble(message);
    byId.set(message.id, node);
    if (message.client_id) byClientId.set(message.client_id, node);
    const later = [...list.children].find((child) => child.dataset.id && Number(child.dataset.id) > message.id);
    const firstPending = list.querySelector("li.pending");
    list.insertBefore(node, later || firstPending || null);
    return node;
  };

  const showPending = (item) => {
    if (byClientId.has(item.client_id)) return;
    const node = bubble({ ...item, sender: self }, { pending: true });
    byClientId.set(item.client_id, node);
    list.append(node);
    statusText(node).textContent = gateway.connected ? "Sending…" : "Queued: sends when you are back online";
  };

  const updatePendingStatus = () => {
    for (const node of list.querySelectorAll("li.pending:not(.failed)")) {
      statusText(node).textContent = gateway.connected ? "Sending…" : "Queued: sends when you are back online";
    }
  };

  /** "Seen" goes under my newest message the others have read. */
  const updateSeen = () => {
    for (const node of list.querySelectorAll("li.seen")) {
      node.classList.remove("seen");
      statusText(node).textContent = node.classList.contains("sent") ? "Sent" : "";
    }
    if (!othersReadUpTo) return;
    const mine = [...list.querySelectorAll("li.msg.mine[data-id]")].filter((node) => Number(node.dataset.id) <= othersReadUpTo);
    const newest = mine[mine.length - 1];
    if (newest) {
      newest.classList.add("seen");
      statusText(newest).textContent = "Seen";
    }
  };

  const markRead = () => {
    if (document.visibilityState !== "visible") return;
    const newest = newestTheirs;
    if (newest <= readSent) return;
    readSent = newest;
    const viaRest = () => api(`/api/conversations/${conversationId}/read`, { method: "POST", json: { message_id: newest } }).catch(() => {
      readSent = 0;
    });
    if (gateway.connected) gateway.request({ type: "message.read", conversation: conversationId, message_id: newest }).catch(viaRest);
    else viaRest();
  };

  const renderTyping = () => {
    const now = Date.now();
    const names = [...typingUntil].filter(([, until]) => until > now).map(([name]) => name);
    typingLine.hidden = names.length === 0;
    typingLine.textContent = names.length ? `${names.join(", ")} ${names.length === 1 ? "is" : "are"} typing…` : "";
  };

  // --- live ----------------------------------------------------------------------
  gateway.on("message.new", async (message) => {
    if (message.conversation !== conversationId) return;
    await loaded;
    const stick = nearBottom();
    place(message);
    if (userId(message.sender) !== self.id) {
      typingUntil.delete(message.sender.username);
      renderTyping();
      markRead();
    }
    updateSeen();
    if (stick || userId(message.sender) === self.id) scrollToEnd();
  });
  gateway.on("message.sent", async (message, meta) => {
    if (meta.conversation !== conversationId) return;
    await loaded;
    place(message);
    updateSeen();
  });
  gateway.on("message.failed", (frame, meta) => {
    if (meta.conversation !== conversationId) return;
    const node = byClientId.get(meta.client_id);
    if (!node) return;
    if (meta.retrying) {
      statusText(node).textContent = "Will retry when the connection is back";
      return;
    }
    node.classList.add("failed");
    statusText(node).textContent = `Not sent: ${frame.detail || "error"}`;
  });
  gateway.on("message.read", async (data) => {
    if (data.conversation !== conversationId || userId(data.user) === self.id) return;
    await loaded;
    othersReadUpTo = Math.max(othersReadUpTo, data.message_id);
    updateSeen();
  });
  gateway.on("typing", (data) => {
    if (!data || data.conversation !== conversationId || userId(data.user) === self.id) return;
    const name = typeof data.user === "object" ? data.user.username : document.querySelector("#chat-title").textContent;
    typingUntil.set(name, Date.now() + TYPING_SHOW_MS);
    renderTyping();
    setTimeout(renderTyping, TYPING_SHOW_MS + 50);
  });
  gateway.on("presence", (data) => {
    if (!data || userId(data.user) === self.id) return;
    $("#chat-presence").textContent = data.online ? "online" : "";
  });
  gateway.on("status", updatePendingStatus);
  gateway.on("reconnected", async () => {
    // Durable events were replayed; this also catches messages sent over REST elsewhere.
    await loaded;
    await loadNewest();
  });
  gateway.on("resync", async () => {
    await loaded;
    await loadNewest();
  });
  document.addEventListener("visibilitychange", markRead);

  // --- composing -----------------------------------------------------------------
  input.addEventListener("input", () => {
    const now = Date.now();
    if (input.value.trim() && now - lastTypingSent > TYPING_SEND_EVERY_MS) {
      lastTypingSent = now;
      gateway.typing(conversationId);
    }
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = input.value.trim();
    if (!body) return;
    if (body.length > BODY_MAX) {
      showError(error, `A message is at most ${BODY_MAX.toLocaleString()} characters.`);
      return;
    }
    showError(error, "");
    input.value = "";
    lastTypingSent = 0;
    const item = gateway.sendMessage(conversationId, body);
    showPending(item);
    scrollToEnd();
    input.focus();
  });

  // --- loading -------------------------------------------------------------------
  const loadNewest = async () => {
    const page = await api(`/api/conversations/${conversationId}/messages`);
    const stick = nearBottom();
    for (const message of [...page.results].reverse()) place(message);
    if (olderUrl === null && !list.dataset.loaded) olderUrl = page.next;
    list.dataset.loaded = "1";
    $("#older-messages").hidden = !olderUrl;
    updateSeen();
    if (stick) scrollToEnd();
  };
  $("#older-messages").addEventListener("click", async () => {
    if (!olderUrl) return;
    const height = list.scrollHeight;
    const page = await api(olderUrl);
    for (const message of page.results) place(message);
    olderUrl = page.next;
    $("#older-messages").hidden = !olderUrl;
    list.scrollTop += list.scrollHeight - height;
  });

  await gateway.ready();
  try {
    await loadNewest();
  } finally {
    markLoaded();
  }
  for (const item of gateway.queued(conversationId)) showPending(item);
  scrollToEnd();
  markRead();
  input.focus();
}
