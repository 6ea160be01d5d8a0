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

/* A question in the page's own dialog (never the browser's prompt or confirm): resolves to
   the text typed (with `label`), true (without), or null when cancelled. */
function ask({ title, message = "", label = "", value = "", ok = "OK", danger = false }) {
  const dialog = document.getElementById("ask-dialog");
  const input = document.getElementById("ask-input");
  const okButton = document.getElementById("ask-ok");
  document.getElementById("ask-title").textContent = title;
  document.getElementById("ask-message").textContent = message;
  const labelled = document.getElementById("ask-label");
  labelled.textContent = label;
  labelled.hidden = input.hidden = !label;
  input.required = Boolean(label);
  input.value = value;
  okButton.textContent = ok;
  okButton.classList.toggle("danger", danger);
  return new Promise((resolve) => {
    const done = (answer) => {
      dialog.oncancel = null;
      if (dialog.open) dialog.close();
      resolve(answer);
    };
    document.getElementById("ask-form").onsubmit = (event) => {
      event.preventDefault();
      done(label ? input.value.trim() || null : true);
    };
    document.getElementById("ask-cancel").onclick = () => done(null);
    // Escape: "cancel" comes at once ("close" would come later, maybe into the next question)
    dialog.oncancel = (event) => { event.preventDefault(); done(null); };
    dialog.showModal();
    (label ? input : okButton).focus();
    if (label) input.select();
  });
}

/* The /spark-logs/ warning: confirm before any change there. */
async function confirmChange(what) {
  const warning = document.body.dataset.warning;
  if (!warning) return true;
  return (await ask({ title: what + " here?", message: warning, ok: what + " anyway" })) === true;
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
    else if (row && button.classList.contains("share")) shareDialog(row);
  });
  setUpShare();
  setUpSelection(folder);
  setUpFind();
  setUpRowMenus();
  setUpRowKeys();
  const files = document.getElementById("pick-files");
  const dir = document.getElementById("pick-folder");
  if (files) files.addEventListener("change", () => uploadPicked(files, folder));
  if (dir) dir.addEventListener("change", () => uploadPicked(dir, folder));
  const drop = document.getElementById("drop");
  if (drop) setUpDrop(drop, folder);
}

async function newFolder(folder) {
  const name = await ask({ title: "New folder", message: "In /" + folder, label: "Name", ok: "Create" });
  if (!name || !(await confirmChange("Create a folder"))) return;
  try {
    await api("POST", "/api/folder", { path: folder + name.replace(/^\/+|\/+$/g, "") + "/" });
    location.reload();
  } catch (err) { toast("New folder refused: " + err.message); }
}

async function deleteEntry(row) {
  const path = row.dataset.path;
  const what = row.dataset.kind === "folder" ? "the folder /" + path + " and everything in it" : "/" + path;
  const sure = await ask({ title: "Delete?", message: "Delete " + what + "?", ok: "Delete", danger: true });
  if (!sure || !(await confirmChange("Delete"))) return;
  try {
    await api("POST", "/api/delete", { paths: [path] });
    removeRows([row]);
    toast("Deleted /" + path);
  } catch (err) { toast("Delete refused: " + err.message); }
}

/* Rows gone: the focus, if it was in one of them, goes to the row after (or before). */
function removeRows(rows) {
  const gone = new Set(rows);
  const shown = [...document.querySelectorAll("tr.entry:not([hidden])")];
  const focused = rows.some((row) => row.contains(document.activeElement));
  const at = Math.max(0, ...rows.map((row) => shown.indexOf(row)));
  const next = shown.slice(at).find((row) => !gone.has(row)) || shown.slice(0, at).reverse().find((row) => !gone.has(row));
  rows.forEach((row) => row.remove());
  document.dispatchEvent(new Event("rows-changed"));
  if (next) {
    focusRow(next, focused);
  }
}

/* One row at a time is in the tab order (tabindex 0), the one last focused: Tab comes into
   the listing there and leaves it at once; the arrows move between rows. */
function focusRow(row, focus = true) {
  for (const other of document.querySelectorAll("tr.entry")) other.tabIndex = other === row ? 0 : -1;
  if (focus) row.focus();
}

