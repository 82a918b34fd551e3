// One post: likes and comments. For its author they update live (notification.new names
// the post); for everyone else they are refetched every few seconds while the tab is shown.
import { api } from "../api.js";
import { likeLabel, toggleLike } from "../posts.js";
import { gateway } from "../socket.js";
import { $, avatar, h, richText, showError, timeEl, toast, userLink } from "../util.js";

const POLL_MS = 10000;
const MAX_COMMENT_PAGES = 20;

export async function init(self) {
  const postId = Number(document.body.dataset.postId);
  const base = `/api/posts/${postId}`;
  const list = $("#comments");
  const likeButton = $("#like-button");
  const comments = new Map();
  let post = null;
  let pagesLoaded = 1;
  let commentsNext = null;

  const renderPost = () => {
    $("#post").setAttribute("aria-busy", "false");
    $("#like-count").textContent = String(post.like_count);
    $("#comment-count").textContent = String(post.comment_count);
    $("#like-label").textContent = post.like_count === 1 ? "like" : "likes";
    $("#comment-label").textContent = post.comment_count === 1 ? "comment" : "comments";
    likeButton.textContent = likeLabel(post.liked_by_me);
    likeButton.setAttribute("aria-pressed", String(post.liked_by_me));
  };

  const renderOnce = () => {
    const alt = post.caption ? `Photo by ${post.author.username}: ${post.caption.slice(0, 120)}` : `Photo by ${post.author.username}`;
    $("#post-media").replaceChildren(h("img", { src: post.image_url, alt, class: "post-image" }));
    $("#post-author").replaceChildren(avatar(post.author), userLink(post.author));
    $("#post-caption").replaceChildren(richText(post.caption));
    const time = timeEl(post.created_at, { class: "muted", id: "post-time" });
    $("#post-time").replaceWith(time);
    $("#delete-post").hidden = post.author.id !== self.id;
  };

  const commentItem = (comment) => {
    const canDelete = comment.author.id === self.id || post.author.id === self.id;
    const item = h(
      "li",
      { class: "comment", dataset: { id: comment.id } },
      avatar(comment.author),
      h("div", { class: "comment-body" }, userLink(comment.author), " ", h("span", { class: "comment-text" }, richText(comment.body)), " ", timeEl(comment.created_at, { class: "muted" })),
    );
    if (canDelete) {
      item.append(
        h("button", {
          type: "button",
          class: "link danger",
          "aria-label": `Delete comment by ${comment.author.username}`,
          onclick: async () => {
            try {
              await api(`/api/comments/${comment.id}`, { method: "DELETE" });
              comments.delete(comment.id);
              item.remove();
              post.comment_count = Math.max(0, post.comment_count - 1);
              renderPost();
            } catch (error) {
              toast(error.detail);
            }
          },
        }, "Delete"),
      );
    }
    return item;
  };

  const addComments = (items) => {
    for (const comment of items) {
      if (comments.has(comment.id)) continue;
      const node = commentItem(comment);
      comments.set(comment.id, node);
      // Oldest first: insert before the first comment with a larger id.
      const after = [...list.children].find((child) => Number(child.dataset.id) > comment.id);
      list.insertBefore(node, after || null);
    }
  };

  const loadComments = async (pages) => {
    let url = `${base}/comments`;
    let count = 0;
    const seen = new Set();
    while (url && count < pages) {
      const page = await api(url);
      page.results.forEach((comment) => seen.add(comment.id));
      addComments(page.results);
      url = page.next;
      count += 1;
    }
    if (!url) {
      // Everything fetched: drop comments that were deleted meanwhile.
      for (const [id, node] of comments) {
        if (!seen.has(id)) {
          node.remove();
          comments.delete(id);
        }
      }
    }
    commentsNext = url;
    pagesLoaded = Math.max(pagesLoaded, count);
    $("#more-comments").hidden = !commentsNext;
  };

  // One refresh at a time; a request for another while one runs makes it run once more.
  let refreshing = null;
  let again = false;
  const refresh = () => {
    if (refreshing) {
      again = true;
      return refreshing;
    }
    refreshing = (async () => {
      do {
        again = false;
        try {
          post = await api(base);
          renderPost();
          await loadComments(Math.min(MAX_COMMENT_PAGES, pagesLoaded + 1));
        } catch (error) {
          if (error.status === 404) toast("This post was deleted.");
        }
      } while (again);
      refreshing = null;
    })();
    return refreshing;
  };

  likeButton.addEventListener("click", () => toggleLike(post, renderPost));
  $("#more-comments").addEventListener("click", async () => {
    if (!commentsNext) return;
    const page = await api(commentsNext);
    addComments(page.results);
    commentsNext = page.next;
    pagesLoaded += 1;
    $("#more-comments").hidden = !commentsNext;
  });
  $("#delete-post").addEventListener("click", async () => {
    if (!window.confirm("Delete this post?")) return;
    try {
      await api(base, { method: "DELETE" });
      window.location.assign(`/u/${encodeURIComponent(self.username)}`);
    } catch (error) {
      toast(error.detail);
    }
  });

  const form = $("#comment-form");
  const error = $("#comment-error");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = form.body.value.trim();
    if (!body) return showError(error, "Write something first.");
    if (body.length > 2200) return showError(error, "A comment is at most 2,200 characters.");
    showError(error, "");
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const comment = await api(`${base}/comments`, { method: "POST", json: { body } });
      form.body.value = "";
      addComments([comment]);
      post.comment_count += 1;
      renderPost();
    } catch (failure) {
      showError(error, failure.detail);
    } finally {
      button.disabled = false;
    }
  });

  // Live for the author: a like, comment or mention on this post arrives as a notification.
  document.addEventListener("instaclone:notification", (event) => {
    if (event.detail.post === postId) refresh();
  });
  gateway.on("reconnected", refresh);
  gateway.on("resync", refresh);

  await gateway.ready();
  try {
    post = await api(base);
  } catch (failure) {
    $("#post").replaceChildren(h("p", {}, failure.status === 404 ? "This post does not exist any more." : failure.detail));
    return;
  }
  renderOnce();
  renderPost();
  await loadComments(1);
  setInterval(() => {
    if (document.visibilityState === "visible" && post.author.id !== self.id) refresh();
  }, POLL_MS);
}
