// A grid of post thumbnails that pages on as you scroll (profile, tag page, explore).
import { api } from "./api.js";
import { h, onNearBottom } from "./util.js";

/** A grid cell: the first photo's thumbnail, marked when the post has several. */
export function gridItem(post) {
  const alt = post.caption ? post.caption.slice(0, 120) : `Photo by ${post.author.username}`;
  const count = post.images ? post.images.length : 1;
  return h(
    "a",
    { href: `/p/${post.id}`, class: "grid-item", dataset: { id: post.id } },
    h("img", { src: post.thumbnail_url || post.image_url, alt, loading: "lazy" }),
    count > 1 ? h("span", { class: "grid-multi", "aria-label": `${count} photos` }, "❐") : null,
  );
}

/** Fills `grid` from the list at `url`, a page at a time as `sentinel` nears. */
export function pagedGrid({ grid, sentinel, empty, url }) {
  const shown = new Set();
  let next = url;
  let busy = false;
  async function more() {
    if (busy || !next) return;
    busy = true;
    try {
      const page = await api(next);
      for (const post of page.results) {
        if (shown.has(post.id)) continue;
        shown.add(post.id);
        grid.append(gridItem(post));
      }
      next = page.next;
      empty.hidden = shown.size > 0;
    } finally {
      busy = false;
    }
  }
  onNearBottom(sentinel, more);
  return more();
}
