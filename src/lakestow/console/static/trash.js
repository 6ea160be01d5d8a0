/* lakestow console: the trash. "Show deleted" lists a folder's deleted files and folders beside
   the live ones; a file's versions panel downloads and restores any version; "Restore folder
   as of…" brings a folder back as it was at a time, after showing what would change.
   Plain JavaScript, no build step. Names are only ever set with textContent, never as HTML. */
"use strict";

function humanSize(size) {
  if (size === null || size === undefined) return "";
  let value = size;
  for (const unit of ["B", "KiB", "MiB", "GiB", "TiB"]) {
    if (value < 1024 || unit === "TiB") return unit === "B" ? value + " B" : value.toFixed(1) + " " + unit;
    value /= 1024;
  }
  return String(size);
}

function shownTime(iso) { return iso ? iso.slice(0, 19).replace("T", " ") : ""; }

function element(tag, text, attributes) {
  const made = document.createElement(tag);
  if (text) made.textContent = text;
  for (const [name, value] of Object.entries(attributes || {})) made.setAttribute(name, value);
  return made;
}

function button(label, className, attributes) {
  return element("button", label, { type: "button", class: className, ...(attributes || {}) });
}

function row(cells, attributes) {
  const tr = element("tr", "", attributes);
  for (const cell of cells) {
    const td = element("td");
    if (cell.className) td.className = cell.className;
    td.append(...cell.content.map((c) => (typeof c === "string" ? document.createTextNode(c) : c)));
    tr.append(td);
  }
  return tr;
}

/* Show deleted */

function deletedRow(entry) {
  const isFolder = entry.kind === "folder";
  const name = isFolder
    ? element("a", entry.name + "/", { href: "/browse/" + encodeURIComponent(entry.path).replace(/%2F/g, "/") + "?deleted=1" })
    : element("span", entry.name);
  const actions = [];
  if (isFolder && entry.may_write) {
    actions.push(button("Restore…", "restore-folder", { "aria-haspopup": "dialog", "aria-label": "Restore " + entry.name + "/ as of a time" }));
  }
  if (!isFolder && entry.may_write) actions.push(button("Restore", "restore-file", { "aria-label": "Restore " + entry.name }));
  if (!isFolder) actions.push(" ", button("Versions", "versions", { "aria-haspopup": "dialog", "aria-label": "Versions of " + entry.name }));
  const attributes = { class: "trash", "data-path": entry.path, "data-kind": entry.kind, "data-name": entry.name };
  if (entry.version_id) attributes["data-version-id"] = entry.version_id;
  return row(
    [
      { className: "name", content: [name] },
      { className: "size", content: [humanSize(entry.size)] },
      { className: "modified", content: [entry.deleted_at ? "deleted " + shownTime(entry.deleted_at) : ""] },
      { content: [element("span", "deleted", { class: "badge badge-deleted" })] },
      { className: "actions", content: actions },
    ],
    attributes,
  );
}

function noteRow(text) {
  return row([{ className: "empty", content: [text] }], { class: "trash-note" });
}

async function loadDeleted(folder, cursor) {
  const rows = document.getElementById("trash-rows");
  const paging = document.getElementById("trash-paging");
  const filter = new URLSearchParams(location.search).get("filter") || "";
  const url = "/api/deleted?path=" + q(folder) + "&filter=" + q(filter) + (cursor ? "&cursor=" + q(cursor) : "");
  try {
    const data = await api("GET", url);
    rows.querySelectorAll("tr.trash-note").forEach((r) => r.remove());
    for (const entry of data.entries) rows.append(deletedRow(entry));
    if (!rows.querySelector("tr.trash")) {
      const note = !data.versioning ? "This warehouse does not keep deleted files."
        : data.cursor ? "Nothing deleted among the names looked through so far: More deleted looks further."
        : "Nothing deleted here.";
      rows.append(noteRow(note));
    }
    paging.hidden = !data.cursor;
    document.getElementById("more-deleted").dataset.cursor = data.cursor || "";
  } catch (err) { toast("Could not list deleted files: " + err.message); }
}

