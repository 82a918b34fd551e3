// Profile: avatar, bio, counts, the grid of posts, follow/unfollow, message, edit my own.
import { api } from "../api.js";
import { gateway } from "../socket.js";
import { $, h, onNearBottom, showError, toast } from "../util.js";

export async function init(self) {
  const username = document.body.dataset.profile;
  const base = `/api/users/${encodeURIComponent(username)}`;
  const followButton = $("#follow-button");
  const messageButton = $("#message-button");
  const grid = $("#profile-grid");
  const shown = new Set();
  let profile = null;
  let next = `${base}/posts`;
  let busy = false;

  const render = () => {
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
    const mine = profile.id === self.id;
    followButton.hidden = mine;
    messageButton.hidden = mine;
    followButton.textContent = profile.is_following ? "Following" : "Follow";
    followButton.setAttribute("aria-pressed", String(Boolean(profile.is_following)));
    followButton.classList.toggle("primary", !profile.is_following);
    $("#edit-button").hidden = !mine;
    if (mine) {
      const form = $("#profile-form");
      if (document.activeElement?.form !== form) {
        form.full_name.value = profile.full_name || "";
        form.bio.value = profile.bio || "";
      }
    }
  };

  const loadProfile = async () => {
    profile = await api(base);
    render();
  };

  const loadMore = async () => {
    if (busy || !next) return;
    busy = true;
    try {
      const page = await api(next);
      for (const post of page.results) {
        if (shown.has(post.id)) continue;
        shown.add(post.id);
        const alt = post.caption ? post.caption.slice(0, 120) : `Photo by ${username}`;
        grid.append(
          h("a", { href: `/p/${post.id}`, class: "grid-item", dataset: { id: post.id } }, h("img", { src: post.thumbnail_url || post.image_url, alt, loading: "lazy" })),
        );
      }
      next = page.next;
      $("#grid-empty").hidden = shown.size > 0;
    } finally {
      busy = false;
    }
  };

  const editButton = $("#edit-button");
  editButton.addEventListener("click", () => {
    const panel = $("#profile-edit");
    panel.hidden = !panel.hidden;
    editButton.setAttribute("aria-expanded", String(!panel.hidden));
    if (!panel.hidden) $("#edit-full-name").focus();
  });

  followButton.addEventListener("click", async () => {
    followButton.disabled = true;
    try {
      await api(`${base}/follow`, { method: profile.is_following ? "DELETE" : "POST" });
      await loadProfile();
    } catch (error) {
      toast(error.detail);
    } finally {
      followButton.disabled = false;
    }
  });

  messageButton.addEventListener("click", async () => {
    messageButton.disabled = true;
    try {
      const conversation = await api("/api/conversations", { method: "POST", json: { usernames: [profile.username] } });
      window.location.assign(`/inbox/${conversation.id}`);
    } catch (error) {
      toast(error.detail);
      messageButton.disabled = false;
    }
  });

  $("#profile-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    const error = $("#profile-error");
    const body = new FormData();
    body.append("full_name", form.full_name.value.trim());
    body.append("bio", form.bio.value);
    const file = form.avatar.files[0];
    if (file) {
      if (!file.type.startsWith("image/")) return showError(error, "The avatar must be an image.");
      if (file.size > 10 * 1024 * 1024) return showError(error, "The avatar is larger than 10 MB.");
      body.append("avatar", file);
    }
    showError(error, "");
    try {
      profile = { ...profile, ...(await api("/api/me", { method: "PATCH", form: body })) };
      form.avatar.value = "";
      await loadProfile();
      $("#profile-edit").hidden = true;
      $("#edit-button").setAttribute("aria-expanded", "false");
      toast("Profile saved.");
    } catch (failure) {
      showError(error, failure.detail);
    }
  });

  // Someone followed me: my follower count changed.
  document.addEventListener("instaclone:notification", (event) => {
    if (profile && profile.id === self.id && event.detail.verb === "follow") loadProfile();
  });

  await gateway.ready();
  await loadProfile();
  await loadMore();
  onNearBottom($("#grid-sentinel"), loadMore);
}
