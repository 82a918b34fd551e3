// The page a reset link opens: its uid and token come from the query string.
import { api, fieldErrors } from "../api.js";
import { $, showError } from "../util.js";

export async function init() {
  const params = new URLSearchParams(window.location.search);
  const form = $("#reset-form");
  const error = $("#reset-error");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(error, "");
    try {
      await api("/api/auth/password-reset/confirm", {
        method: "POST",
        json: { uid: params.get("uid") || "", token: params.get("token") || "", new_password: form.new_password.value },
      });
      $("#reset-done").hidden = false;
      form.querySelector("button[type=submit]").disabled = true;
    } catch (failure) {
      const fields = fieldErrors(failure);
      showError(error, fields.new_password || failure.detail);
    }
  });
  form.new_password.focus();
}
