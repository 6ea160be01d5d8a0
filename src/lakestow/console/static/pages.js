/* lakestow console: the credentials and admin pages, and the page start-up. */
"use strict";

function credentialsPage() {
  const form = document.getElementById("credentials-form");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const scope = form.elements.scope.value.trim();
    const body = {
      scopes: scope ? [scope] : [],
      read_only: form.elements.read_only.checked,
      duration: form.elements.duration.value,
    };
    try {
      const data = await api("POST", "/api/credentials", body);
      const c = data.credentials;
      document.getElementById("c-key").textContent = c.AccessKeyId;
      document.getElementById("c-secret").textContent = c.SecretAccessKey;
      document.getElementById("c-token").textContent = c.SessionToken;
      document.getElementById("c-expiration").textContent = c.Expiration;
      document.getElementById("s-profile").textContent = data.snippets.aws_credentials;
      document.getElementById("s-cp").textContent = data.snippets.aws_cp;
      document.getElementById("s-env").textContent = data.snippets.env;
      document.getElementById("credentials-result").hidden = false;
    } catch (err) { toast("Refused: " + err.message); }
  });
  document.addEventListener("click", (event) => {
    const button = event.target.closest("button.copy-snippet");
    if (button) copyText(button, document.getElementById(button.dataset.target).textContent);
  });
}

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text;
  row.append(td);
  return td;
}

async function loadMembers() {
  const data = await api("GET", "/api/admin/members");
  const body = document.querySelector("#members tbody");
  body.replaceChildren();
  for (const m of data.members) {
    const row = document.createElement("tr");
    row.dataset.name = m.name;
    cell(row, String(m.id));
    cell(row, m.name);
    cell(row, m.admin ? "admin" : "member");
    cell(row, m.disabled ? "disabled" : "active");
    const actions = cell(row, "");
    for (const [action, label] of [[m.disabled ? "enable" : "disable", m.disabled ? "Enable" : "Disable"], ["reset_password", "Reset password"]]) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = label;
      button.dataset.action = action;
      actions.append(button, " ");
    }
    body.append(row);
  }
}

async function loadUsage() {
  const data = await api("GET", "/api/admin/usage");
  const body = document.querySelector("#usage tbody");
  body.replaceChildren();
  for (const f of data.folders) {
    const row = document.createElement("tr");
    cell(row, "/" + f.folder);
    cell(row, String(f.objects));
    cell(row, String(f.bytes));
    body.append(row);
  }
}

function showResult(data) {
  const box = document.getElementById("admin-result");
  box.textContent = data.password
    ? "Password for " + data.member.name + " (shown once): " + data.password
    : data.member.name + " is now " + (data.member.disabled ? "disabled" : "active");
  box.hidden = false;
}

function adminPage() {
  const form = document.getElementById("add-member");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      showResult(await api("POST", "/api/admin/members", { action: "add", name: form.elements.name.value, admin: form.elements.admin.checked }));
      form.reset();
      await loadMembers();
    } catch (err) { toast("Refused: " + err.message); }
  });
  document.querySelector("#members").addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const name = button.closest("tr").dataset.name;
    const sure = await ask({ title: button.textContent + " " + name + "?", ok: button.textContent });
    if (!sure) return;
    try {
      showResult(await api("POST", "/api/admin/members", { action: button.dataset.action, name }));
      await loadMembers();
    } catch (err) { toast("Refused: " + err.message); }
  });
  loadMembers().catch((err) => toast(err.message));
  loadUsage().catch((err) => toast(err.message));
}

document.addEventListener("DOMContentLoaded", () => {
  const page = document.body.dataset.page;
  if (page === "browse") browsePage();
  else if (page === "credentials") credentialsPage();
  else if (page === "admin") adminPage();
});
