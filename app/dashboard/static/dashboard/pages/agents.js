// Agents (API keys): create one and show its key once, with the instructions
// to hand the agent; enable, disable, rotate, delete; change its roles,
// direct credentials and rate limit (PUT /team/agents/{id}).
import { call } from "../lib/api.js";
import { checked, checkboxes, clearErrors, confirmAction, copyButton, empty, field, formError, h, notify, showErrors, table } from "../lib/dom.js";

function keyPanel(result, onClose) {
  const origin = location.origin;
  const setup = `TAP_URL=${origin}\nTAP_API_KEY=${result.api_key}`;
  const close = h("button", { type: "button", class: "primary", on: { click: onClose } }, "I stored the key");
  const panel = h("div", { class: "card key-once", role: "region", "aria-label": `Key for ${result.id}` },
    h("h2", {}, `The key for ${result.id}`),
    h("p", { class: "warning" }, "Copy it now: TAP keeps only a hash and cannot show it again."),
    h("p", { class: "secret-line" }, h("code", { class: "api-key" }, result.api_key), " ", copyButton(result.api_key, "Copy key")),
    h("h3", {}, "Give the agent these settings"),
    h("pre", {}, setup), copyButton(setup, "Copy settings"),
    h("p", {}, "The agent reads how to call TAP at ", h("a", { href: "/instructions" }, `${origin}/instructions`),
      ": it sends X-TAP-Key, X-TAP-Credential, X-TAP-Target and X-TAP-Method to POST /forward."),
    h("div", { class: "actions" }, close));
  return panel;
}

function agentForm({ agent, credentials, roles, manager, onDone }) {
  const editing = Boolean(agent);
  const current = agent || { id: "", description: "", roles: [], credentials: [], rate_limit_per_hour: null };
  const limit = h("input", { name: "rate_limit_per_hour", type: "number", min: "1", inputmode: "numeric", value: current.rate_limit_per_hour ?? "" });
  const form = h("form", { class: "card", novalidate: true, "aria-label": editing ? `Edit ${current.id}` : "Create an agent" },
    h("h2", {}, editing ? `Edit ${current.id}` : "Create an agent"),
    field("Agent name", h("input", { name: "id", value: current.id, readOnly: editing, required: true, autocomplete: "off" }), "How the audit log names it, e.g. support-bot."),
    field("Description", h("input", { name: "description", value: current.description })),
    checkboxes("Credentials it may use", "credentials", credentials.map((c) => ({ value: c.name, checked: current.credentials.includes(c.name) })),
      manager ? "Direct grants; roles add more." : "Only credentials assigned to you."),
    manager ? checkboxes("Roles", "roles", roles.map((r) => ({ value: r.name, checked: current.roles.includes(r.name) }))) : null,
    field("Rate limit per hour", limit, "Empty: no limit of its own."),
    formError(),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, editing ? "Save changes" : "Create agent"),
      h("button", { type: "button", class: "secondary", on: { click: () => onDone(null) } }, "Cancel")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const data = new FormData(form);
    const body = {
      description: data.get("description"),
      credentials: checked(form, "credentials"),
      rate_limit_per_hour: data.get("rate_limit_per_hour") ? Number(data.get("rate_limit_per_hour")) : null,
    };
    if (manager) body.roles = checked(form, "roles");
    try {
      if (editing) {
        await call("PUT", `/team/agents/${current.id}`, body);
        notify(`Saved ${current.id}.`);
        onDone(null);
      } else {
        body.id = data.get("id");
        if (body.rate_limit_per_hour === null) delete body.rate_limit_per_hour;
        onDone(await call("POST", "/team/agents", body));
      }
    } catch (error) {
      showErrors(form, error);
    }
  });
  return form;
}

export async function render(section, ctx) {
  const manager = ctx.can("manage_agents");
  const editor = h("div", { class: "editor" });
  const listing = h("div");
  const addButton = h("button", { type: "button", class: "primary" }, "Create an agent");
  section.append(h("div", { class: "page-head" }, h("h1", { id: "page-title" }, "Agents"), addButton), editor, listing);
  const [{ credentials }, roles] = await Promise.all([
    call("GET", "/team/credentials"),
    manager ? call("GET", "/team/roles").then((r) => r.roles) : Promise.resolve([]),
  ]);

  function showKey(result) {
    editor.replaceChildren(keyPanel(result, () => { editor.replaceChildren(); addButton.focus(); }));
    editor.querySelector("button").focus();
  }
  async function done(result) {
    if (result && result.api_key) showKey(result); else editor.replaceChildren();
    await load();
  }
  function open(agent) {
    editor.replaceChildren(agentForm({ agent, credentials, roles, manager, onDone: done }));
    editor.querySelector("input:not([readonly])").focus();
  }
  addButton.addEventListener("click", () => open(null));

  async function act(agent, action) {
    try {
      await perform(agent, action);
    } catch (error) {
      notify(`Not done: ${error.message}`, "problem");
    }
  }

  async function perform(agent, action) {
    if (action === "rotate-key" && !(await confirmAction(`Rotate the key of ${agent.id}? The old key stops working at once.`, "Rotate key"))) return;
    if (action === "delete") {
      if (!(await confirmAction(`Delete ${agent.id}? Its key stops working at once.`))) return;
      await call("DELETE", `/team/agents/${agent.id}`);
      notify(`Deleted ${agent.id}.`);
    } else {
      const result = await call("POST", `/team/agents/${agent.id}/${action}`);
      if (result.api_key) showKey(result);
      else notify(`${agent.id} is ${result.enabled ? "enabled" : "disabled"}.`);
    }
    await load();
  }

  async function load() {
    const { agents } = await call("GET", "/team/agents");
    if (agents.length === 0) {
      listing.replaceChildren(empty(credentials.length
        ? "No agents yet. Create one to get the key it sends as X-TAP-Key."
        : "No agents yet. Add a credential first, then create an agent that may use it."));
      return;
    }
    listing.replaceChildren(table("Agents", ["Agent", "State", "Credentials", "Roles", "Rate limit", ""], agents.map((agent) => [
      h("strong", {}, agent.id), agent.enabled ? "enabled" : "disabled",
      agent.effective_credentials.join(", ") || "none", agent.roles.join(", ") || "none",
      agent.rate_limit_per_hour ? `${agent.rate_limit_per_hour}/h` : "none",
      h("div", { class: "row-actions" },
        h("button", { type: "button", class: "secondary", "aria-label": `Edit ${agent.id}`, on: { click: () => open(agent) } }, "Edit"),
        h("button", { type: "button", class: "secondary", "aria-label": `${agent.enabled ? "Disable" : "Enable"} ${agent.id}`, on: { click: () => act(agent, agent.enabled ? "disable" : "enable") } }, agent.enabled ? "Disable" : "Enable"),
        h("button", { type: "button", class: "secondary", "aria-label": `Rotate the key of ${agent.id}`, on: { click: () => act(agent, "rotate-key") } }, "Rotate key"),
        h("button", { type: "button", class: "danger", "aria-label": `Delete ${agent.id}`, on: { click: () => act(agent, "delete") } }, "Delete")),
    ])));
  }
  await load();
}
