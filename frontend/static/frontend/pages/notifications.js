// All notifications, newest first; new ones are prepended live. Viewing marks them read.
import { api } from "../api.js";
import { notificationItem } from "../notify.js";
import { gateway } from "../socket.js";
import { $ } from "../util.js";

export async function init() {
  const list = $("#notif-page-list");
  const more = $("#more-notifications");
  const shown = new Set();
  let next = null;
  let markLoaded;
  const loaded = new Promise((resolve) => { markLoaded = resolve; });

  const add = (items, atTop) => {
    for (const notification of items) {
      if (shown.has(notification.id)) continue;
      shown.add(notification.id);
      if (atTop) list.prepend(notificationItem(notification));
      else list.append(notificationItem(notification));
    }
    $("#notif-empty").hidden = shown.size > 0;
  };
  const markRead = async () => {
    if (shown.size === 0) return;
    await api("/api/notifications/read", { method: "POST", json: { up_to: Math.max(...shown) } });
    document.dispatchEvent(new CustomEvent("instaclone:notifications-read"));
  };

  document.addEventListener("instaclone:notification", async (event) => {
    await loaded;
    add([event.detail], true);
    if (document.visibilityState === "visible") markRead();
  });
  more.addEventListener("click", async () => {
    const page = await api(next);
    add(page.results, false);
    next = page.next;
    more.hidden = !next;
  });

  await gateway.ready();
  try {
    const page = await api("/api/notifications");
    add(page.results, false);
    next = page.next;
    more.hidden = !next;
  } finally {
    markLoaded();
  }
  await markRead();
}
