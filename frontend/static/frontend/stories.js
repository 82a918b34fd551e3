// Stories above the feed: the tray (rings around the people with unseen stories), a
// full-screen viewer with a progress bar per story (tap the sides or use the arrow keys to
// go on, Escape to close), "seen by" under your own, and `story.new` pushes into the tray.
import { api } from "./api.js";
import { gateway } from "./socket.js";
import { $, avatar, h, me, plural, timeEl, toast } from "./util.js";

// How long one story stays on screen before the next one.
export const STORY_MS = 5000;

export const state = {
  tray: [], // [{user, stories, all_seen}] as GET /api/stories, mine first
  open: null, // {entry, index} while the viewer shows a story
  timer: null, // the auto-advance timer of the open story
  startedAt: 0, // when the open story's progress started (ms)
  paused: false,
};

const ui = {};

function isMine(user) {
  const self = me();
  return Boolean(self && user && user.id === self.id);
}

/** The tray's order: mine first, then people with unseen stories, then the seen ones
 *  (each group newest story first), as the server orders it. */
function sortTray() {
  const latest = (entry) => Math.max(...entry.stories.map((s) => Date.parse(s.created_at)));
  state.tray.sort((a, b) => {
    const rank = (entry) => (isMine(entry.user) ? 0 : entry.all_seen ? 2 : 1);
    return rank(a) - rank(b) || latest(b) - latest(a);
  });
}

function dropExpired() {
  const now = Date.now();
  for (const entry of state.tray) entry.stories = entry.stories.filter((s) => Date.parse(s.expires_at) > now);
  state.tray = state.tray.filter((entry) => entry.stories.length > 0);
}

function trayItem(entry) {
  const ring = entry.all_seen ? "seen" : "unseen";
  const label = `${isMine(entry.user) ? "Your story" : `Story of ${entry.user.username}`}, ${plural(entry.stories.length, "photo", "photos")}${entry.all_seen ? ", seen" : ", new"}`;
  return h(
    "li",
    { class: "tray-item", dataset: { user: entry.user.username } },
    h(
      "button",
      { type: "button", class: `tray-button ring-${ring}`, "aria-label": label, onclick: () => openViewer(entry.user.id) },
      h("span", { class: "ring" }, avatar(entry.user, "md")),
      h("span", { class: "tray-name" }, isMine(entry.user) ? "Your story" : entry.user.username),
    ),
  );
}

function renderTray() {
  dropExpired();
  const items = [];
  const mine = state.tray.find((entry) => isMine(entry.user));
  if (!mine) {
    items.push(
      h(
        "li",
        { class: "tray-item" },
        h(
          "button",
          { type: "button", class: "tray-button tray-add", "aria-label": "Add to your story", onclick: () => ui.input.click() },
          h("span", { class: "ring" }, avatar(me(), "md"), h("span", { class: "tray-plus", "aria-hidden": "true" }, "+")),
          h("span", { class: "tray-name" }, "Your story"),
        ),
      ),
    );
  }
  for (const entry of state.tray) items.push(trayItem(entry));
  if (mine) {
    items.splice(
      1,
      0,
      h(
        "li",
        { class: "tray-item" },
        h(
          "button",
          { type: "button", class: "tray-button tray-add", "aria-label": "Add another photo to your story", onclick: () => ui.input.click() },
          h("span", { class: "ring ring-plain" }, h("span", { class: "tray-plus tray-plus-lg", "aria-hidden": "true" }, "+")),
          h("span", { class: "tray-name" }, "Add"),
        ),
      ),
    );
  }
  ui.list.replaceChildren(...items);
}

async function loadTray() {
  try {
    state.tray = await api("/api/stories");
    renderTray();
  } catch (error) {
    console.warn("stories", error);
  }
}

function onStoryNew(data) {
  if (!data || !data.user || !data.story || !Number.isInteger(data.story.id)) return;
  let entry = state.tray.find((e) => e.user.id === data.user.id);
  if (!entry) {
    entry = { user: data.user, stories: [], all_seen: true };
    state.tray.push(entry);
  }
  if (entry.stories.some((s) => s.id === data.story.id)) return;
  entry.stories.push(data.story);
  entry.stories.sort((a, b) => a.id - b.id);
  entry.all_seen = entry.stories.every((s) => s.seen_by_me);
  sortTray();
  renderTray();
}

