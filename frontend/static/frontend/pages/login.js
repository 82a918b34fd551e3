import { api, fieldErrors } from "../api.js";
import { $, showError } from "../util.js";

export async function init() {
  const form = $("#login-form");
  const error = $("#login-error");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
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
      const next = document.body.dataset.next || "/";
      window.location.assign(next.startsWith("/") && !next.startsWith("//") ? next : "/");
    } catch (failure) {
      const fields = fieldErrors(failure);
      showError(error, failure.status === 400 && Object.keys(fields).length > 1 ? Object.values(fields).join(" ") : failure.detail);
      button.disabled = false;
    }
  });
  form.username.focus();
}
