// One post: likes and comments. For its author they update live (notification.new names
// the post); for everyone else they are refetched every few seconds while the tab is shown.
import { api } from "../api.js";
import { postMedia } from "../carousel.js";
import { likeLabel, saveLabel, toggleLike, toggleSave } from "../posts.js";
import { gateway } from "../socket.js";
import { $, avatar, h, pageLimit, richText, showError, timeEl, toast, userLink } from "../util.js";

const POLL_MS = 10000;
const MAX_COMMENT_PAGES = 20;

export const state = {
  me: null,
  postId: 0,
  base: "", // the post's API path
  commentMax: 0, // the server's limit, from <body data-comment-max>
  post: null,
  comments: new Map(), // comment id -> <li>, oldest first on the page
  pagesLoaded: 1,
  commentsNext: null,
  refreshing: null, // the running refresh, if any
  again: false, // another refresh was asked for while one ran
};

const ui = {};

// --- rendering -------------------------------------------------------------------

/** The counts and the like button: whatever changes. */
function renderPost() {
  const { post } = state;
  $("#post").setAttribute("aria-busy", "false");
  $("#like-count").textContent = String(post.like_count);
  $("#comment-count").textContent = String(post.comment_count);
  $("#like-label").textContent = post.like_count === 1 ? "like" : "likes";
  $("#comment-label").textContent = post.comment_count === 1 ? "comment" : "comments";
  ui.likeButton.textContent = likeLabel(post.liked_by_me);
  ui.likeButton.setAttribute("aria-pressed", String(post.liked_by_me));
  ui.saveButton.textContent = saveLabel(post.saved_by_me);
  ui.saveButton.setAttribute("aria-pressed", String(Boolean(post.saved_by_me)));
  renderCaption();
}

/** The caption and the "edited" mark: they change when the author edits. */
function renderCaption() {
  const { post } = state;
  if (ui.shownCaption === post.caption && ui.shownEdited === post.edited_at) return;
  ui.shownCaption = post.caption;
  ui.shownEdited = post.edited_at;
  $("#post-caption").replaceChildren(richText(post.caption));
  const mark = $("#post-edited");
  mark.hidden = !post.edited_at;
  mark.title = post.edited_at || "";
}

/** The photo, author, caption and time: what never changes. */
function renderOnce() {
  const { post } = state;
  const alt = post.caption ? `Photo by ${post.author.username}: ${post.caption.slice(0, 120)}` : `Photo by ${post.author.username}`;
  $("#post-media").replaceChildren(postMedia(post, { alt }));
  $("#post-author").replaceChildren(avatar(post.author), userLink(post.author));
  $("#post-time").replaceWith(timeEl(post.created_at, { class: "muted", id: "post-time" }));
  $("#delete-post").hidden = post.author.id !== state.me.id;
  $("#edit-post").hidden = post.author.id !== state.me.id;
}

function commentItem(comment) {
  const canDelete = comment.author.id === state.me.id || state.post.author.id === state.me.id;
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
        onclick: () => deleteComment(comment, item),
      }, "Delete"),
    );
  }
  return item;
}

function addComments(items) {
  for (const comment of items) {
    if (state.comments.has(comment.id)) continue;
    const node = commentItem(comment);
    state.comments.set(comment.id, node);
    // Oldest first: insert before the first comment with a larger id.
    const after = [...ui.list.children].find((child) => Number(child.dataset.id) > comment.id);
    ui.list.insertBefore(node, after || null);
  }
}

// --- loading -----------------------------------------------------------------------

/** The first `pages` pages of comments; when that is all of them, drops the deleted ones. */
async function loadComments(pages) {
  let url = `${state.base}/comments`;
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
    for (const [id, node] of state.comments) {
      if (!seen.has(id)) {
        node.remove();
        state.comments.delete(id);
      }
    }
  }
  state.commentsNext = url;
  state.pagesLoaded = Math.max(state.pagesLoaded, count);
  ui.moreComments.hidden = !state.commentsNext;
}

/** One refresh at a time; a request for another while one runs makes it run once more. */
function refresh() {
  if (state.refreshing) {
    state.again = true;
    return state.refreshing;
  }
  state.refreshing = (async () => {
    do {
      state.again = false;
      try {
        state.post = await api(state.base);
        renderPost();
        await loadComments(Math.min(MAX_COMMENT_PAGES, state.pagesLoaded + 1));
      } catch (error) {
        if (error.status === 404) toast("This post was deleted.");
      }
    } while (state.again);
    state.refreshing = null;
  })();
  return state.refreshing;
}

// --- actions -----------------------------------------------------------------------

