// Log in, then go where the server says is safe (<body data-next>, a local path).
import { api, fieldErrors } from "../api.js";
import { $, showError } from "../util.js";

const ui = {};

/** Where to go after logging in: the server's data-next, if it is a local path. */
function nextPath() {
  const next = document.body.dataset.next || "/";
  return next.startsWith("/") && !next.startsWith("//") ? next : "/";
}

async function onSubmit(event) {
  event.preventDefault();
  const { form, error } = ui;
  const username = form.username.value.trim();
  const password = form.password.value;
  if (!username || !password) {
    showError(error, "Enter your username and password.");
    return;
  }
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  showError(error, "");
  try {
    await api("/api/auth/login", { method: "POST", json: { username, password } });
    try {
      window.sessionStorage.clear();
    } catch {
      // nothing stored
    }
    window.location.assign(nextPath());
  } catch (failure) {
    const fields = fieldErrors(failure);
    showError(error, failure.status === 400 && Object.keys(fields).length > 1 ? Object.values(fields).join(" ") : failure.detail);
    button.disabled = false;
  }
}

export async function init() {
  Object.assign(ui, { form: $("#login-form"), error: $("#login-error") });
  ui.form.addEventListener("submit", onSubmit);
  ui.form.username.focus();
}
