// Profile: avatar, bio, counts, the grid of posts, follow/unfollow, message, edit my own.
import { api } from "../api.js";
import { gateway } from "../socket.js";
import { $, h, megabytes, onNearBottom, pageLimit, showError, toast } from "../util.js";

export const state = {
  me: null,
  username: "",
  base: "", // the profile's API path
  imageMaxBytes: 0, // the server's limit, from <body data-image-max-bytes>
  profile: null,
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
  ui.followButton.textContent = profile.is_following ? "Following" : "Follow";
  ui.followButton.setAttribute("aria-pressed", String(Boolean(profile.is_following)));
  ui.followButton.classList.toggle("primary", !profile.is_following);
  ui.editButton.hidden = !mine;
  // My own profile: the edit form shows what is saved, unless I am typing in it.
  if (mine && document.activeElement?.form !== ui.form) {
    ui.form.full_name.value = profile.full_name || "";
    ui.form.bio.value = profile.bio || "";
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
    const page = await api(state.next);
    for (const post of page.results) {
      if (state.shown.has(post.id)) continue;
      state.shown.add(post.id);
      const alt = post.caption ? post.caption.slice(0, 120) : `Photo by ${state.username}`;
      ui.grid.append(
        h("a", { href: `/p/${post.id}`, class: "grid-item", dataset: { id: post.id } }, h("img", { src: post.thumbnail_url || post.image_url, alt, loading: "lazy" })),
      );
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

async function onFollow() {
  ui.followButton.disabled = true;
  try {
    await api(`${state.base}/follow`, { method: state.profile.is_following ? "DELETE" : "POST" });
    await loadProfile();
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
    $("#profile-edit").hidden = true;
    ui.editButton.setAttribute("aria-expanded", "false");
    toast("Profile saved.");
  } catch (failure) {
    showError(error, failure.detail);
  }
}

/** Someone followed me: my follower count changed. */
function onNotification(event) {
  if (state.profile && state.profile.id === state.me.id && event.detail.verb === "follow") loadProfile();
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

  await gateway.ready();
  await loadProfile();
  await loadMore();
  onNearBottom($("#grid-sentinel"), loadMore);
}