async function deleteComment(comment, item) {
  try {
    await api(`/api/comments/${comment.id}`, { method: "DELETE" });
    state.comments.delete(comment.id);
    item.remove();
    state.post.comment_count = Math.max(0, state.post.comment_count - 1);
    renderPost();
  } catch (error) {
    toast(error.detail);
  }
}

async function onMoreComments() {
  if (!state.commentsNext) return;
  const page = await api(state.commentsNext);
  addComments(page.results);
  state.commentsNext = page.next;
  state.pagesLoaded += 1;
  ui.moreComments.hidden = !state.commentsNext;
}

async function onDeletePost() {
  if (!window.confirm("Delete this post?")) return;
  try {
    await api(state.base, { method: "DELETE" });
    window.location.assign(`/u/${encodeURIComponent(state.me.username)}`);
  } catch (error) {
    toast(error.detail);
  }
}

async function onCommentSubmit(event) {
  event.preventDefault();
  const { form, error } = ui;
  const body = form.body.value.trim();
  if (!body) return showError(error, "Write something first.");
  if (body.length > state.commentMax) return showError(error, `A comment is at most ${state.commentMax.toLocaleString("en-US")} characters.`);
  showError(error, "");
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const comment = await api(`${state.base}/comments`, { method: "POST", json: { body } });
    form.body.value = "";
    addComments([comment]);
    state.post.comment_count += 1;
    renderPost();
  } catch (failure) {
    showError(error, failure.detail);
  } finally {
    button.disabled = false;
  }
}

function onEditToggle(open) {
  ui.editForm.hidden = !open;
  $("#post-caption").hidden = open;
  if (open) {
    ui.editForm.caption.value = state.post.caption;
    ui.editForm.caption.focus();
  }
}

async function onEditSubmit(event) {
  event.preventDefault();
  const error = $("#edit-error");
  showError(error, "");
  try {
    state.post = await api(state.base, { method: "PATCH", json: { caption: ui.editForm.caption.value } });
    onEditToggle(false);
    renderPost();
  } catch (failure) {
    showError(error, failure.detail);
  }
}

/** post.update: the author edited the caption (in another tab, or someone I follow). */
function onPostUpdate(post) {
  if (!post || post.id !== state.postId || !state.post) return;
  state.post = { ...state.post, caption: post.caption, edited_at: post.edited_at };
  renderPost();
}

function onPostDelete(data) {
  if (data && data.id === state.postId) {
    $("#post").replaceChildren(h("p", {}, "This post was deleted."));
  }
}

/** Live for the author: a like, comment or mention on this post arrives as a notification. */
function onNotification(event) {
  if (event.detail.post === state.postId) refresh();
}

// --- wiring ------------------------------------------------------------------------

export async function init(self) {
  state.me = self;
  state.postId = Number(document.body.dataset.postId);
  state.base = `/api/posts/${state.postId}`;
  state.commentMax = pageLimit("commentMax");
  Object.assign(ui, {
    list: $("#comments"),
    likeButton: $("#like-button"),
    moreComments: $("#more-comments"),
    form: $("#comment-form"),
    error: $("#comment-error"),
  });

  ui.saveButton = $("#save-button");
  ui.editForm = $("#edit-form");
  ui.likeButton.addEventListener("click", () => toggleLike(state.post, renderPost));
  ui.saveButton.addEventListener("click", () => toggleSave(state.post, renderPost));
  $("#edit-post").addEventListener("click", () => onEditToggle(ui.editForm.hidden));
  $("#edit-cancel").addEventListener("click", () => onEditToggle(false));
  ui.editForm.addEventListener("submit", onEditSubmit);
  gateway.on("post.update", onPostUpdate);
  gateway.on("post.delete", onPostDelete);
  ui.moreComments.addEventListener("click", onMoreComments);
  $("#delete-post").addEventListener("click", onDeletePost);
  ui.form.addEventListener("submit", onCommentSubmit);
  document.addEventListener("instaclone:notification", onNotification);
  gateway.on("reconnected", refresh);
  gateway.on("resync", refresh);

  await gateway.ready();
  try {
    state.post = await api(state.base);
  } catch (failure) {
    const text = failure.status === 404 ? "This post does not exist any more." : failure.code === "private" ? "This account is private. Follow it to see its posts." : failure.detail;
    $("#post").replaceChildren(h("p", { class: "private-notice" }, text));
    return;
  }
  renderOnce();
  renderPost();
  await loadComments(1);
  setInterval(() => {
    if (document.visibilityState === "visible" && state.post.author.id !== state.me.id) refresh();
  }, POLL_MS);
}
