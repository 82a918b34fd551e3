// How a notification reads and links.
import { avatar, h, timeEl, userLink } from "./util.js";

export function notificationText(notification) {
  switch (notification.verb) {
    case "like":
      return "liked your post.";
    case "comment":
      return "commented on your post.";
    case "follow":
      return "started following you.";
    case "mention":
      return "mentioned you in a comment.";
    case "follow_request":
      return "asked to follow you.";
    case "follow_accept":
      return "accepted your follow request.";
    default:
      return "did something.";
  }
}

export function notificationItem(notification) {
  const href = notification.post
    ? `/p/${notification.post}`
    : notification.verb === "follow_request"
      ? `/u/${encodeURIComponent(document.body.dataset.meUsername || notification.actor.username)}`
      : `/u/${encodeURIComponent(notification.actor.username)}`;
  return h(
    "li",
    { class: `notif ${notification.read ? "" : "unread"}`.trim(), dataset: { id: notification.id } },
    avatar(notification.actor),
    h("span", { class: "notif-line" }, userLink(notification.actor), " ", h("a", { href, class: "notif-text" }, notificationText(notification))),
    timeEl(notification.created_at, { class: "muted" }),
  );
}
