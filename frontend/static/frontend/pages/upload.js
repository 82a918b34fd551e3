// New post: image preview, caption counter, client-side checks, the server's own errors.
import { api } from "../api.js";
import { $, megabytes, pageLimit, showError } from "../util.js";

export const state = {
  imageMaxBytes: 0, // the server's limits, from <body data-image-max-bytes>
  captionMax: 0, // and data-caption-max
  imagesMax: 0, // and data-post-images-max
  previewUrl: null, // the object URL of the shown preview, revoked when replaced
};

/** What is wrong with the chosen photos ("" when nothing is). */
export function checkImages(files) {
  if (!files.length) return checkImage(null);
  if (files.length > state.imagesMax) return `Choose at most ${state.imagesMax} photos.`;
  for (const file of files) {
    const problem = checkImage(file);
    if (problem) return files.length > 1 ? `${file.name}: ${problem}` : problem;
  }
  return "";
}

const ui = {};

/** What is wrong with `file` as a photo to share ("" when nothing is). */
export function checkImage(file) {
  if (!file) return "Choose a photo to share.";
  if (!file.type || !file.type.startsWith("image/")) return "That file is not an image. Choose a JPEG, PNG, GIF or WebP photo.";
  if (file.size > state.imageMaxBytes) return `That image is ${(file.size / 1024 / 1024).toFixed(1)} MB; the limit is ${megabytes(state.imageMaxBytes)} MB.`;
  if (file.size === 0) return "That file is empty.";
  return "";
}

function renderPreview(files) {
  if (state.previewUrl) URL.revokeObjectURL(state.previewUrl);
  state.previewUrl = null;
  ui.preview.hidden = true;
  if (!files || !files.length) return;
  state.previewUrl = URL.createObjectURL(files[0]);
  ui.previewImage.src = state.previewUrl;
  $("#upload-preview-count").textContent = files.length > 1 ? `1 of ${files.length} photos` : "";
  ui.preview.hidden = false;
}

function renderCounter() {
  ui.counter.textContent = `${ui.caption.value.length} / ${state.captionMax}`;
}

function onImageChange() {
  const files = [...ui.input.files];
  const problem = checkImages(files);
  showError(ui.error, files.length ? problem : "");
  ui.input.setAttribute("aria-invalid", problem && files.length ? "true" : "false");
  renderPreview(problem ? null : files);
}

function onPreviewError() {
  if (state.previewUrl) showError(ui.error, "This file does not look like an image the browser can show; the server will check it too.");
}

async function onSubmit(event) {
  event.preventDefault();
  const { input, caption, error, submit } = ui;
  const files = [...input.files];
  const problem = checkImages(files) || (caption.value.length > state.captionMax ? "The caption is too long." : "");
  if (problem) {
    showError(error, problem);
    (files.length ? caption : input).focus();
    return;
  }
  showError(error, "");
  const body = new FormData();
  for (const file of files) body.append("image", file);
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
}

export async function init() {
  state.imageMaxBytes = pageLimit("imageMaxBytes");
  state.captionMax = pageLimit("captionMax");
  state.imagesMax = pageLimit("postImagesMax");
  Object.assign(ui, {
    form: $("#upload-form"),
    input: $("#upload-image"),
    caption: $("#upload-caption"),
    counter: $("#upload-caption-count"),
    preview: $("#upload-preview"),
    previewImage: $("#upload-preview-img"),
    error: $("#upload-error"),
    submit: $("#upload-submit"),
  });
  ui.input.addEventListener("change", onImageChange);
  ui.previewImage.addEventListener("error", onPreviewError);
  ui.caption.addEventListener("input", renderCounter);
  ui.form.addEventListener("submit", onSubmit);
}