function showDeleted(folder, on) {
  const rows = document.getElementById("trash-rows");
  const params = new URLSearchParams(location.search);
  if (on) params.set("deleted", "1"); else params.delete("deleted");
  history.replaceState(null, "", location.pathname + (params.toString() ? "?" + params : ""));
  rows.hidden = !on;
  if (!on) { document.getElementById("trash-paging").hidden = true; return; }
  rows.querySelectorAll("tr.trash, tr.trash-note").forEach((r) => r.remove());
  loadDeleted(folder, "");
}

async function restoreDeleted(tr) {
  if (!(await confirmChange("Restore"))) return;
  try {
    await api("POST", "/api/restore", { path: tr.dataset.path, version_id: tr.dataset.versionId });
    toast("Restored /" + tr.dataset.path);
    location.reload();
  } catch (err) { toast("Restore refused: " + err.message); }
}

/* The versions panel */

const versions = { path: "", changed: false };

function versionRow(version, mayRestore) {
  const actions = [];
  if (!version.delete_marker) {
    const href = "/api/download?path=" + q(versions.path) + "&version_id=" + q(version.version_id);
    actions.push(element("a", "Download", { href, download: "", class: "button" }));
  }
  if (mayRestore && !version.latest && !version.delete_marker) {
    actions.push(" ", button("Restore", "restore-version", { "data-version-id": version.version_id, "aria-label": "Restore the version of " + shownTime(version.modified) }));
  }
  const state = version.delete_marker ? (version.latest ? "deleted" : "delete marker") : version.latest ? "current" : "";
  return row(
    [
      { content: [shownTime(version.modified)] },
      { className: "size", content: [humanSize(version.size)] },
      { content: [element("code", version.version_id)] },
      { content: [state] },
      { className: "actions", content: actions },
    ],
    { class: "version", "data-version-id": version.version_id, "data-latest": version.latest ? "yes" : "no" },
  );
}

async function loadVersions(cursor) {
  const body = document.querySelector("#versions-table tbody");
  const more = document.getElementById("more-versions");
  const status = document.getElementById("versions-status");
  if (!cursor) body.replaceChildren();
  const data = await api("GET", "/api/versions?path=" + q(versions.path) + (cursor ? "&cursor=" + q(cursor) : ""));
  for (const version of data.versions) body.append(versionRow(version, data.may_restore));
  status.textContent = body.children.length ? "" : "No versions: this file was never written.";
  more.hidden = !data.cursor;
  more.dataset.cursor = data.cursor || "";
}

async function openVersions(path) {
  const dialog = document.getElementById("versions-dialog");
  versions.path = path;
  document.getElementById("versions-name").textContent = "/" + path;
  document.getElementById("versions-status").textContent = "";
  try {
    await loadVersions("");
    if (!dialog.open) dialog.showModal();
  } catch (err) { toast("Versions refused: " + err.message); }
}

async function restoreVersion(versionId) {
  if (!(await confirmChange("Restore"))) return;
  const status = document.getElementById("versions-status");
  try {
    const data = await api("POST", "/api/restore", { path: versions.path, version_id: versionId });
    versions.changed = true;
    await loadVersions("");
    status.textContent = "Restored: the version " + versionId + " is the current one again (as the new version " + data.version_id + ").";
  } catch (err) { status.textContent = "Restore refused: " + err.message; }
}

function setUpVersions() {
  const dialog = document.getElementById("versions-dialog");
  dialog.addEventListener("click", (event) => {
    const target = event.target.closest("button");
    if (target && target.classList.contains("restore-version")) restoreVersion(target.dataset.versionId);
    else if (target && target.id === "more-versions") loadVersions(target.dataset.cursor).catch((err) => toast(err.message));
  });
  dialog.addEventListener("close", () => { if (versions.changed) location.reload(); });
}

/* Restore folder as of… */

const restoring = { path: "", asOf: "", done: false };

function localInputValue(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()) +
    "T" + pad(date.getHours()) + ":" + pad(date.getMinutes()) + ":" + pad(date.getSeconds());
}

