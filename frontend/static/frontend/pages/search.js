// People search by username prefix, as you type.
import { api } from "../api.js";
import { $, avatar, h } from "../util.js";

const DEBOUNCE_MS = 200;

export async function init() {
  const input = $("#search-q");
  const results = $("#search-results");
  const empty = $("#search-empty");
  let timer = null;
  let controller = null;

  const search = async () => {
    const q = input.value.trim().replace(/^@/, "");
    const url = new URL(window.location.href);
    if (q) url.searchParams.set("q", q);
    else url.searchParams.delete("q");
    window.history.replaceState(null, "", url);
    if (controller) controller.abort();
    if (!q) {
      results.replaceChildren();
      empty.hidden = true;
      return;
    }
    controller = new AbortController();
    try {
      const page = await api(`/api/users?q=${encodeURIComponent(q)}`, { signal: controller.signal });
      results.replaceChildren(
        ...page.results.map((user) =>
          h(
            "li",
            { class: "result" },
            h("a", { href: `/u/${encodeURIComponent(user.username)}` }, avatar(user), h("strong", {}, user.username), user.full_name ? h("span", { class: "muted" }, user.full_name) : null),
          ),
        ),
      );
      empty.hidden = page.results.length > 0;
    } catch (error) {
      if (error.name !== "AbortError") {
        results.replaceChildren();
        empty.hidden = false;
        empty.textContent = error.detail || "Search failed.";
      }
    }
  };

  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(search, DEBOUNCE_MS);
  });
  $("#search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    clearTimeout(timer);
    search();
  });
  input.focus();
  if (input.value) await search();
}
