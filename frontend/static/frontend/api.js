// The REST client: session cookie plus X-CSRFToken on every write, JSON errors as ApiError.

import { leaveToLogin } from "./util.js";

export class ApiError extends Error {
  constructor(status, body) {
    const detail = (body && body.detail) || `Request failed (${status}).`;
    super(detail);
    this.status = status;
    this.detail = detail;
    this.code = (body && body.code) || "error";
    this.fields = (body && body.fields) || {};
  }
}

export function csrfToken() {
  for (const part of document.cookie.split(";")) {
    const [name, ...rest] = part.trim().split("=");
    if (name === "csrftoken") return decodeURIComponent(rest.join("="));
  }
  const input = document.querySelector("input[name=csrfmiddlewaretoken]");
  return input ? input.value : "";
}

/** Same-origin path of a pagination `next` URL (it may name another host behind a proxy). */
export function localPath(url) {
  if (!url) return null;
  const parsed = new URL(url, window.location.href);
  return parsed.pathname + parsed.search;
}

/** `keepalive`: the request outlives the page (for what a page sends as it is left). */
export async function api(path, { method = "GET", json, form, signal, keepalive = false } = {}) {
  const headers = { Accept: "application/json" };
  let body;
  if (method !== "GET" && method !== "HEAD") headers["X-CSRFToken"] = csrfToken();
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form;
  }
  let response;
  try {
    response = await fetch(localPath(path), { method, headers, body, signal, keepalive, credentials: "same-origin" });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, { detail: "Network error: check your connection and try again.", code: "network" });
  }
  let data = null;
  const text = await response.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { detail: response.status === 413 ? "The file is too large." : `Unexpected response (${response.status}).` };
    }
  }
  if (!response.ok) {
    if (response.status === 401 && !path.startsWith("/api/auth/")) {
      leaveToLogin();
    }
    throw new ApiError(response.status, data);
  }
  return data;
}

/** The first message of each field error, for forms. */
export function fieldErrors(error) {
  const out = {};
  for (const [name, messages] of Object.entries(error.fields || {})) {
    out[name] = Array.isArray(messages) ? messages.join(" ") : String(messages);
  }
  return out;
}
