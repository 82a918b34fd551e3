// The shell of every page: the socket, its status line, the notifications menu, the
// messages badge, desktop notifications and the unread count in the tab title, log out,
// relative times; then the page's own module.
import { api } from "./api.js";
import { gateway } from "./socket.js";
import { notificationItem, notificationText } from "./notify.js";
import { $, h, leaveToLogin, me, refreshTimes, toast, userId } from "./util.js";

const PAGES = new Set(["login", "signup", "feed", "upload", "profile", "post", "inbox", "conversation", "notifications", "search", "tag", "explore", "settings", "forgot_password", "reset_password"]);

const STATUS_TEXT = {
  reconnecting: "Reconnecting…",
  offline: "You are offline. Reconnecting when the network is back…",
};

// --- the tab title and desktop notifications -------------------------------------------

const BASE_TITLE = document.title;
const titleCounts = { messages: 0, notifications: 0 };

function setTitleCount(kind, count) {
  titleCounts[kind] = count;
  const total = titleCounts.messages + titleCounts.notifications;
  document.title = total > 0 ? `(${total}) ${BASE_TITLE}` : BASE_TITLE;
}

const canNotify = () => "Notification" in window && window.Notification.permission === "granted";

/** A system notification, only while this tab is hidden (and the person allowed them). */
function desktopNotify(title, body, tag, href) {
  if (document.visibilityState !== "hidden" || !canNotify()) return;
  try {
    const notice = new window.Notification(title, { body, tag });
    notice.onclick = () => {
      window.focus();
      if (href) window.location.assign(href);
      notice.close();
    };
  } catch (error) {
    console.warn("notification", error);
  }
}

function setupNotificationPermission() {
  const button = document.getElementById("enable-notifications");
  if (!button || !("Notification" in window) || window.Notification.permission !== "default") return;
  button.hidden = false;
  button.addEventListener("click", async () => {
    await window.Notification.requestPermission();
    button.hidden = true;
  });
}

function setupStatus() {
  const bar = $("#conn-status");
  let showTimer = null;
  gateway.on("status", (status) => {
    clearTimeout(showTimer);
    document.body.dataset.socket = status;
    if (status === "open" || status === "closed" || status === "idle") {
      bar.hidden = true;
      bar.textContent = "";
      return;
    }
    const text = STATUS_TEXT[status] || "Connecting…";
    // A first connect is usually instant: only say so when it is slow.
    const delay = status === "connecting" ? 1500 : 0;
    showTimer = setTimeout(() => {
      bar.textContent = text;
      bar.dataset.state = status;
      bar.hidden = false;
    }, delay);
  });
}

/** The bell: unread count from REST, then counted up live by notification.new. */
function setupNotifications() {
  const button = $("#notif-button");
  const panel = $("#notif-panel");
  const badge = $("#notif-badge");
  const list = $("#notif-list");
  const known = new Map();
  let unread = 0;
  let more = false;
  let loaded = null;

  const render = () => {
    badge.hidden = unread === 0;
    badge.textContent = unread > 0 && more && unread >= known.size ? `${unread}+` : String(unread);
    button.setAttribute("aria-label", `Notifications, ${unread} unread`);
    setTitleCount("notifications", unread);
  };
  const renderList = () => {
    const items = [...known.values()].sort((a, b) => b.id - a.id).slice(0, 20);
    list.replaceChildren(...items.map(notificationItem));
    if (items.length === 0) list.append(h("li", { class: "muted empty" }, "No notifications yet."));
  };

  const fetchList = async () => {
    try {
      const page = await api("/api/notifications");
      for (const notification of page.results) known.set(notification.id, notification);
      unread = [...known.values()].filter((n) => !n.read).length;
      more = Boolean(page.next);
      render();
    } catch (error) {
      console.warn("notifications", error);
    }
  };
  loaded = gateway.ready().then(fetchList);
  // Events older than the log's retention were missed: refetch the state.
  gateway.on("resync", () => {
    loaded = loaded.then(fetchList);
  });

  gateway.on("notification.new", async (notification) => {
    await loaded;
    if (known.has(notification.id)) return;
    known.set(notification.id, notification);
    if (!notification.read) unread += 1;
    render();
    if (!panel.hidden) renderList();
    document.dispatchEvent(new CustomEvent("instaclone:notification", { detail: notification }));
    if (!notification.read) {
      const href = notification.post ? `/p/${notification.post}` : `/u/${encodeURIComponent(notification.actor.username)}`;
      desktopNotify(notification.actor.username, notificationText(notification), `notification-${notification.id}`, href);
    }
  });

  const markRead = async () => {
    const ids = [...known.keys()];
    if (unread === 0 || ids.length === 0) return;
    const upTo = Math.max(...ids);
    try {
      await api("/api/notifications/read", { method: "POST", json: { up_to: upTo } });
      for (const notification of known.values()) if (notification.id <= upTo) notification.read = true;
      unread = [...known.values()].filter((n) => !n.read).length;
      render();
    } catch (error) {
      toast(error.detail || "Could not mark notifications read.");
    }
  };

  const close = () => {
    panel.hidden = true;
    button.setAttribute("aria-expanded", "false");
  };
  button.addEventListener("click", async () => {
    if (!panel.hidden) {
      close();
      return;
    }
    await loaded;
    renderList();
    panel.hidden = false;
    button.setAttribute("aria-expanded", "true");
    const first = panel.querySelector("a");
    if (first) first.focus();
    markRead();
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !panel.hidden) {
      close();
      button.focus();
    }
  });
  document.addEventListener("click", (event) => {
    if (!panel.hidden && !panel.contains(event.target) && !button.contains(event.target)) close();
  });
  document.addEventListener("instaclone:notifications-read", () => {
    for (const notification of known.values()) notification.read = true;
    unread = 0;
    render();
  });
}