/* Keyboard use of the listing: ↑ ↓ (Home, End) move between the rows shown, Enter opens a
   folder or previews a file, Space selects, Delete deletes after asking (the selection,
   when the row is in a selection of several). From the search field, ↓ goes to the rows. */
function setUpRowKeys() {
  const shown = () => [...document.querySelectorAll("tr.entry:not([hidden])")];
  document.addEventListener("focusin", (event) => {
    const row = event.target.closest && event.target.closest("tr.entry");
    if (row) focusRow(row, false);
  });
  document.addEventListener("keydown", (event) => {
    if (event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return;
    const rows = shown();
    if (event.target.id === "find" && event.key === "ArrowDown" && rows.length) {
      event.preventDefault();
      focusRow(rows[0]);
      return;
    }
    const row = event.target.closest && event.target.closest("tr.entry");
    if (!row || event.target.closest(".menu") || event.target.classList.contains("menu-button")) return;
    const at = rows.indexOf(row);
    const moves = { ArrowDown: at + 1, ArrowUp: at - 1, Home: 0, End: rows.length - 1 };
    if (event.key in moves) {
      event.preventDefault();
      const to = rows[Math.min(Math.max(moves[event.key], 0), rows.length - 1)];
      if (to) focusRow(to);
      return;
    }
    if (event.target !== row) return;  // Enter, Space and Delete on a row's own controls: theirs
    if (event.key === "Enter") {
      event.preventDefault();
      if (row.dataset.kind === "folder") location.href = row.querySelector("td.name a").href;
      else preview(row);
    } else if (event.key === " ") {
      event.preventDefault();
      const box = row.querySelector("input.pick");
      box.checked = !box.checked;
      box.dispatchEvent(new Event("change", { bubbles: true }));
    } else if (event.key === "Delete") {
      event.preventDefault();
      const several = picked();
      if (several.length > 1 && several.includes(row) && document.getElementById("sel-delete")) document.getElementById("sel-delete").click();
      else if (row.querySelector("button.delete")) deleteEntry(row);
      else toast("You may not delete /" + row.dataset.path);
    }
  });
}

/* The per-row menu (the ARIA menu button): ⋯ opens it with the focus on its first item;
   ↑ ↓ Home End move, Escape or Tab closes it and the focus returns to ⋯, as it does when an
   item is chosen (a dialog an item opens gives the focus back there too); a click elsewhere
   closes it. */
function setUpRowMenus() {
  let open = null;
  const itemsOf = (menu) => [...menu.querySelectorAll('[role="menuitem"]')];
  const close = (focusButton) => {
    if (!open) return;
    const { button, menu } = open;
    open = null;
    menu.hidden = true;
    button.setAttribute("aria-expanded", "false");
    if (focusButton) button.focus();
  };
  const show = (button, last = false) => {
    close(false);
    const menu = document.getElementById(button.getAttribute("aria-controls"));
    menu.hidden = false;
    button.setAttribute("aria-expanded", "true");
    open = { button, menu };
    const items = itemsOf(menu);
    items[last ? items.length - 1 : 0].focus();
  };
  // capture: the menu closes (the focus back on ⋯) before an item's own action runs
  document.addEventListener("click", (event) => {
    const button = event.target.closest("button.menu-button");
    if (button) {
      if (open && open.button === button) close(true);
      else show(button);
      return;
    }
    if (!open) return;
    const item = event.target.closest('[role="menuitem"]');
    close(Boolean(item && open.menu.contains(item)));
  }, true);
  document.addEventListener("keydown", (event) => {
    const button = event.target.closest && event.target.closest("button.menu-button");
    if (button && (event.key === "ArrowDown" || event.key === "ArrowUp")) {
      event.preventDefault();
      show(button, event.key === "ArrowUp");
      return;
    }
    if (!open || !open.menu.contains(event.target)) return;
    const items = itemsOf(open.menu);
    const at = items.indexOf(event.target);
    const moves = { ArrowDown: (at + 1) % items.length, ArrowUp: (at - 1 + items.length) % items.length, Home: 0, End: items.length - 1 };
    if (event.key in moves) {
      event.preventDefault();
      items[moves[event.key]].focus();
    } else if (event.key === "Escape" || event.key === "Tab") {
      event.preventDefault();
      close(true);
    } else if (event.key === " " && event.target.tagName === "A") {
      event.preventDefault();
      event.target.click();
    }
  });
}

async function renameEntry(row) {
  const src = row.dataset.path;
  let dst = await ask({ title: "Rename or move", message: "/" + src, label: "New path", value: src, ok: "Move" });
  if (!dst || dst === src || !(await confirmChange("Move"))) return;
  dst = dst.replace(/^\/+/, "");
  if (row.dataset.kind === "folder" && !dst.endsWith("/")) dst += "/";
  try {
    await api("POST", "/api/move", { src, dst });
    location.reload();
  } catch (err) { toast("Move refused: " + err.message); }
}

/* One field: typing filters the rows on the page (by name, any case); Enter submits the form,
   which searches every name below the folder (the server's search). */
function setUpFind() {
  const find = document.getElementById("find");
  if (!find || new URLSearchParams(location.search).has("q")) return;
  find.addEventListener("input", () => {
    const wanted = find.value.trim().toLowerCase();
    for (const row of document.querySelectorAll("tr.entry")) {
      row.hidden = wanted !== "" && !row.dataset.name.toLowerCase().includes(wanted);
    }
    find.dispatchEvent(new Event("change", { bubbles: true }));  // the selection counts shown rows
  });
}

/* The selection: row checkboxes, select-all, and one toolbar acting on the rows picked. */
function picked() {
  return [...document.querySelectorAll("tr.entry:not([hidden]) input.pick:checked")].map((box) => box.closest("tr.entry"));
}

function setUpSelection(folder) {
  const bar = document.getElementById("selection-bar");
  const all = document.getElementById("select-all");
  if (!bar || !all) return;
  const boxes = () => [...document.querySelectorAll("tr.entry:not([hidden]) input.pick")];  // (not rows filtered out)
  const update = () => {
    const rows = picked();
    bar.hidden = rows.length === 0;
    document.getElementById("selection-count").textContent = rows.length + " selected";
    all.checked = rows.length > 0 && rows.length === boxes().length;
    all.indeterminate = rows.length > 0 && rows.length < boxes().length;
  };
  document.addEventListener("change", (event) => {
    if (event.target === all) boxes().forEach((box) => { box.checked = all.checked; });
    if (event.target === all || event.target.classList.contains("pick") || event.target.id === "find") update();
  });
  document.addEventListener("rows-changed", update);
  /* Download as zip: the page's form, posted, so the browser streams the zip to a file.
     Each name is relative to this folder (a search result's may hold "/"); a folder's ends
     in "/". The server decides each one by the policy, as it does the folder zip. */
  document.getElementById("sel-zip").addEventListener("click", () => {
    const form = document.getElementById("zip-form");
    form.querySelectorAll('input[name="name"]').forEach((input) => input.remove());
    for (const row of picked()) {
      let name = row.dataset.path.startsWith(folder) ? row.dataset.path.slice(folder.length) : row.dataset.name;
      if (row.dataset.kind === "folder" && !name.endsWith("/")) name += "/";
      const input = document.createElement("input");
      input.type = "hidden";
      input.name = "name";
      input.value = name;
      form.append(input);
    }
    form.submit();
  });
  document.getElementById("sel-clear").addEventListener("click", () => {
    boxes().forEach((box) => { box.checked = false; });
    update();
  });
  document.getElementById("sel-copy").addEventListener("click", (event) =>
    copyText(event.target, picked().map((row) => row.querySelector("input.pick").dataset.s3).join("\n")));
  const move = document.getElementById("sel-move");
  if (move) move.addEventListener("click", async () => {
    const rows = picked();
    let target = await ask({ title: "Move " + rows.length + " selected", message: "Into the folder", label: "Folder", value: folder, ok: "Move" });
    if (!target || !(await confirmChange("Move"))) return;
    target = target.replace(/^\/+/, "");
    if (!target.endsWith("/")) target += "/";
    try {
      for (const row of rows) {
        const dst = target + row.dataset.name + (row.dataset.kind === "folder" ? "/" : "");
        await api("POST", "/api/move", { src: row.dataset.path, dst });
      }
      location.reload();
    } catch (err) { toast("Move refused: " + err.message); }
  });
  const remove = document.getElementById("sel-delete");
  if (remove) remove.addEventListener("click", async () => {
    const rows = picked();
    const sure = await ask({ title: "Delete?", message: "Delete the " + rows.length + " selected (folders with everything in them)?", ok: "Delete " + rows.length, danger: true });
    if (!sure || !(await confirmChange("Delete"))) return;
    try {
      await api("POST", "/api/delete", { paths: rows.map((row) => row.dataset.path) });
      removeRows(rows);
      toast("Deleted " + rows.length);
    } catch (err) { toast("Delete refused: " + err.message); }
  });
}

/* Share links: a presigned GET URL of one file, made on request, with its expiry shown. */
function shareDialog(row) {
  const dialog = document.getElementById("share-dialog");
  dialog.dataset.path = row.dataset.path;
  document.getElementById("share-name").textContent = row.dataset.name;
  document.getElementById("share-result").hidden = true;
  document.getElementById("share-copy").hidden = true;
  dialog.showModal();
}

function setUpShare() {
  const dialog = document.getElementById("share-dialog");
  if (!dialog) return;
  document.getElementById("share-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const expiresIn = document.getElementById("share-expiry").value;
    try {
      const link = await api("POST", "/api/share", { path: dialog.dataset.path, expires_in: expiresIn });
      document.getElementById("share-url").value = link.url;
      document.getElementById("share-expires").textContent = "Expires " + new Date(link.expires).toLocaleString();
      document.getElementById("share-result").hidden = false;
      document.getElementById("share-copy").hidden = false;
      document.getElementById("share-url").select();
    } catch (err) { toast("Share link refused: " + err.message); }
  });
  document.getElementById("share-copy").addEventListener("click", (event) =>
    copyText(event.target, document.getElementById("share-url").value));
  document.getElementById("share-close").addEventListener("click", () => dialog.close());
}

