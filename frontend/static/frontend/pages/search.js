// People search by username prefix and tag search by name prefix, side by side, as you type.
import { api } from "../api.js";
import { $, avatar, h } from "../util.js";

const DEBOUNCE_MS = 200;

export const state = {
  timer: null, // the debounce before the next search
  controller: null, // aborts the search in flight when another starts
};

const ui = {};

function resultItem(user) {
  return h(
    "li",
    { class: "result" },
    h("a", { href: `/u/${encodeURIComponent(user.username)}` }, avatar(user), h("strong", {}, user.username), user.full_name ? h("span", { class: "muted" }, user.full_name) : null),
  );
}

function tagItem(tag) {
  return h(
    "li",
    { class: "result" },
    h("a", { href: `/t/${encodeURIComponent(tag.name)}` }, h("strong", {}, `#${tag.name}`), h("span", { class: "muted" }, `${tag.post_count} ${tag.post_count === 1 ? "post" : "posts"}`)),
  );
}

async function searchTags(q, signal) {
  const name = q.replace(/^#/, "");
  if (!name) {
    ui.tags.replaceChildren();
    ui.tagsEmpty.hidden = true;
    return;
  }
  try {
    const tags = await api(`/api/tags?q=${encodeURIComponent(name)}`, { signal });
    ui.tags.replaceChildren(...tags.map(tagItem));
    ui.tagsEmpty.hidden = tags.length > 0;
  } catch (error) {
    if (error.name === "AbortError") return;
    ui.tags.replaceChildren();
    ui.tagsEmpty.hidden = false;
  }
}

/** Searches for what the box says, and keeps it in the address (?q=) for reloads. */
async function search() {
  const raw = ui.input.value.trim();
  const q = raw.replace(/^@/, "");
  const url = new URL(window.location.href);
  if (q) url.searchParams.set("q", q);
  else url.searchParams.delete("q");
  window.history.replaceState(null, "", url);
  if (state.controller) state.controller.abort();
  if (!q) {
    ui.results.replaceChildren();
    ui.empty.hidden = true;
    ui.tags.replaceChildren();
    ui.tagsEmpty.hidden = true;
    return;
  }
  state.controller = new AbortController();
  const tagSearch = searchTags(q, state.controller.signal);
  if (q.startsWith("#") || q.length > 30) {
    ui.results.replaceChildren();
    ui.empty.hidden = false;
    await tagSearch;
    return;
  }
  try {
    const page = await api(`/api/users?q=${encodeURIComponent(q)}`, { signal: state.controller.signal });
    ui.results.replaceChildren(...page.results.map(resultItem));
    ui.empty.hidden = page.results.length > 0;
  } catch (error) {
    if (error.name !== "AbortError") {
      ui.results.replaceChildren();
      ui.empty.hidden = false;
      ui.empty.textContent = error.detail || "Search failed.";
    }
  }
  await tagSearch;
}

function onInput() {
  clearTimeout(state.timer);
  state.timer = setTimeout(search, DEBOUNCE_MS);
}

function onSubmit(event) {
  event.preventDefault();
  clearTimeout(state.timer);
  search();
}

export async function init() {
  Object.assign(ui, {
    input: $("#search-q"),
    results: $("#search-results"),
    empty: $("#search-empty"),
    tags: $("#tag-results"),
    tagsEmpty: $("#tag-empty"),
  });
  ui.input.addEventListener("input", onInput);
  $("#search-form").addEventListener("submit", onSubmit);
  ui.input.focus();
  if (ui.input.value) await search();
}
