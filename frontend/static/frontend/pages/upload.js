// New post: image preview, caption counter, client-side checks, the server's own errors.
import { api } from "../api.js";
import { $, showError } from "../util.js";

const MAX_BYTES = 10 * 1024 * 1024;
const CAPTION_MAX = 2200;

export function checkImage(file) {
  if (!file) return "Choose a photo to share.";
  if (!file.type || !file.type.startsWith("image/")) return "That file is not an image. Choose a JPEG, PNG, GIF or WebP photo.";
  if (file.size > MAX_BYTES) return `That image is ${(file.size / 1024 / 1024).toFixed(1)} MB; the limit is 10 MB.`;
  if (file.size === 0) return "That file is empty.";
  return "";
}

export async function init() {
  const form = $("#upload-form");
  const input = $("#upload-image");
  const caption = $("#upload-caption");
  const counter = $("#upload-caption-count");
  const preview = $("#upload-preview");
  const previewImage = $("#upload-preview-img");
  const error = $("#upload-error");
  const submit = $("#upload-submit");
  let previewUrl = null;

  const showPreview = (file) => {
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    previewUrl = null;
    preview.hidden = true;
    if (!file) return;
    previewUrl = URL.createObjectURL(file);
    previewImage.src = previewUrl;
    preview.hidden = false;
  };

  input.addEventListener("change", () => {
    const file = input.files[0];
    const problem = checkImage(file);
    showError(error, file ? problem : "");
    input.setAttribute("aria-invalid", problem && file ? "true" : "false");
    showPreview(problem ? null : file);
  });
  previewImage.addEventListener("error", () => {
    if (previewUrl) showError(error, "This file does not look like an image the browser can show; the server will check it too.");
  });
  caption.addEventListener("input", () => {
    counter.textContent = `${caption.value.length} / ${CAPTION_MAX}`;
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = input.files[0];
    const problem = checkImage(file) || (caption.value.length > CAPTION_MAX ? "The caption is too long." : "");
    if (problem) {
      showError(error, problem);
      (file ? caption : input).focus();
      return;
    }
    showError(error, "");
    const body = new FormData();
    body.append("image", file);
    body.append("caption", caption.value);
    submit.disabled = true;
    submit.textContent = "Sharing…";
    try {
      const post = await api("/api/posts", { method: "POST", form: body });
      window.location.assign(`/p/${post.id}`);
    } catch (failure) {
      const fields = Object.values(failure.fields || {}).flat();
      showError(error, fields.length > 1 ? fields.join(" ") : failure.detail);
      submit.disabled = false;
      submit.textContent = "Share";
    }
  });
}
