// A hashtag: its post count and the grid of its posts I may see, newest first.
import { api } from "../api.js";
import { pagedGrid } from "../grid.js";
import { gateway } from "../socket.js";
import { $ } from "../util.js";

export async function init() {
  const name = document.body.dataset.tag;
  const base = `/api/tags/${encodeURIComponent(name)}`;
  await gateway.ready();
  try {
    const tag = await api(base);
    $("#tag-count").textContent = String(tag.post_count);
    $("#tag-count-label").textContent = tag.post_count === 1 ? "post" : "posts";
  } catch (failure) {
    if (failure.status !== 404) throw failure;
    $("#tag-count").textContent = "0";
    $("#tag-empty").hidden = false;
    return;
  }
  await pagedGrid({ grid: $("#tag-grid"), sentinel: $("#tag-sentinel"), empty: $("#tag-empty"), url: `${base}/posts` });
}
