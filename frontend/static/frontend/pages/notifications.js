// All notifications, newest first; new ones are prepended live. Viewing marks them read.
import { api } from "../api.js";
import { notificationItem } from "../notify.js";
import { gateway } from "../socket.js";
import { $ } from "../util.js";

export const state = {
  shown: new Set(), // ids of the notifications on the page
  next: null,
  loaded: null, // resolves once the first page is on screen
};

const ui = {};

function addNotifications(items, atTop) {
  for (const notification of items) {
    if (state.shown.has(notification.id)) continue;
    state.shown.add(notification.id);
    if (atTop) ui.list.prepend(notificationItem(notification));
    else ui.list.append(notificationItem(notification));
  }
  $("#notif-empty").hidden = state.shown.size > 0;
}

/** Marks everything shown as read, and tells the bell in the top bar (app.js). */
async function markRead() {
  if (state.shown.size === 0) return;
  await api("/api/notifications/read", { method: "POST", json: { up_to: Math.max(...state.shown) } });
  document.dispatchEvent(new CustomEvent("instaclone:notifications-read"));
}

async function loadPage(url) {
  const page = await api(url);
  addNotifications(page.results, false);
  state.next = page.next;
  ui.more.hidden = !state.next;
}

async function onNotification(event) {
  await state.loaded;
  addNotifications([event.detail], true);
  if (document.visibilityState === "visible") markRead();
}

export async function init() {
  let markLoaded;
  state.loaded = new Promise((resolve) => { markLoaded = resolve; });
  Object.assign(ui, { list: $("#notif-page-list"), more: $("#more-notifications") });
  document.addEventListener("instaclone:notification", onNotification);
  ui.more.addEventListener("click", () => loadPage(state.next));

  await gateway.ready();
  try {
    await loadPage("/api/notifications");
  } finally {
    markLoaded();
  }
  await markRead();
}
