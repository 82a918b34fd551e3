// Home feed: infinite scroll, and a "new posts" banner fed live by feed.post frames.
import { api } from "../api.js";
import { postCard } from "../posts.js";
import { gateway } from "../socket.js";
import { $, onNearBottom, plural } from "../util.js";

export async function init() {
  const feed = $("#feed");
  const banner = $("#new-posts");
  const empty = $("#feed-empty");
  const loading = $("#feed-loading");
  const shown = new Set();
  const fresh = new Map();
  let next = "/api/feed";
  let busy = false;

  const updateBanner = () => {
    banner.hidden = fresh.size === 0;
    banner.textContent = `↑ ${plural(fresh.size, "new post", "new posts")}`;
  };
  const addFresh = (post) => {
    if (shown.has(post.id) || fresh.has(post.id)) return;
    fresh.set(post.id, post);
    updateBanner();
  };

  const loadMore = async () => {
    if (busy || !next) return;
    busy = true;
    loading.hidden = false;
    try {
      const page = await api(next);
      for (const post of page.results) {
        if (shown.has(post.id)) continue;
        shown.add(post.id);
        feed.append(postCard(post));
      }
      next = page.next;
    } finally {
      busy = false;
      loading.hidden = true;
      empty.hidden = shown.size > 0;
    }
  };

  gateway.on("feed.post", (post) => {
    if (post && Number.isInteger(post.id)) addFresh(post);
  });
  // feed.post is best effort and not replayed: after a reconnect, look for what we missed.
  gateway.on("reconnected", async () => {
    try {
      const page = await api("/api/feed");
      const top = Math.max(0, ...shown);
      for (const post of page.results) if (post.id > top) addFresh(post);
    } catch {
      // the next reconnect or a reload catches up
    }
  });

  banner.addEventListener("click", () => {
    const posts = [...fresh.values()].sort((a, b) => a.id - b.id);
    for (const post of posts) {
      if (shown.has(post.id)) continue;
      shown.add(post.id);
      feed.prepend(postCard(post));
    }
    fresh.clear();
    updateBanner();
    empty.hidden = shown.size > 0;
    window.scrollTo({ top: 0, behavior: "smooth" });
    const first = feed.querySelector(".post-card a");
    if (first) first.focus({ preventScroll: true });
  });

  await gateway.ready();
  await loadMore();
  onNearBottom($("#feed-sentinel"), loadMore);
}
