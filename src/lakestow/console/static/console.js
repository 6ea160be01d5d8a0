/* lakestow console: actions through the JSON API. Plain JavaScript, no build step.
   Names are only ever set with textContent, never as HTML. */
"use strict";

const PART_PARALLEL = 4;
const FILE_PARALLEL = 3;
const SMALL_FILE = 8 * 1024 * 1024;
const RETRIES = 3;

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

function toast(message) {
  const box = document.getElementById("toast");
  box.textContent = message;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, 4000);
}

async function api(method, url, body) {
  const options = { method, headers: { "X-CSRF-Token": csrfToken() }, credentials: "same-origin" };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(url, options);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(data.message || response.statusText);
    error.code = data.error;
    error.status = response.status;
    throw error;
  }
  return data;
}

function q(param) { return encodeURIComponent(param); }

/* Copy S3 path */
async function copyText(button, text) {
  try {
    await navigator.clipboard.writeText(text);
    const label = button.textContent;
    button.textContent = "Copied";
    toast("Copied " + text);
    setTimeout(() => { button.textContent = label; }, 2000);
  } catch (err) {
    toast("Could not copy: " + err.message);
  }
}

/* The /spark-logs/ warning: confirm before any change there. */
function confirmChange(what) {
  const warning = document.body.dataset.warning;
  if (!warning) return true;
  return window.confirm(warning + "\n\n" + what + " anyway?");
}

function browsePage() {
  const folder = document.body.dataset.folder;
  document.addEventListener("click", (event) => {
    const button = event.target.closest("button");
    if (!button) return;
    const row = button.closest("tr.entry");
    if (button.classList.contains("copy")) copyText(button, button.dataset.s3);
    else if (button.id === "new-folder") newFolder(folder);
    else if (row && button.classList.contains("delete")) deleteEntry(row);
    else if (row && button.classList.contains("rename")) renameEntry(row);
    else if (row && button.classList.contains("preview")) preview(row);
  });
  const files = document.getElementById("pick-files");
  const dir = document.getElementById("pick-folder");
  if (files) files.addEventListener("change", () => uploadPicked(files, folder));
  if (dir) dir.addEventListener("change", () => uploadPicked(dir, folder));
  const drop = document.getElementById("drop");
  if (drop) setUpDrop(drop, folder);
}

async function newFolder(folder) {
  const name = window.prompt("Name of the new folder in /" + folder);
  if (!name || !confirmChange("Create a folder")) return;
  try {
    await api("POST", "/api/folder", { path: folder + name.replace(/^\/+|\/+$/g, "") + "/" });
    location.reload();
  } catch (err) { toast("New folder refused: " + err.message); }
}

async function deleteEntry(row) {
  const path = row.dataset.path;
  const what = row.dataset.kind === "folder" ? "the folder /" + path + " and everything in it" : "/" + path;
  if (!window.confirm("Delete " + what + "?") || !confirmChange("Delete")) return;
  try {
    await api("POST", "/api/delete", { paths: [path] });
    row.remove();
    toast("Deleted /" + path);
  } catch (err) { toast("Delete refused: " + err.message); }
}

async function renameEntry(row) {
  const src = row.dataset.path;
  let dst = window.prompt("New path for /" + src, src);
  if (!dst || dst === src || !confirmChange("Move")) return;
  dst = dst.replace(/^\/+/, "");
  if (row.dataset.kind === "folder" && !dst.endsWith("/")) dst += "/";
  try {
    await api("POST", "/api/move", { src, dst });
    location.reload();
  } catch (err) { toast("Move refused: " + err.message); }
}

async function preview(row) {
  const dialog = document.getElementById("preview-dialog");
  const out = document.getElementById("preview-text");
  try {
    const data = await api("GET", "/api/preview?path=" + q(row.dataset.path));
    if (data.kind === "parquet") {
      const schema = data.schema.map((f) => f.name + ": " + f.type).join("\n");
      const rows = data.rows.map((r) => JSON.stringify(r)).join("\n");
      out.textContent = schema + "\n\n" + data.num_rows + " rows; the first:\n" + rows;
    } else {
      out.textContent = data.text + (data.truncated ? "\n…" : "");
    }
    dialog.showModal();
  } catch (err) { toast("Preview refused: " + err.message); }
}

/* Drag and drop of files and folders, keeping the structure. */
function setUpDrop(drop, folder) {
  const stop = (event) => { event.preventDefault(); event.stopPropagation(); };
  ["dragenter", "dragover"].forEach((name) => drop.addEventListener(name, (e) => { stop(e); drop.classList.add("over"); }));
  drop.addEventListener("dragleave", (e) => { stop(e); drop.classList.remove("over"); });
  drop.addEventListener("drop", async (event) => {
    stop(event);
    drop.classList.remove("over");
    const found = [];
    for (const item of [...event.dataTransfer.items]) {
      const entry = item.kind === "file" && item.webkitGetAsEntry ? item.webkitGetAsEntry() : null;
      if (entry) await collect(entry, "", found);
      else if (item.kind === "file") found.push({ file: item.getAsFile(), relative: item.getAsFile().name });
    }
    startUploads(found, folder);
  });
}

async function collect(entry, base, found) {
  if (entry.isFile) {
    const file = await new Promise((ok, fail) => entry.file(ok, fail));
    found.push({ file, relative: base + file.name });
  } else if (entry.isDirectory) {
    const reader = entry.createReader();
    for (;;) {
      const batch = await new Promise((ok, fail) => reader.readEntries(ok, fail));
      if (!batch.length) break;
      for (const child of batch) await collect(child, base + entry.name + "/", found);
    }
  }
}

function uploadPicked(input, folder) {
  const picked = [...input.files].map((file) => ({ file, relative: file.webkitRelativePath || file.name }));
  input.value = "";
  startUploads(picked, folder);
}
