// Sign up: the same checks as the server, from the rules it prints on the page (the username
// rule and its wording, the shortest password), then the server's own field errors.
import { api, fieldErrors } from "../api.js";
import { $, USERNAME, pageLimit, showError } from "../util.js";

export const state = {
  usernameMessage: "", // the server's wording of the username rule, from <body data-username-message>
  passwordMin: 0, // from <body data-password-min>
};

const ui = {};

/** Problems with the form's values, by field name (none: an empty object). */
function check(values) {
  const problems = {};
  if (!USERNAME.test(values.username)) problems.username = state.usernameMessage;
  if (!/^[^@\s]+@[^@\s]+$/.test(values.email)) problems.email = "Enter a valid email address.";
  if (values.password.length < state.passwordMin) problems.password = `Use at least ${state.passwordMin} characters.`;
  return problems;
}

/** Shows each field's problem under it (and clears the others). */
function renderProblems(problems) {
  for (const [name, node] of Object.entries(ui.fieldNodes)) {
    showError(node, problems[name] || "");
    ui.form[name].setAttribute("aria-invalid", problems[name] ? "true" : "false");
  }
}

async function onSubmit(event) {
  event.preventDefault();
  const { form, error, fieldNodes } = ui;
  const values = { username: form.username.value.trim(), email: form.email.value.trim(), password: form.password.value };
  const problems = check(values);
  renderProblems(problems);
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
    renderProblems(fields);
    const unplaced = Object.entries(fields).filter(([name]) => !fieldNodes[name]).map(([, text]) => text);
    showError(error, unplaced.length ? unplaced.join(" ") : Object.keys(fields).length ? "" : failure.detail);
    button.disabled = false;
  }
}

export async function init() {
  state.usernameMessage = document.body.dataset.usernameMessage;
  state.passwordMin = pageLimit("passwordMin");
  const form = $("#signup-form");
  Object.assign(ui, {
    form,
    error: $("#signup-error"),
    fieldNodes: Object.fromEntries([...form.querySelectorAll(".field-error")].map((node) => [node.dataset.field, node])),
  });
  form.addEventListener("submit", onSubmit);
  form.username.focus();
}
