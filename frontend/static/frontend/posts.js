// A post card (feed) and the like toggle shared by the feed and the post page.
import { api } from "./api.js";
import { editedMark, postMedia } from "./carousel.js";
import { avatar, h, plural, richText, timeEl, toast, userLink } from "./util.js";

export function saveLabel(saved) {
  return saved ? "★ Saved" : "☆ Save";
}

/** Saves or unsaves `post` (mutated with the server's answer) and calls `onChange`. */
export async function toggleSave(post, onChange) {
  const saving = !post.saved_by_me;
  post.saved_by_me = saving;
  onChange(post);
  try {
    const fresh = await api(`/api/posts/${post.id}/save`, { method: saving ? "POST" : "DELETE" });
    post.saved_by_me = fresh.saved_by_me;
  } catch (error) {
    post.saved_by_me = !saving;
    toast(error.detail || "Could not save the post.");
  }
  onChange(post);
}

/** The caption line of a card: the author's name and the linked text. */
function captionLine(post) {
  return h("p", { class: "caption", hidden: !post.caption }, h("strong", {}, post.author.username), " ", richText(post.caption));
}

/** A card on the page shows `post` as edited (a `post.update` frame): caption and mark. */
export function applyUpdate(card, post) {
  card.querySelector(".caption").replaceWith(captionLine(post));
  const mark = card.querySelector(".edited");
  mark.hidden = !post.edited_at;
  mark.title = post.edited_at || "";
}

export function likeLabel(liked) {
  return liked ? "♥ Liked" : "♡ Like";
}

/** Toggles the like on `post` (mutated with the server's answer) and calls `onChange`. */
export async function toggleLike(post, onChange) {
  const liking = !post.liked_by_me;
  // Optimistic, then settled by the server's post.
  post.liked_by_me = liking;
  post.like_count = Math.max(0, post.like_count + (liking ? 1 : -1));
  onChange(post);
  try {
    const fresh = await api(`/api/posts/${post.id}/like`, { method: liking ? "POST" : "DELETE" });
    if (fresh && typeof fresh === "object" && "like_count" in fresh) {
      post.like_count = fresh.like_count;
      post.liked_by_me = fresh.liked_by_me;
    } else {
      Object.assign(post, await api(`/api/posts/${post.id}`));
    }
  } catch (error) {
    post.liked_by_me = !liking;
    post.like_count = Math.max(0, post.like_count + (liking ? -1 : 1));
    toast(error.detail || "Could not update the like.");
  }
  onChange(post);
}

export function postCard(post) {
  const likeButton = h("button", { type: "button", class: "like-button", "aria-pressed": String(post.liked_by_me) }, likeLabel(post.liked_by_me));
  const likeCount = h("span", { class: "like-count" }, plural(post.like_count, "like", "likes"));
  const update = (fresh) => {
    likeButton.textContent = likeLabel(fresh.liked_by_me);
    likeButton.setAttribute("aria-pressed", String(fresh.liked_by_me));
    likeCount.textContent = plural(fresh.like_count, "like", "likes");
  };
  likeButton.addEventListener("click", () => toggleLike(post, update));
  const saveButton = h("button", { type: "button", class: "save-button", "aria-pressed": String(Boolean(post.saved_by_me)) }, saveLabel(post.saved_by_me));
  saveButton.addEventListener("click", () =>
    toggleSave(post, (fresh) => {
      saveButton.textContent = saveLabel(fresh.saved_by_me);
      saveButton.setAttribute("aria-pressed", String(fresh.saved_by_me));
    }),
  );
  const alt = post.caption ? `Photo by ${post.author.username}: ${post.caption.slice(0, 120)}` : `Photo by ${post.author.username}`;
  return h(
    "article",
    { class: "post-card card", dataset: { id: post.id } },
    h("header", { class: "post-author" }, avatar(post.author), userLink(post.author), timeEl(post.created_at, { class: "muted" }), editedMark(post)),
    postMedia(post, { alt, href: `/p/${post.id}` }),
    h(
      "div",
      { class: "post-body" },
      h("div", { class: "post-actions" }, likeButton, likeCount, h("a", { href: `/p/${post.id}`, class: "comment-link" }, plural(post.comment_count, "comment", "comments")), saveButton),
      captionLine(post),
    ),
  );
}