async function preview(row) {
  const dialog = document.getElementById("preview-dialog");
  const out = document.getElementById("preview-body");
  try {
    const data = await api("GET", "/api/preview?path=" + q(row.dataset.path));
    document.getElementById("preview-title").textContent = row.dataset.name;
    out.replaceChildren(...previewOf(data, row.dataset.name));
    dialog.showModal();
  } catch (err) { toast("Preview refused: " + err.message); }
}

/* The preview's elements: every text goes in as text (textContent), never as HTML. */
function previewOf(data, name) {
  const el = (tag, text, cls) => {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  };
  const notes = [];
  if (data.note) notes.push(el("p", data.note, "note"));
  if (data.kind === "table") {
    const table = el("table", null, "preview-table");
    const head = table.createTHead().insertRow();
    for (const column of data.columns) {
      const th = el("th", column.name);
      if (column.type) th.append(el("small", column.type, "type"));
      head.append(th);
    }
    const body = table.createTBody();
    for (const values of data.rows) {
      const tr = body.insertRow();
      values.forEach((value) => tr.append(el("td", value === null ? "" : value, typeof value === "number" ? "num" : "")));
    }
    const shown = data.rows.length + " row" + (data.rows.length === 1 ? "" : "s");
    const total = data.num_rows !== undefined ? " of " + data.num_rows.toLocaleString() : (data.truncated ? ", the first" : "");
    const scroll = el("div", null, "scroll");
    scroll.append(table);
    return [...notes, el("p", shown + total, "rows"), scroll];
  }
  if (data.kind === "image") {
    const img = el("img", null, "preview-image");
    img.src = data.url;
    img.alt = name;
    return [img];
  }
  if (data.kind === "binary") {
    return [el("p", "No preview: " + data.note + " (" + data.size.toLocaleString() + " bytes, " + data.content_type + ").", "note")];
  }
  const lines = el("ol", null, "preview-lines");
  const text = data.text.endsWith("\n") ? data.text.slice(0, -1) : data.text;
  for (const line of text.split("\n")) lines.append(el("li", line));
  if (data.truncated) notes.push(el("p", "The first " + data.text.length.toLocaleString() + " characters of " + data.size.toLocaleString() + " bytes.", "note"));
  return [...notes, lines];
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
