// Ask for a password reset link. The answer is the same whether or not the address has an
// account.
import { api, fieldErrors } from "../api.js";
import { $, showError } from "../util.js";

export async function init() {
  const form = $("#forgot-form");
  const error = $("#forgot-error");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(error, "");
    const email = form.email.value.trim();
    if (!email) {
      showError(error, "Enter your email address.");
      return;
    }
    try {
      await api("/api/auth/password-reset", { method: "POST", json: { email } });
      $("#forgot-done").hidden = false;
      form.querySelector("button[type=submit]").disabled = true;
    } catch (failure) {
      const fields = fieldErrors(failure);
      showError(error, Object.keys(fields).length ? Object.values(fields).join(" ") : failure.detail);
    }
  });
  form.email.focus();
}
