// Settings: where you're signed in (revoke one, or all others), password change, the
// download of your data, deleting the account.
import { api, fieldErrors, localPath } from "../api.js";
import { $, h, leaveToLogin, showError, timeEl, toast } from "../util.js";

const ui = {};
const EXPORT_POLL_MS = 1000;

function describe(credential) {
  const kind = credential.kind === "session" ? "Browser session" : "API token";
  const agent = credential.user_agent || "unknown client";
  return `${kind} · ${agent}${credential.ip ? ` · ${credential.ip}` : ""}`;
}

function sessionItem(credential) {
  const item = h(
    "li",
    { class: "session-item", dataset: { id: credential.id, kind: credential.kind } },
    h("span", { class: "session-what", text: describe(credential) }),
    h("span", { class: "muted session-when" }, "last used ", timeEl(credential.last_used_at), ", since ", timeEl(credential.created_at)),
  );
  if (credential.current) {
    item.append(h("strong", { class: "session-current", text: "This device" }));
  } else {
    item.append(
      h("button", { type: "button", class: "link session-revoke", "aria-label": `Revoke ${describe(credential)}`, onclick: () => revoke(credential, item) }, "Revoke"),
    );
  }
  return item;
}

async function loadSessions() {
  const rows = await api("/api/me/sessions");
  ui.sessions.replaceChildren(...rows.map(sessionItem));
  ui.revokeOthers.disabled = rows.every((row) => row.current);
}

async function revoke(credential, item) {
  showError(ui.sessionsError, "");
  try {
    await api(`/api/me/sessions/${credential.id}`, { method: "DELETE" });
    item.remove();
    toast("Signed out.");
  } catch (failure) {
    showError(ui.sessionsError, failure.detail);
  }
}

async function revokeOthers() {
  showError(ui.sessionsError, "");
  ui.revokeOthers.disabled = true;
  try {
    const { revoked } = await api("/api/me/sessions/revoke-others", { method: "POST" });
    toast(revoked === 1 ? "Signed out 1 other session." : `Signed out ${revoked} other sessions and tokens.`);
  } catch (failure) {
    showError(ui.sessionsError, failure.detail);
  }
  await loadSessions();
}

async function changePassword(event) {
  event.preventDefault();
  const form = ui.passwordForm;
  showError(ui.passwordError, "");
  ui.passwordDone.hidden = true;
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    await api("/api/me/password", {
      method: "POST",
      json: { old_password: form.old_password.value, new_password: form.new_password.value },
    });
    form.reset();
    ui.passwordDone.hidden = false;
    await loadSessions();
  } catch (failure) {
    const fields = fieldErrors(failure);
    showError(ui.passwordError, Object.keys(fields).length ? Object.values(fields).join(" ") : failure.detail);
  } finally {
    button.disabled = false;
  }
}

async function startExport() {
  showError(ui.exportError, "");
  ui.exportLink.hidden = true;
  ui.exportButton.disabled = true;
  try {
    const { id } = await api("/api/me/export", { method: "POST" });
    ui.exportStatus.hidden = false;
    ui.exportStatus.textContent = "Preparing your data…";
    for (;;) {
      const { status, url } = await api(`/api/me/export/${id}`);
      if (status === "ready") {
        ui.exportStatus.textContent = "Your data is ready.";
        ui.exportLink.href = localPath(url);
        ui.exportLink.hidden = false;
        return;
      }
      if (status !== "pending" && status !== "running") {
        throw new Error(status === "failed" ? "The export failed; try again." : `The export is ${status}.`);
      }
      await new Promise((resolve) => setTimeout(resolve, EXPORT_POLL_MS));
    }
  } catch (failure) {
    ui.exportStatus.hidden = true;
    showError(ui.exportError, failure.detail || failure.message);
  } finally {
    ui.exportButton.disabled = false;
  }
}

function exportTaken() {
  // The download works once: afterwards the link would only find a 404.
  setTimeout(() => {
    ui.exportLink.hidden = true;
    ui.exportStatus.textContent = "Downloaded. Prepare a new one to download again.";
  }, 0);
}

async function deleteAccount(event) {
  event.preventDefault();
  showError(ui.deleteError, "");
  const password = ui.deleteForm.password.value;
  if (!password) {
    showError(ui.deleteError, "Enter your password to delete the account.");
    return;
  }
  if (!ui.deleteForm.sure.checked) {
    showError(ui.deleteError, "Tick the box to confirm: deleting cannot be undone.");
    return;
  }
  try {
    await api("/api/me", { method: "DELETE", json: { password } });
    leaveToLogin({ next: false });
  } catch (failure) {
    const fields = fieldErrors(failure);
    showError(ui.deleteError, fields.password || failure.detail);
  }
}

export async function init() {
  Object.assign(ui, {
    sessions: $("#session-list"),
    sessionsError: $("#sessions-error"),
    revokeOthers: $("#revoke-others"),
    passwordForm: $("#password-form"),
    passwordError: $("#password-error"),
    passwordDone: $("#password-done"),
    exportButton: $("#export-button"),
    exportStatus: $("#export-status"),
    exportLink: $("#export-link"),
    exportError: $("#export-error"),
    deleteForm: $("#delete-form"),
    deleteError: $("#delete-error"),
  });
  ui.revokeOthers.addEventListener("click", revokeOthers);
  ui.passwordForm.addEventListener("submit", changePassword);
  ui.exportButton.addEventListener("click", startExport);
  ui.exportLink.addEventListener("click", exportTaken);
  ui.deleteForm.addEventListener("submit", deleteAccount);
  await loadSessions();
}
