// Credentials: add (the value field is hidden and write-only), edit metadata,
// replace the value, delete. Only the hint TAP keeps is ever shown. A
// ?prefill_credential= link from an agent opens the add form filled in with
// metadata; nothing in the link can set a value.
import { call } from "../lib/api.js";
import { clearErrors, confirmAction, empty, field, formError, h, lines, notify, showErrors, table, when } from "../lib/dom.js";

// What a prefill link may set. Anything else in it (a value, a token) is ignored.
const PREFILL_FIELDS = ["name", "description", "api_base", "relative_target", "auth_header_format", "auth_bindings", "allowed_hosts"];
const JSON_KINDS = ["oauth2", "oauth1", "basic", "custom"];

export function decodePrefill(blob) {
  try {
    const b64 = blob.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((blob.length + 3) % 4);
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const data = JSON.parse(new TextDecoder().decode(bytes));
    if (typeof data !== "object" || data === null || Array.isArray(data)) return null;
    return Object.fromEntries(PREFILL_FIELDS.filter((key) => key in data).map((key) => [key, data[key]]));
  } catch {
    return null;
  }
}

function kindOf(cred) {
  if (JSON_KINDS.includes(cred.auth_type)) return "json";
  if (cred.auth_bindings && cred.auth_bindings.length) return "api-key";
  if (!cred.auth_header_format || /^Bearer \{value\}$/.test(cred.auth_header_format)) return "bearer";
  return "api-key";
}

function credentialForm({ initial = {}, editing = false, onDone }) {
  const binding = (initial.auth_bindings && initial.auth_bindings[0]) || null;
  const kind = h("select", { name: "kind" },
    h("option", { value: "bearer" }, "Bearer token (Authorization: Bearer …)"),
    h("option", { value: "api-key" }, "API key in a header"),
    h("option", { value: "json" }, "JSON value (OAuth and other kinds)"));
  kind.value = kindOf(initial);
  const header = h("input", { name: "header", value: binding ? binding.header : (initial.auth_header_format && !/^Bearer /.test(initial.auth_header_format) ? "Authorization" : "X-API-Key") });
  const format = h("input", { name: "format", value: binding ? binding.format : (initial.auth_header_format && !/^Bearer /.test(initial.auth_header_format) ? initial.auth_header_format : "{value}") });
  const authType = h("select", { name: "auth_type" }, JSON_KINDS.map((k) => h("option", { value: k }, k)));
  const value = h("input", { name: "value", type: "password", autocomplete: "off", spellcheck: "false" });
  const jsonValue = h("textarea", { name: "json_value", rows: "4", autocomplete: "off", spellcheck: "false" });
  const apiKeyFields = h("div", {}, field("Header name", header), field("Header value format", format, "{value} stands for the secret, e.g. token {value}."));
  const valueField = field("Secret value", value, editing ? "Set it under Replace value." : "Write-only: TAP stores it encrypted and shows only a hint.");
  const jsonFields = h("div", {}, field("Kind", authType), field("Value (JSON object)", jsonValue, "Write-only, e.g. {\"client_id\": \"…\", \"client_secret\": \"…\"}."));
  const show = () => {
    apiKeyFields.hidden = kind.value !== "api-key";
    jsonFields.hidden = kind.value !== "json" || editing;
    valueField.hidden = kind.value === "json" || editing;
  };
  kind.addEventListener("change", show);
  const name = h("input", { name: "name", value: initial.name || "", required: true, readOnly: editing, autocomplete: "off" });
  const hosts = h("textarea", { name: "allowed_hosts", rows: "2" }, (initial.allowed_hosts || []).join("\n"));
  const submit = h("button", { type: "submit", class: "primary" }, editing ? "Save changes" : "Add credential");
  const cancel = h("button", { type: "button", class: "secondary", on: { click: () => onDone(false) } }, "Cancel");
  const form = h("form", { class: "card", novalidate: true, "aria-label": editing ? `Edit ${initial.name}` : "Add a credential" },
    h("h2", {}, editing ? `Edit ${initial.name}` : "Add a credential"),
    field("Name", name, "Agents use it in X-TAP-Credential: 1–64 lowercase letters, digits or hyphens."),
    field("Description", h("input", { name: "description", value: initial.description || "" })),
    field("Kind", kind),
    apiKeyFields,
    field("Allowed hosts", hosts, "One per line, e.g. api.github.com. TAP sends the secret nowhere else."),
    field("API base (optional)", h("input", { name: "api_base", value: initial.api_base || "", placeholder: "https://api.example.com" })),
    valueField, jsonFields,
    formError(),
    h("div", { class: "actions" }, submit, cancel));
  show();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const data = new FormData(form);
    const body = {
      description: data.get("description"),
      allowed_hosts: lines(data.get("allowed_hosts")),
      api_base: data.get("api_base") || null,
    };
    if (kind.value === "bearer") { body.auth_header_format = "Bearer {value}"; body.auth_bindings = []; }
    if (kind.value === "api-key") {
      if (data.get("header").toLowerCase() === "authorization") { body.auth_header_format = data.get("format"); body.auth_bindings = []; }
      else { body.auth_bindings = [{ header: data.get("header"), format: data.get("format") }]; }
    }
    try {
      if (editing) {
        if (kind.value === "json") { delete body.auth_header_format; delete body.auth_bindings; }
        await call("PATCH", `/team/credentials/${initial.name}`, body);
        notify(`Saved ${initial.name}.`);
      } else {
        body.name = data.get("name");
        if (kind.value === "json") {
          body.auth_type = data.get("auth_type");
          try { body.value = JSON.parse(data.get("json_value") || "{}"); } catch {
            return showErrors(form, { problems: [{ field: "json_value", problem: "This is not valid JSON." }] });
          }
        } else if (data.get("value")) {
          body.value = data.get("value");
        }
        const created = await call("POST", "/team/credentials", body);
        notify(`Added ${created.name}${created.value_hint ? ` (value ${created.value_hint})` : ""}.`);
      }
      onDone(true);
    } catch (error) {
      showErrors(form, error);
    }
  });
  return form;
}

