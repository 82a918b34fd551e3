// Profile: avatar, bio, counts, the grid of posts, follow/unfollow, message, edit my own.
import { api } from "../api.js";
import { gridItem } from "../grid.js";
import { gateway } from "../socket.js";
import { $, h, megabytes, onNearBottom, pageLimit, showError, toast } from "../util.js";

export const state = {
  me: null,
  username: "",
  base: "", // the profile's API path
  imageMaxBytes: 0, // the server's limit, from <body data-image-max-bytes>
  profile: null,
  hidden: false, // a private account's grid the viewer may not see
  shown: new Set(), // ids of the posts in the grid
  next: null,
  busy: false,
};

const ui = {};

function render() {
  const { profile } = state;
  $("#profile-head").setAttribute("aria-busy", "false");
  $("#profile-username").textContent = profile.username;
  $("#profile-full-name").textContent = profile.full_name || "";
  $("#profile-bio").textContent = profile.bio || "";
  $("#count-posts").textContent = String(profile.post_count);
  $("#count-followers").textContent = String(profile.follower_count);
  $("#count-following").textContent = String(profile.following_count);
  $("#label-posts").textContent = profile.post_count === 1 ? "post" : "posts";
  $("#label-followers").textContent = profile.follower_count === 1 ? "follower" : "followers";
  const img = $("#profile-avatar");
  const fallback = $("#profile-avatar-fallback");
  if (profile.avatar_url) {
    img.src = profile.avatar_url;
    img.alt = `${profile.username}'s avatar`;
    img.hidden = false;
    fallback.hidden = true;
  } else {
    img.hidden = true;
    fallback.hidden = false;
    fallback.textContent = profile.username.slice(0, 1).toUpperCase();
  }
  const mine = profile.id === state.me.id;
  ui.followButton.hidden = mine;
  ui.messageButton.hidden = mine;
  const status = profile.follow_status || (profile.is_following ? "following" : "none");
  ui.followButton.textContent = { following: "Following", requested: "Requested" }[status] || "Follow";
  ui.followButton.setAttribute("aria-pressed", String(status !== "none"));
  ui.followButton.classList.toggle("primary", status === "none");
  ui.editButton.hidden = !mine;
  $("#profile-tabs").hidden = !mine;
  $("#follow-requests").hidden = !mine || !profile.is_private;
  $("#private-notice").hidden = !state.hidden;
  // My own profile: the edit form shows what is saved, unless I am typing in it.
  if (mine && document.activeElement?.form !== ui.form) {
    ui.form.full_name.value = profile.full_name || "";
    ui.form.bio.value = profile.bio || "";
    ui.form.is_private.checked = Boolean(profile.is_private);
  }
}

async function loadProfile() {
  state.profile = await api(state.base);
  render();
}

async function loadMore() {
  if (state.busy || !state.next) return;
  state.busy = true;
  try {
    let page;
    try {
      page = await api(state.next);
    } catch (failure) {
      if (failure.code !== "private") throw failure;
      state.hidden = true; // a private account I do not follow: no grid
      state.next = null;
      render();
      return;
    }
    state.hidden = false;
    $("#private-notice").hidden = true;
    for (const post of page.results) {
      if (state.shown.has(post.id)) continue;
      state.shown.add(post.id);
      ui.grid.append(gridItem(post));
    }
    state.next = page.next;
    $("#grid-empty").hidden = state.shown.size > 0;
  } finally {
    state.busy = false;
  }
}

function onEditToggle() {
  const panel = $("#profile-edit");
  panel.hidden = !panel.hidden;
  ui.editButton.setAttribute("aria-expanded", String(!panel.hidden));
  if (!panel.hidden) $("#edit-full-name").focus();
}

/** Posts or Saved: the grid shows the other list. */
async function showTab(saved) {
  $("#tab-posts").setAttribute("aria-selected", String(!saved));
  $("#tab-saved").setAttribute("aria-selected", String(saved));
  $("#grid-title").textContent = saved ? "Saved" : "Posts";
  $("#grid-empty").textContent = saved ? "Nothing saved yet: ☆ Save a post to find it here." : "No posts yet.";
  ui.grid.replaceChildren();
  state.shown.clear();
  state.next = saved ? "/api/me/saved" : `${state.base}/posts`;
  await loadMore();
}