async function onFileChosen() {
  const file = ui.input.files[0];
  ui.input.value = "";
  if (!file) return;
  const body = new FormData();
  body.append("image", file);
  ui.status.textContent = "Sharing your story…";
  try {
    const story = await api("/api/stories", { method: "POST", form: body });
    onStoryNew({ user: story.author, story });
    ui.status.textContent = "Your story is shared for 24 hours.";
  } catch (error) {
    ui.status.textContent = "";
    toast(error.detail || "Could not share the story.");
  }
}

// --- the viewer ------------------------------------------------------------------------

function current() {
  if (!state.open) return null;
  return state.open.entry.stories[state.open.index] || null;
}

function stopTimer() {
  clearTimeout(state.timer);
  state.timer = null;
}

function startTimer(remaining = STORY_MS) {
  stopTimer();
  state.startedAt = Date.now() - (STORY_MS - remaining);
  state.timer = setTimeout(next, remaining);
  const bar = ui.viewer.querySelector(".story-progress .bar[data-current] .fill");
  if (bar) {
    bar.style.transition = "none";
    bar.style.width = `${((STORY_MS - remaining) / STORY_MS) * 100}%`;
    // Next frame: run the fill to the end in the time left.
    requestAnimationFrame(() => {
      bar.style.transition = `width ${remaining}ms linear`;
      bar.style.width = "100%";
    });
  }
}

function pause() {
  if (state.paused || !state.open) return;
  state.paused = true;
  const elapsed = Date.now() - state.startedAt;
  stopTimer();
  const bar = ui.viewer.querySelector(".story-progress .bar[data-current] .fill");
  if (bar) {
    bar.style.transition = "none";
    bar.style.width = `${Math.min(100, (elapsed / STORY_MS) * 100)}%`;
  }
  state.pausedElapsed = elapsed;
}

function resume() {
  if (!state.paused || !state.open) return;
  state.paused = false;
  startTimer(Math.max(0, STORY_MS - (state.pausedElapsed || 0)));
}

async function markSeen(entry, story) {
  if (story.seen_by_me) return;
  story.seen_by_me = true;
  entry.all_seen = entry.stories.every((s) => s.seen_by_me);
  try {
    await api(`/api/stories/${story.id}/seen`, { method: "POST" });
  } catch (error) {
    if (error.status === 404) {
      entry.stories = entry.stories.filter((s) => s.id !== story.id);
    }
  }
}

function renderStory() {
  const { entry, index } = state.open;
  const story = entry.stories[index];
  const mine = isMine(entry.user);
  const bars = entry.stories.map((s, i) => {
    const fill = h("span", { class: "fill" });
    // Through the CSSOM: the page's policy refuses style attributes.
    fill.style.width = i < index ? "100%" : "0%";
    return h("span", { class: `bar${i < index ? " done" : ""}`, dataset: i === index ? { current: "1" } : {} }, fill);
  });
  ui.progress.replaceChildren(...bars);
  ui.progress.setAttribute("aria-label", `Story ${index + 1} of ${entry.stories.length}`);
  ui.who.replaceChildren(avatar(entry.user), h("strong", {}, entry.user.username), timeEl(story.created_at, { class: "story-time" }));
  ui.image.src = story.image_url;
  ui.image.alt = `Story by ${entry.user.username}`;
  ui.viewer.dataset.story = String(story.id);
  ui.viewer.dataset.user = entry.user.username;
  ui.mineBar.hidden = !mine;
  ui.seenList.hidden = true;
  ui.seenList.replaceChildren();
  if (mine) ui.seenButton.textContent = "Seen by …";
  state.paused = false;
  markSeen(entry, story);
  startTimer();
  if (mine) loadSeenCount(story);
}

async function loadSeenCount(story) {
  try {
    const page = await api(`/api/stories/${story.id}/viewers?limit=100`);
    if (current() !== story) return;
    const more = page.next ? "+" : "";
    ui.seenButton.textContent = `Seen by ${page.results.length}${more}`;
    ui.seenButton.dataset.count = String(page.results.length);
    state.viewers = page;
  } catch (error) {
    ui.seenButton.textContent = "Seen by";
  }
}