function replaceValueForm(cred, onDone) {
  const json = cred.auth_type && JSON_KINDS.includes(cred.auth_type);
  const control = json
    ? h("textarea", { name: "value", rows: "4", autocomplete: "off", spellcheck: "false" })
    : h("input", { name: "value", type: "password", autocomplete: "off", required: true });
  const form = h("form", { class: "card", novalidate: true, "aria-label": `Replace the value of ${cred.name}` },
    h("h2", {}, `Replace the value of ${cred.name}`),
    field(json ? "New value (JSON object)" : "New value", control, `The current value ends ${cred.value_hint || "(none set)"}; it is replaced at once.`),
    formError(),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Replace value"),
      h("button", { type: "button", class: "secondary", on: { click: () => onDone(false) } }, "Cancel")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    let value = control.value;
    if (json) {
      try { value = JSON.parse(value); } catch { return showErrors(form, { problems: [{ field: "value", problem: "This is not valid JSON." }] }); }
    }
    try {
      const result = await call("PATCH", `/team/credentials/${cred.name}/secret`, { value });
      notify(`Replaced the value of ${cred.name}${result.value_hint ? ` (now ${result.value_hint})` : ""}.`);
      onDone(true);
    } catch (error) {
      showErrors(form, error);
    }
  });
  return form;
}

export async function render(section, ctx) {
  const manage = ctx.can("manage_credentials");
  const editor = h("div", { class: "editor" });
  const listing = h("div");
  const addButton = h("button", { type: "button", class: "primary" }, "Add a credential");
  section.append(h("div", { class: "page-head" }, h("h1", { id: "page-title" }, "Credentials"), manage ? addButton : null), editor, listing);

  function open(form) {
    editor.replaceChildren(form);
    form.querySelector("input:not([readonly]), select, textarea")?.focus();
  }
  const done = async (changed) => {
    editor.replaceChildren();
    if (changed) await load();
    addButton.focus();
  };
  addButton.addEventListener("click", () => open(credentialForm({ onDone: done })));

  async function load() {
    const { credentials } = await call("GET", "/team/credentials");
    if (credentials.length === 0) {
      listing.replaceChildren(manage
        ? empty("No credentials yet. Add the first one: its name, where it may be sent, and its secret value.")
        : empty("No credentials are assigned to you yet. Ask an owner or admin to assign one."));
      return;
    }
    listing.replaceChildren(table("Credentials", ["Name", "Description", "Hosts", "Value", "Updated", ""], credentials.map((cred) => [
      h("strong", {}, cred.name), cred.description, cred.allowed_hosts.join(", "),
      cred.has_value ? h("code", {}, cred.value_hint || "set") : "none", when(cred.updated_at),
      manage ? h("div", { class: "row-actions" },
        h("button", { type: "button", class: "secondary", "aria-label": `Edit ${cred.name}`, on: { click: () => open(credentialForm({ initial: cred, editing: true, onDone: done })) } }, "Edit"),
        h("button", { type: "button", class: "secondary", "aria-label": `Replace the value of ${cred.name}`, on: { click: () => open(replaceValueForm(cred, done)) } }, "Replace value"),
        h("button", { type: "button", class: "danger", "aria-label": `Delete ${cred.name}`, on: { click: async () => {
          if (!(await confirmAction(`Delete ${cred.name}? Agents using it stop working at once.`))) return;
          await call("DELETE", `/team/credentials/${cred.name}`);
          notify(`Deleted ${cred.name}.`);
          await load();
        } } }, "Delete")) : "",
    ])));
  }
  await load();
  const blob = ctx.handoff("prefill_credential");
  if (blob && manage) {
    const initial = decodePrefill(blob);
    if (initial) {
      // NOTE: the agent chose these hosts; the person adding the secret must recognise them.
      notify("An agent filled this in. Check that the allowed hosts and API base belong to the real service before you add the secret.", "problem");
      open(credentialForm({ initial, onDone: done }));
    } else {
      notify("The credential link could not be read.", "problem");
    }
  }
}