function openRestore(path) {
  const dialog = document.getElementById("restore-dialog");
  restoring.path = path;
  restoring.done = false;
  document.getElementById("restore-name").textContent = "/" + path;
  document.getElementById("restore-zone").textContent = "your time, " + Intl.DateTimeFormat().resolvedOptions().timeZone;
  document.getElementById("restore-as-of").value = localInputValue(new Date());
  document.getElementById("restore-summary").textContent = "";
  document.getElementById("restore-confirm").hidden = true;
  dialog.showModal();
  document.getElementById("restore-as-of").focus();
}

async function checkRestore(event) {
  event.preventDefault();
  const summary = document.getElementById("restore-summary");
  const confirmButton = document.getElementById("restore-confirm");
  confirmButton.hidden = true;
  const moment = new Date(document.getElementById("restore-as-of").value);
  if (Number.isNaN(moment.getTime())) { summary.textContent = "Give a date and a time."; return; }
  restoring.asOf = moment.toISOString();
  summary.textContent = "Checking…";
  try {
    const data = await api("POST", "/api/restore-folder", { path: restoring.path, as_of: restoring.asOf, dry_run: true });
    const when = moment.toLocaleString();
    if (!data.to_restore) {
      summary.textContent = "Nothing to restore: every file below /" + restoring.path + " is as it was at " + when + " (" + data.unchanged + " unchanged), or was made since.";
      return;
    }
    const files = data.to_restore === 1 ? "1 file" : data.to_restore + " files";
    summary.textContent = files + " below /" + restoring.path + " differ from how they were at " + when + " and will be restored; " + data.unchanged + " are unchanged. Restore them?";
    confirmButton.textContent = "Restore " + files;
    confirmButton.hidden = false;
    confirmButton.focus();
  } catch (err) { summary.textContent = "Refused: " + err.message; }
}

async function confirmRestore() {
  const summary = document.getElementById("restore-summary");
  const confirmButton = document.getElementById("restore-confirm");
  if (!(await confirmChange("Restore"))) return;
  confirmButton.disabled = true;
  summary.textContent = "Restoring…";
  try {
    const data = await api("POST", "/api/restore-folder", { path: restoring.path, as_of: restoring.asOf });
    restoring.done = true;
    const failed = data.failed ? "; " + data.failed + " could not be: " + data.failures.map((f) => "/" + f.path + " (" + f.message + ")").join(", ") : "";
    summary.textContent = "Restored " + data.restored + (data.restored === 1 ? " file" : " files") + failed + ".";
    confirmButton.hidden = true;
    document.getElementById("restore-close").focus();
  } catch (err) { summary.textContent = "Restore refused: " + err.message; }
  confirmButton.disabled = false;
}

function setUpRestore() {
  const dialog = document.getElementById("restore-dialog");
  document.getElementById("restore-form").addEventListener("submit", checkRestore);
  document.getElementById("restore-as-of").addEventListener("input", () => { document.getElementById("restore-confirm").hidden = true; });
  document.getElementById("restore-confirm").addEventListener("click", confirmRestore);
  document.getElementById("restore-close").addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => { if (restoring.done) location.reload(); });
}

function trashPage() {
  const folder = document.body.dataset.folder;
  const toggle = document.getElementById("show-deleted");
  setUpVersions();
  setUpRestore();
  document.addEventListener("click", (event) => {
    const target = event.target.closest("button");
    if (!target || target.closest("dialog")) return;
    const tr = target.closest("tr[data-path]");
    if (tr && target.classList.contains("versions")) openVersions(tr.dataset.path);
    else if (tr && target.classList.contains("restore-file")) restoreDeleted(tr);
    else if (tr && target.classList.contains("restore-folder")) openRestore(tr.dataset.path);
    else if (target.id === "restore-folder") openRestore(folder);
    else if (target.id === "more-deleted") loadDeleted(folder, target.dataset.cursor);
  });
  if (!toggle) return;
  toggle.addEventListener("change", () => showDeleted(folder, toggle.checked));
  if (new URLSearchParams(location.search).get("deleted") === "1") {
    toggle.checked = true;
    showDeleted(folder, true);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  if (document.body.dataset.page === "browse") trashPage();
});