function requestItem(request) {
  const item = h(
    "li",
    { class: "result request", dataset: { id: request.id } },
    h("a", { href: `/u/${encodeURIComponent(request.user.username)}` }, h("strong", {}, request.user.username)),
    h("button", { type: "button", class: "primary", onclick: () => answerRequest(request, "accept", item) }, "Accept"),
    h("button", { type: "button", onclick: () => answerRequest(request, "decline", item) }, "Decline"),
  );
  return item;
}

async function loadRequests() {
  if (!state.profile || state.profile.id !== state.me.id || !state.profile.is_private) return;
  const page = await api("/api/me/follow-requests");
  $("#request-list").replaceChildren(...page.results.map(requestItem));
  if (!page.results.length) $("#request-list").replaceChildren(h("li", { class: "muted" }, "No pending requests."));
}

async function answerRequest(request, answer, item) {
  try {
    await api(`/api/follow-requests/${request.id}/${answer}`, { method: "POST" });
    item.remove();
    toast(answer === "accept" ? `${request.user.username} now follows you.` : "Request declined.");
    await loadProfile();
    await loadRequests();
  } catch (error) {
    toast(error.detail);
  }
}

async function onFollow() {
  ui.followButton.disabled = true;
  try {
    const status = state.profile.follow_status || (state.profile.is_following ? "following" : "none");
    const answer = await api(`${state.base}/follow`, { method: status === "none" ? "POST" : "DELETE" });
    if (answer && answer.status === "requested") toast("Request sent.");
    await loadProfile();
    if (!state.hidden || state.profile.follow_status === "following") await showTab(false);
  } catch (error) {
    toast(error.detail);
  } finally {
    ui.followButton.disabled = false;
  }
}

async function onMessage() {
  ui.messageButton.disabled = true;
  try {
    const conversation = await api("/api/conversations", { method: "POST", json: { usernames: [state.profile.username] } });
    window.location.assign(`/inbox/${conversation.id}`);
  } catch (error) {
    toast(error.detail);
    ui.messageButton.disabled = false;
  }
}

async function onSave(event) {
  event.preventDefault();
  const form = event.target;
  const error = $("#profile-error");
  const body = new FormData();
  body.append("full_name", form.full_name.value.trim());
  body.append("bio", form.bio.value);
  body.append("is_private", form.is_private.checked ? "true" : "false");
  const file = form.avatar.files[0];
  if (file) {
    if (!file.type.startsWith("image/")) return showError(error, "The avatar must be an image.");
    if (file.size > state.imageMaxBytes) return showError(error, `The avatar is larger than ${megabytes(state.imageMaxBytes)} MB.`);
    body.append("avatar", file);
  }
  showError(error, "");
  try {
    state.profile = { ...state.profile, ...(await api("/api/me", { method: "PATCH", form: body })) };
    form.avatar.value = "";
    await loadProfile();
    await loadRequests();
    $("#profile-edit").hidden = true;
    ui.editButton.setAttribute("aria-expanded", "false");
    toast("Profile saved.");
  } catch (failure) {
    showError(error, failure.detail);
  }
}

/** Someone followed me or asked to; or my request to this account was accepted. */
function onNotification(event) {
  const { verb, actor } = event.detail;
  if (state.profile && state.profile.id === state.me.id && (verb === "follow" || verb === "follow_request")) {
    loadProfile().then(loadRequests);
  }
  if (state.profile && verb === "follow_accept" && actor && actor.id === state.profile.id) {
    loadProfile().then(() => showTab(false));
  }
}

export async function init(self) {
  state.me = self;
  state.username = document.body.dataset.profile;
  state.base = `/api/users/${encodeURIComponent(state.username)}`;
  state.next = `${state.base}/posts`;
  state.imageMaxBytes = pageLimit("imageMaxBytes");
  Object.assign(ui, {
    followButton: $("#follow-button"),
    messageButton: $("#message-button"),
    editButton: $("#edit-button"),
    grid: $("#profile-grid"),
    form: $("#profile-form"),
  });

  ui.editButton.addEventListener("click", onEditToggle);
  ui.followButton.addEventListener("click", onFollow);
  ui.messageButton.addEventListener("click", onMessage);
  ui.form.addEventListener("submit", onSave);
  document.addEventListener("instaclone:notification", onNotification);

  $("#tab-posts").addEventListener("click", () => showTab(false));
  $("#tab-saved").addEventListener("click", () => showTab(true));

  await gateway.ready();
  await loadProfile();
  await loadMore();
  await loadRequests();
  onNearBottom($("#grid-sentinel"), loadMore);
}
