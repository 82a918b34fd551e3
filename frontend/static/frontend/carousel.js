// A post's photos: one image, or a carousel of up to ten with dots, arrow buttons, the
// arrow keys (when it has focus) and a swipe (touch or mouse drag).
import { h } from "./util.js";

const SWIPE_PX = 40;

function photo(image, alt, index, count) {
  const label = count > 1 ? `${alt} (photo ${index + 1} of ${count})` : alt;
  return h("img", { src: image.url, alt: label, class: "post-image", loading: index === 0 ? "eager" : "lazy", draggable: "false" });
}

/** The media of `post`; `href` makes the photos a link (the feed card) except on a swipe. */
export function postMedia(post, { alt, href = null } = {}) {
  const images = post.images && post.images.length ? post.images : [{ url: post.image_url }];
  if (images.length === 1) {
    const img = photo(images[0], alt, 0, 1);
    return href ? h("a", { href, class: "post-image-link" }, img) : img;
  }
  let index = 0;
  const slides = images.map((image, i) => h("div", { class: "carousel-slide", "aria-hidden": String(i !== 0) }, photo(image, alt, i, images.length)));
  const track = h("div", { class: "carousel-track" }, ...slides);
  const dots = images.map((_, i) =>
    h("button", { type: "button", class: "carousel-dot", "aria-label": `Photo ${i + 1} of ${images.length}`, onclick: (event) => { event.preventDefault(); go(i); } }),
  );
  const prev = h("button", { type: "button", class: "carousel-prev", "aria-label": "Previous photo", onclick: (event) => { event.preventDefault(); go(index - 1); } }, "‹");
  const next = h("button", { type: "button", class: "carousel-next", "aria-label": "Next photo", onclick: (event) => { event.preventDefault(); go(index + 1); } }, "›");
  const root = h(
    "div",
    { class: "carousel", tabindex: "0", role: "region", "aria-roledescription": "carousel", "aria-label": `${images.length} photos`, dataset: { index: "0", count: String(images.length) } },
    href ? h("a", { href, class: "post-image-link carousel-viewport" }, track) : h("div", { class: "carousel-viewport" }, track),
    prev,
    next,
    h("div", { class: "carousel-dots" }, ...dots),
  );

  function go(target) {
    index = Math.max(0, Math.min(images.length - 1, target));
    track.style.transform = `translateX(-${index * 100}%)`;
    slides.forEach((slide, i) => slide.setAttribute("aria-hidden", String(i !== index)));
    dots.forEach((dot, i) => dot.setAttribute("aria-current", String(i === index)));
    prev.disabled = index === 0;
    next.disabled = index === images.length - 1;
    root.dataset.index = String(index);
  }

  root.addEventListener("keydown", (event) => {
    if (event.key === "ArrowRight") go(index + 1);
    else if (event.key === "ArrowLeft") go(index - 1);
    else return;
    event.preventDefault();
  });
  let startX = null;
  let swiped = false;
  root.addEventListener("pointerdown", (event) => {
    startX = event.clientX;
    swiped = false;
  });
  root.addEventListener("pointerup", (event) => {
    if (startX === null) return;
    const dx = event.clientX - startX;
    startX = null;
    if (Math.abs(dx) < SWIPE_PX) return;
    swiped = true;
    go(index + (dx < 0 ? 1 : -1));
  });
  root.addEventListener("pointercancel", () => { startX = null; });
  // A swipe over the link is not a click on it.
  root.addEventListener("click", (event) => {
    if (swiped) {
      event.preventDefault();
      swiped = false;
    }
  }, true);
  go(0);
  return root;
}

/** "edited" beside the time, when the caption was edited. */
export function editedMark(post) {
  return h("span", { class: "edited muted", hidden: !post.edited_at, title: post.edited_at || "" }, "· edited");
}
