/* lakestow console: uploads. Small files in one PUT; large ones in parts, several at once,
   with retries, cancel, and resume after a reload (the upload id is kept in localStorage). */
"use strict";

const uploadState = { total: 0, done: 0, running: 0, queue: [], failed: 0, cancelled: 0 };

async function startUploads(items, folder) {
  if (!items.length || !(await confirmChange("Upload"))) return;
  document.getElementById("uploads").hidden = false;
  for (const item of items) {
    const job = makeJob(item, folder);
    uploadState.total += item.file.size;
    uploadState.queue.push(job);
  }
  pump();
}

function makeJob(item, folder) {
  const li = document.createElement("li");
  const label = document.createElement("span");
  label.className = "file-name";
  label.textContent = item.relative;
  const bar = document.createElement("progress");
  bar.max = Math.max(item.file.size, 1);
  bar.value = 0;
  const status = document.createElement("span");
  status.className = "file-status";
  status.textContent = "waiting";
  const cancel = document.createElement("button");
  cancel.type = "button";
  cancel.textContent = "Cancel";
  li.append(label, " ", bar, " ", status, " ", cancel);
  document.getElementById("upload-list").append(li);
  const job = { file: item.file, path: folder + item.relative, li, bar, status, loaded: {}, xhrs: new Set(), cancelled: false, cancelButton: cancel };
  cancel.addEventListener("click", () => cancelJob(job));
  li.dataset.path = job.path;
  return job;
}

function pump() {
  while (uploadState.running < FILE_PARALLEL && uploadState.queue.length) {
    const job = uploadState.queue.shift();
    uploadState.running += 1;
    runJob(job).finally(() => {
      uploadState.running -= 1;
      pump();
      if (!uploadState.running && !uploadState.queue.length) finished();
    });
  }
}

function finished() {
  const text = document.getElementById("overall-text");
  const { failed, cancelled } = uploadState;
  const notes = [failed && failed + " failed", cancelled && cancelled + " cancelled"].filter(Boolean);
  text.textContent = notes.length ? notes.join(", ") : "all uploaded";
  document.getElementById("uploads").dataset.state = failed ? "failed" : "done";
  // A clean finish shows the new files; otherwise the list stays, so what failed or was
  // cancelled can be read.
  if (!notes.length) setTimeout(() => location.reload(), 800);
}

function progress(job) {
  const sent = Object.values(job.loaded).reduce((a, b) => a + b, 0);
  job.bar.value = sent;
  const before = job.counted || 0;
  job.counted = sent;
  uploadState.done += sent - before;
  const overall = document.getElementById("overall");
  overall.max = Math.max(uploadState.total, 1);
  overall.value = uploadState.done;
  document.getElementById("overall-text").textContent =
    Math.floor((100 * uploadState.done) / Math.max(uploadState.total, 1)) + "%";
}

async function runJob(job) {
  try {
    job.status.textContent = "uploading";
    if (job.file.size < SMALL_FILE) await sendSmall(job);
    else await sendParts(job);
    job.status.textContent = "done";
    job.li.dataset.state = "done";
  } catch (err) {
    if (job.cancelled) uploadState.cancelled += 1;
    else uploadState.failed += 1;
    job.status.textContent = job.cancelled ? "cancelled" : "failed: " + err.message;
    job.li.dataset.state = job.cancelled ? "cancelled" : "failed";
  } finally {
    job.cancelButton.remove();  // nothing left to cancel
  }
}

