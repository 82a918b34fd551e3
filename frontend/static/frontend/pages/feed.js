// Home feed: infinite scroll, and a "new posts" banner fed live by feed.post frames.
import { api } from "../api.js";
import { applyUpdate, postCard } from "../posts.js";
import { gateway } from "../socket.js";
import { initStories } from "../stories.js";
import { $, onNearBottom, plural } from "../util.js";

export const state = {
  shown: new Set(), // ids of the posts on the page
  fresh: new Map(), // id -> post announced live, behind the banner until clicked
  next: "/api/feed",
  busy: false,
};

const ui = {};

function renderBanner() {
  ui.banner.hidden = state.fresh.size === 0;
  ui.banner.textContent = `↑ ${plural(state.fresh.size, "new post", "new posts")}`;
}

function addFresh(post) {
  if (state.shown.has(post.id) || state.fresh.has(post.id)) return;
  state.fresh.set(post.id, post);
  renderBanner();
}

async function loadMore() {
  if (state.busy || !state.next) return;
  state.busy = true;
  ui.loading.hidden = false;
  try {
    const page = await api(state.next);
    for (const post of page.results) {
      if (state.shown.has(post.id)) continue;
      state.shown.add(post.id);
      ui.feed.append(postCard(post));
    }
    state.next = page.next;
  } finally {
    state.busy = false;
    ui.loading.hidden = true;
    ui.empty.hidden = state.shown.size > 0;
  }
}

function onFeedPost(post) {
  if (post && Number.isInteger(post.id)) addFresh(post);
}

function cardOf(id) {
  return ui.feed.querySelector(`.post-card[data-id="${Number(id)}"]`);
}

/** post.update: a caption was edited; the card shows it at once (likes and saves stay mine). */
function onPostUpdate(post) {
  if (!post || !Number.isInteger(post.id)) return;
  const card = cardOf(post.id);
  if (card) applyUpdate(card, post);
  if (state.fresh.has(post.id)) state.fresh.set(post.id, post);
}

/** post.delete: the post is gone from the page and from the banner. */
function onPostDelete(data) {
  if (!data || !Number.isInteger(data.id)) return;
  const card = cardOf(data.id);
  if (card) card.remove();
  state.shown.delete(data.id);
  if (state.fresh.delete(data.id)) renderBanner();
  ui.empty.hidden = state.shown.size > 0;
}

/** feed.post is best effort and not replayed: after a reconnect, look for what we missed. */
async function onReconnected() {
  try {
    const page = await api("/api/feed");
    const top = Math.max(0, ...state.shown);
    for (const post of page.results) if (post.id > top) addFresh(post);
  } catch {
    // the next reconnect or a reload catches up
  }
}

function onBannerClick() {
  const posts = [...state.fresh.values()].sort((a, b) => a.id - b.id);
  for (const post of posts) {
    if (state.shown.has(post.id)) continue;
    state.shown.add(post.id);
    ui.feed.prepend(postCard(post));
  }
  state.fresh.clear();
  renderBanner();
  ui.empty.hidden = state.shown.size > 0;
  window.scrollTo({ top: 0, behavior: "smooth" });
  const first = ui.feed.querySelector(".post-card a");
  if (first) first.focus({ preventScroll: true });
}

export async function init() {
  Object.assign(ui, { feed: $("#feed"), banner: $("#new-posts"), empty: $("#feed-empty"), loading: $("#feed-loading") });
  gateway.on("feed.post", onFeedPost);
  gateway.on("post.update", onPostUpdate);
  gateway.on("post.delete", onPostDelete);
  gateway.on("reconnected", onReconnected);
  ui.banner.addEventListener("click", onBannerClick);

  await gateway.ready();
  await Promise.all([initStories(), loadMore()]);
  onNearBottom($("#feed-sentinel"), loadMore);
}
