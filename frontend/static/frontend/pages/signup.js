import { api, fieldErrors } from "../api.js";
import { $, showError } from "../util.js";

const USERNAME = /^[A-Za-z0-9_.]{3,30}$/;

export async function init() {
  const form = $("#signup-form");
  const error = $("#signup-error");
  const fieldNodes = Object.fromEntries([...form.querySelectorAll(".field-error")].map((node) => [node.dataset.field, node]));

  const check = (values) => {
    const problems = {};
    if (!USERNAME.test(values.username)) problems.username = "A username is 3 to 30 letters, digits, underscores or dots.";
    if (!/^[^@\s]+@[^@\s]+$/.test(values.email)) problems.email = "Enter a valid email address.";
    if (values.password.length < 8) problems.password = "Use at least 8 characters.";
    return problems;
  };
  const show = (problems) => {
    for (const [name, node] of Object.entries(fieldNodes)) {
      showError(node, problems[name] || "");
      form[name].setAttribute("aria-invalid", problems[name] ? "true" : "false");
    }
  };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const values = { username: form.username.value.trim(), email: form.email.value.trim(), password: form.password.value };
    const problems = check(values);
    show(problems);
    showError(error, "");
    if (Object.keys(problems).length) return;
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      await api("/api/auth/register", { method: "POST", json: values });
      try {
        window.sessionStorage.clear();
      } catch {
        // nothing stored
      }
      window.location.assign("/");
    } catch (failure) {
      const fields = fieldErrors(failure);
      show(fields);
      const unplaced = Object.entries(fields).filter(([name]) => !fieldNodes[name]).map(([, text]) => text);
      showError(error, unplaced.length ? unplaced.join(" ") : Object.keys(fields).length ? "" : failure.detail);
      button.disabled = false;
    }
  });
  form.username.focus();
}