function send(job, method, url, body, key) {
  return new Promise((resolve, reject) => {
    if (job.cancelled) { reject(new Error("cancelled")); return; }
    const xhr = new XMLHttpRequest();
    job.xhrs.add(xhr);
    xhr.open(method, url);
    xhr.setRequestHeader("X-CSRF-Token", csrfToken());
    xhr.upload.onprogress = (e) => { job.loaded[key] = e.loaded; progress(job); };
    xhr.onload = () => {
      job.xhrs.delete(xhr);
      let data = {};
      try { data = JSON.parse(xhr.responseText); } catch (_) { data = {}; }
      if (xhr.status >= 200 && xhr.status < 300) resolve(data);
      else reject(Object.assign(new Error(data.message || "HTTP " + xhr.status), { status: xhr.status }));
    };
    xhr.onerror = () => { job.xhrs.delete(xhr); reject(new Error("network error")); };
    xhr.onabort = () => { job.xhrs.delete(xhr); reject(new Error("cancelled")); };
    xhr.send(body);
  });
}

async function sendSmall(job) {
  await send(job, "PUT", "/api/object?path=" + q(job.path), job.file, "all");
  job.loaded.all = job.file.size;
  progress(job);
}

function resumeKey(job) {
  return "lakestow-upload:" + job.path + "|" + job.file.size + "|" + job.file.lastModified;
}

async function openUpload(job) {
  const saved = JSON.parse(localStorage.getItem(resumeKey(job)) || "null");
  if (saved) {
    try {
      const listed = await api("GET", "/api/uploads/" + q(saved.upload_id) + "?path=" + q(job.path));
      return { ...saved, stored: listed.parts };
    } catch (err) {
      localStorage.removeItem(resumeKey(job));
    }
  }
  const made = await api("POST", "/api/uploads", { path: job.path, size: job.file.size, content_type: job.file.type || null });
  localStorage.setItem(resumeKey(job), JSON.stringify(made));
  return { ...made, stored: [] };
}

async function sendParts(job) {
  const upload = await openUpload(job);
  job.upload = upload;
  const size = upload.part_size;
  const count = Math.ceil(job.file.size / size);
  const expected = (n) => Math.min(size, job.file.size - (n - 1) * size);
  const have = new Set(upload.stored.filter((p) => p.size === expected(p.part_number)).map((p) => p.part_number));
  const missing = [];
  for (let n = 1; n <= count; n += 1) {
    if (have.has(n)) job.loaded[n] = expected(n);
    else missing.push(n);
  }
  progress(job);
  if (have.size) job.status.textContent = "resuming: " + have.size + " of " + count + " parts already stored";
  const base = "/api/uploads/" + q(upload.upload_id);
  const worker = async () => {
    while (missing.length) {
      const n = missing.shift();
      const blob = job.file.slice((n - 1) * size, (n - 1) * size + expected(n));
      await sendPart(job, base + "/parts/" + n + "?path=" + q(job.path), blob, n);
    }
  };
  await Promise.all(Array.from({ length: PART_PARALLEL }, worker));
  await api("POST", base + "/complete", { path: job.path });
  localStorage.removeItem(resumeKey(job));
}

async function sendPart(job, url, blob, n) {
  for (let attempt = 1; ; attempt += 1) {
    try {
      await send(job, "PUT", url, blob, n);
      job.loaded[n] = blob.size;
      progress(job);
      return;
    } catch (err) {
      job.loaded[n] = 0;
      if (job.cancelled || attempt >= RETRIES || (err.status && err.status < 500)) throw err;
      job.status.textContent = "retrying part " + n;
      await new Promise((ok) => setTimeout(ok, 500 * attempt));
    }
  }
}

async function cancelJob(job) {
  job.cancelled = true;
  for (const xhr of job.xhrs) xhr.abort();
  const index = uploadState.queue.indexOf(job);
  if (index >= 0) {  // not started: it will never run, so it is counted here
    uploadState.queue.splice(index, 1);
    uploadState.cancelled += 1;
    job.status.textContent = "cancelled";
    job.li.dataset.state = "cancelled";
    job.cancelButton.remove();
    if (!uploadState.running && !uploadState.queue.length) finished();
  }
  if (job.upload) {
    localStorage.removeItem(resumeKey(job));
    await api("DELETE", "/api/uploads/" + q(job.upload.upload_id) + "?path=" + q(job.path)).catch(() => {});
  }
}
