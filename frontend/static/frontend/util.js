// DOM and formatting helpers. User data only ever reaches the page through text nodes
// (textContent, createTextNode) or attributes set one by one: never through innerHTML.

/** Creates an element: h("a", {href: "/x", class: "c"}, "text", child). */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export const $ = (selector, root = document) => root.querySelector(selector);

let leaving = false;
/** Goes to the log-in page once: when the account ends, the page, the API client (401) and
 *  the socket (4401) may all notice at once, and a second navigation would abort the first. */
export function leaveToLogin({ next = true } = {}) {
  if (leaving || ["/login", "/signup"].includes(window.location.pathname)) return;
  leaving = true;
  window.location.assign(next ? `/login?next=${encodeURIComponent(window.location.pathname)}` : "/login");
}

// The username rule as the server prints it on every page (<body data-username-pattern>,
// accounts.models.USERNAME_PATTERN without its anchors): the scripts keep no copy of it.
const USERNAME_PATTERN = document.body.dataset.usernamePattern;
/** Matches a whole username. */
export const USERNAME = new RegExp(`^(?:${USERNAME_PATTERN})$`);
// The server's hashtag rule (feed/hashtags.py): `#` then 1-100 letters, digits or `_`,
// with no letter, digit, `_`, `#` or `&` just before it.
const LINKS = new RegExp(`(@(?:${USERNAME_PATTERN})|(?<![\\p{L}\\p{N}_#&])#[\\p{L}\\p{N}_]{1,100}(?![\\p{L}\\p{N}_]))`, "u");

/** A number the server printed on <body data-…> (frontend/limits.py: a message's length, an
 *  image's size…), by its dataset name: pageLimit("bodyMax") reads data-body-max. */
export function pageLimit(name) {
  const value = Number(document.body.dataset[name]);
  if (!Number.isFinite(value)) throw new Error(`The page has no limit "${name}".`);
  return value;
}

/** Whole megabytes in `bytes`, as the server words its size limits ("larger than 10 MB"). */
export function megabytes(bytes) {
  return Math.floor(bytes / (1024 * 1024));
}

/** Text with @mentions turned into profile links and #tags into tag links; everything
 *  else stays plain text. */
export function richText(text) {
  const fragment = document.createDocumentFragment();
  const parts = String(text ?? "").split(LINKS);
  parts.forEach((part, index) => {
    if (index % 2 === 1 && part.startsWith("#")) {
      fragment.append(h("a", { href: `/t/${encodeURIComponent(part.slice(1).toLowerCase())}`, class: "hashtag" }, part));
    } else if (index % 2 === 1) fragment.append(h("a", { href: `/u/${encodeURIComponent(part.slice(1))}` }, part));
    else if (part) fragment.append(document.createTextNode(part));
  });
  return fragment;
}

const UNITS = [
  [60, "s", 1],
  [3600, "min", 60],
  [86400, "h", 3600],
  [604800, "d", 86400],
];

/** "just now", "2 min ago", "3 h ago", "4 d ago", then the date. */
export function relativeTime(iso, now = Date.now()) {
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return "";
  const seconds = Math.max(0, Math.round((now - then) / 1000));
  if (seconds < 45) return "just now";
  for (const [limit, unit, size] of UNITS) {
    if (seconds < limit) return `${Math.max(1, Math.floor(seconds / size))} ${unit} ago`;
  }
  return new Date(then).toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" });
}

/** A <time> that keeps its relative text fresh (see refreshTimes). */
export function timeEl(iso, attrs = {}) {
  const node = h("time", { ...attrs, class: `rel-time ${attrs.class || ""}`.trim(), datetime: iso }, relativeTime(iso));
  if (iso) node.title = new Date(iso).toLocaleString();
  return node;
}

export function refreshTimes(root = document) {
  for (const node of root.querySelectorAll("time.rel-time[datetime]")) {
    const text = relativeTime(node.getAttribute("datetime"));
    if (node.textContent !== text) node.textContent = text;
  }
}

export function avatar(user, size = "sm") {
  if (user && user.avatar_url) {
    return h("img", { class: `avatar avatar-${size}`, src: user.avatar_url, alt: "", loading: "lazy" });
  }
  const letter = ((user && user.username) || "?").slice(0, 1).toUpperCase();
  return h("span", { class: `avatar avatar-${size} avatar-fallback`, "aria-hidden": "true" }, letter);
}

export function userLink(user, attrs = {}) {
  return h("a", { ...attrs, href: `/u/${encodeURIComponent(user.username)}`, class: `user-link ${attrs.class || ""}`.trim() }, user.username);
}

export function showError(node, message) {
  if (!node) return;
  node.textContent = message || "";
  node.hidden = !message;
}

let toastTimer = null;
export function toast(message, ms = 4000) {
  const node = document.getElementById("toast");
  if (!node) return;
  node.textContent = message;
  node.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { node.hidden = true; }, ms);
}

/** Calls back when `sentinel` scrolls near the viewport: infinite scroll. */
export function onNearBottom(sentinel, callback) {
  const observer = new IntersectionObserver((entries) => {
    if (entries.some((entry) => entry.isIntersecting)) callback();
  }, { rootMargin: "600px 0px" });
  observer.observe(sentinel);
  return observer;
}

export function plural(count, one, many) {
  return `${count} ${count === 1 ? one : many}`;
}

/** A v4 UUID; crypto.randomUUID exists only in secure contexts. */
export function uuid() {
  if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
  const bytes = window.crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export function me() {
  const { meId, meUsername } = document.body.dataset;
  return meId ? { id: Number(meId), username: meUsername } : null;
}

export function userId(value) {
  return value && typeof value === "object" ? value.id : value;
}

export function markReady(root = document.body) {
  root.dataset.ready = "1";
}
