// Roles: named bundles of credentials that agents are given.
import { call } from "../lib/api.js";
import { checked, checkboxes, clearErrors, confirmAction, empty, field, formError, h, notify, showErrors, table } from "../lib/dom.js";

function roleForm(role, credentials, onDone) {
  const editing = Boolean(role);
  const r = role || { name: "", description: "", credentials: [], rate_limit_per_hour: null };
  const form = h("form", { class: "card", novalidate: true, "aria-label": editing ? `Edit role ${r.name}` : "Create a role" },
    h("h2", {}, editing ? `Edit role ${r.name}` : "Create a role"),
    field("Role name", h("input", { name: "name", value: r.name, readOnly: editing, required: true, autocomplete: "off" }), "e.g. billing-readers."),
    field("Description", h("input", { name: "description", value: r.description })),
    checkboxes("Credentials", "credentials", credentials.map((c) => ({ value: c.name, checked: r.credentials.includes(c.name) }))),
    field("Rate limit per hour", h("input", { name: "rate_limit_per_hour", type: "number", min: "1", value: r.rate_limit_per_hour ?? "" }), "Empty: no limit."),
    formError(),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, editing ? "Save changes" : "Create role"),
      h("button", { type: "button", class: "secondary", on: { click: () => onDone(false) } }, "Cancel")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const data = new FormData(form);
    const limit = data.get("rate_limit_per_hour") ? Number(data.get("rate_limit_per_hour")) : null;
    const body = { description: data.get("description"), credentials: checked(form, "credentials"), rate_limit_per_hour: limit };
    try {
      if (editing) await call("PUT", `/team/roles/${r.name}`, body);
      else {
        if (limit === null) delete body.rate_limit_per_hour;
        await call("POST", "/team/roles", { name: data.get("name"), ...body });
      }
      notify(`Saved role ${editing ? r.name : data.get("name")}.`);
      onDone(true);
    } catch (error) {
      showErrors(form, error);
    }
  });
  return form;
}

export async function render(section) {
  const editor = h("div");
  const listing = h("div");
  const add = h("button", { type: "button", class: "primary" }, "Create a role");
  section.append(h("div", { class: "page-head" }, h("h1", { id: "page-title" }, "Roles"), add), editor, listing);
  const { credentials } = await call("GET", "/team/credentials");
  const done = async (changed) => { editor.replaceChildren(); if (changed) await load(); add.focus(); };
  const open = (role) => { editor.replaceChildren(roleForm(role, credentials, done)); editor.querySelector("input:not([readonly])").focus(); };
  add.addEventListener("click", () => open(null));
  async function load() {
    const { roles } = await call("GET", "/team/roles");
    if (roles.length === 0) {
      listing.replaceChildren(empty("No roles yet. A role bundles credentials so several agents can get them at once."));
      return;
    }
    listing.replaceChildren(table("Roles", ["Role", "Description", "Credentials", "Rate limit", ""], roles.map((role) => [
      h("strong", {}, role.name), role.description, role.credentials.join(", ") || "none",
      role.rate_limit_per_hour ? `${role.rate_limit_per_hour}/h` : "none",
      h("div", { class: "row-actions" },
        h("button", { type: "button", class: "secondary", "aria-label": `Edit role ${role.name}`, on: { click: () => open(role) } }, "Edit"),
        h("button", { type: "button", class: "danger", "aria-label": `Delete role ${role.name}`, on: { click: async () => {
          if (!(await confirmAction(`Delete role ${role.name}? Agents lose the credentials it granted.`))) return;
          await call("DELETE", `/team/roles/${role.name}`);
          notify(`Deleted role ${role.name}.`);
          await load();
        } } }, "Delete")),
    ])));
  }
  await load();
}