/** Messages badge: inbox conversations with unread messages, live; a muted conversation
 *  and a message request bump nothing. A new message while the tab is hidden shows a
 *  desktop notification (not for a muted conversation or a request). */
function setupInboxBadge(self) {
  const badge = $("#inbox-badge");
  const unreadBy = new Map();
  const inbox = new Set(); // ids of my accepted conversations
  const muted = new Set();
  const seen = new Set();
  const render = () => {
    const count = [...unreadBy.values()].filter((n) => n > 0).length;
    badge.hidden = count === 0;
    badge.textContent = String(count);
    setTitleCount("messages", count);
  };
  const remember = (conversation) => {
    if (conversation.status === "accepted") inbox.add(conversation.id);
    else inbox.delete(conversation.id);
    if (conversation.muted) muted.add(conversation.id);
    else muted.delete(conversation.id);
  };
  const fetchList = async () => {
    try {
      const page = await api("/api/conversations");
      for (const conversation of page.results) {
        remember(conversation);
        unreadBy.set(conversation.id, conversation.muted ? 0 : conversation.unread_count);
        if (conversation.last_message) seen.add(conversation.last_message.id);
      }
      render();
    } catch (error) {
      console.warn("conversations", error);
    }
  };
  let loaded = gateway.ready().then(fetchList);
  gateway.on("resync", () => {
    loaded = loaded.then(fetchList);
  });
  document.addEventListener("instaclone:conversation", (event) => {
    remember(event.detail);
    if (event.detail.muted) unreadBy.set(event.detail.id, 0);
    render();
  });
  gateway.on("message.new", async (message) => {
    await loaded;
    if (seen.has(message.id)) return;
    seen.add(message.id);
    if (userId(message.sender) === self.id) return;
    if (!inbox.has(message.conversation)) {
      // A conversation new to this tab: the server knows whether it is a request or muted.
      loaded = loaded.then(fetchList);
      await loaded;
    }
    if (!inbox.has(message.conversation) || muted.has(message.conversation)) return;
    const viewing = document.body.dataset.conversationId === String(message.conversation) && document.visibilityState === "visible";
    if (!viewing) unreadBy.set(message.conversation, (unreadBy.get(message.conversation) || 0) + 1);
    render();
    const text = message.kind === "image" ? "Sent a photo" : message.body;
    desktopNotify(message.sender.username, text, `conversation-${message.conversation}`, `/inbox/${message.conversation}`);
  });
  gateway.on("message.read", async (data) => {
    await loaded;
    if (userId(data.user) === self.id) {
      unreadBy.set(data.conversation, 0);
      render();
    }
  });
}

function setupLogout() {
  const button = $("#logout-button");
  if (!button) return;
  button.addEventListener("click", async () => {
    button.disabled = true;
    // Closed first: the server ends this session's sockets too, and that must not race
    // the navigation below.
    gateway.shutdown();
    try {
      await api("/api/auth/logout", { method: "POST" });
    } catch (error) {
      if (error.status !== 401 && error.status !== 403) {
        toast(error.detail);
        button.disabled = false;
        gateway.restart();
        return;
      }
    }
    try {
      window.sessionStorage.clear();
    } catch {
      // nothing to clear
    }
    leaveToLogin({ next: false });
  });
}

async function main() {
  const self = me();
  window.addEventListener("error", (event) => toast(`Something went wrong: ${event.message}`));
  window.addEventListener("unhandledrejection", (event) => {
    const reason = event.reason || {};
    if (reason.name === "AbortError") return;
    toast(reason.detail || reason.message || "Something went wrong.");
  });
  if (self) {
    setupStatus();
    gateway.start(self.id);
    setupNotifications();
    setupInboxBadge(self);
    setupNotificationPermission();
    setupLogout();
  }
  setInterval(() => refreshTimes(), 30000);
  const page = document.body.dataset.page;
  if (PAGES.has(page)) {
    const module = await import(`./pages/${page}.js`);
    await module.init(self);
  }
  document.body.dataset.ready = "1";
}

main();