async function showViewers() {
  const story = current();
  if (!story) return;
  pause();
  ui.seenList.hidden = false;
  ui.seenList.replaceChildren(h("li", { class: "muted" }, "Loading…"));
  try {
    const page = await api(`/api/stories/${story.id}/viewers?limit=100`);
    if (current() !== story) return;
    const rows = page.results.map((v) => h("li", { class: "viewer" }, avatar(v.user), h("a", { href: `/u/${encodeURIComponent(v.user.username)}` }, v.user.username), timeEl(v.seen_at, { class: "muted" })));
    ui.seenList.replaceChildren(...(rows.length ? rows : [h("li", { class: "muted" }, "Nobody yet.")]));
  } catch (error) {
    ui.seenList.replaceChildren(h("li", { class: "muted" }, error.detail || "Could not load the viewers."));
  }
}

async function deleteCurrent() {
  const story = current();
  if (!story) return;
  pause();
  try {
    await api(`/api/stories/${story.id}`, { method: "DELETE" });
    const { entry } = state.open;
    entry.stories = entry.stories.filter((s) => s.id !== story.id);
    if (entry.stories.length === 0) {
      closeViewer();
      return;
    }
    state.open.index = Math.min(state.open.index, entry.stories.length - 1);
    renderStory();
  } catch (error) {
    toast(error.detail || "Could not delete the story.");
    resume();
  }
}

function openViewer(userId, index = null) {
  const entry = state.tray.find((e) => e.user.id === userId);
  if (!entry || entry.stories.length === 0) return;
  // Start at the first unseen story, or the first one when all are seen.
  const first = entry.stories.findIndex((s) => !s.seen_by_me);
  state.open = { entry, index: index ?? (first >= 0 ? first : 0) };
  if (ui.viewer.hidden) {
    state.returnFocus = document.activeElement;
    ui.viewer.hidden = false;
    document.body.classList.add("viewer-open");
  }
  renderStory();
  ui.close.focus({ preventScroll: true });
}

function closeViewer() {
  stopTimer();
  state.open = null;
  ui.viewer.hidden = true;
  ui.image.removeAttribute("src");
  delete ui.viewer.dataset.story;
  document.body.classList.remove("viewer-open");
  sortTray();
  renderTray();
  if (state.returnFocus && document.contains(state.returnFocus)) state.returnFocus.focus({ preventScroll: true });
}

/** The next story: of this person, then the next person in the tray, then close. */
function next() {
  if (!state.open) return;
  const { entry, index } = state.open;
  if (index + 1 < entry.stories.length) {
    state.open.index += 1;
    renderStory();
    return;
  }
  const position = state.tray.indexOf(entry);
  const following = state.tray.slice(position + 1).find((e) => e.stories.length > 0);
  if (following) openViewer(following.user.id, following.stories.findIndex((s) => !s.seen_by_me) >= 0 ? null : 0);
  else closeViewer();
}

function previous() {
  if (!state.open) return;
  const { entry, index } = state.open;
  if (index > 0) {
    state.open.index -= 1;
    renderStory();
    return;
  }
  const position = state.tray.indexOf(entry);
  const before = state.tray.slice(0, position).reverse().find((e) => e.stories.length > 0);
  if (before) openViewer(before.user.id, before.stories.length - 1);
  else renderStory();
}

function onKey(event) {
  if (ui.viewer.hidden) return;
  if (event.key === "ArrowRight") {
    event.preventDefault();
    next();
  } else if (event.key === "ArrowLeft") {
    event.preventDefault();
    previous();
  } else if (event.key === "Escape") {
    event.preventDefault();
    closeViewer();
  }
}

export async function initStories() {
  Object.assign(ui, {
    list: $("#tray-list"),
    input: $("#story-input"),
    status: $("#story-status"),
    viewer: $("#story-viewer"),
    progress: $("#story-progress"),
    who: $("#story-who"),
    image: $("#story-image"),
    close: $("#story-close"),
    mineBar: $("#story-mine"),
    seenButton: $("#story-seen-by"),
    seenList: $("#story-viewers"),
    deleteButton: $("#story-delete"),
  });
  ui.input.addEventListener("change", onFileChosen);
  ui.close.addEventListener("click", closeViewer);
  $("#story-prev").addEventListener("click", previous);
  $("#story-next").addEventListener("click", next);
  ui.seenButton.addEventListener("click", () => (ui.seenList.hidden ? showViewers() : (ui.seenList.hidden = true, resume())));
  ui.deleteButton.addEventListener("click", deleteCurrent);
  document.addEventListener("keydown", onKey);
  gateway.on("story.new", onStoryNew);
  gateway.on("reconnected", loadTray);
  // A story that expires while the page is open leaves the tray.
  setInterval(() => {
    if (ui.viewer.hidden) renderTray();
  }, 60_000);
  await loadTray();
}
