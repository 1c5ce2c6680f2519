// Policies per credential: which requests run at once and which wait for a
// human, who may approve, with a passkey or a quorum; and a tester that asks
// TAP how it would judge a method and URL (the same code /forward runs).
import { call } from "../lib/api.js";
import { checked, checkboxes, clearErrors, confirmAction, empty, field, formError, h, lines, notify, showErrors } from "../lib/dom.js";

const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];
const CHANNELS = [["", "Team default"], ["dashboard", "Dashboard"], ["agent_reflected", "The agent shows the link"], ["telegram", "Telegram"], ["matrix", "Matrix"]];
const URL_HELP = "One pattern per line. /v1/charges matches that path and everything under it on any host; "
  + "api.example.com/v1 also needs that host; * is exactly one path segment. Query strings never take part.";
const OUTCOMES = { runs_at_once: "Runs at once", waits_for_human: "Waits for a human", refused: "Refused" };

function policyForm(credential, policy, members, onSaved) {
  const p = policy || { auto_approve_methods: ["GET"], require_approval_methods: [], auto_approve_urls: [], require_approval_urls: [], allowed_approvers: [], approval_channel: null, require_passkey: false, min_approvals: 1 };
  const channel = h("select", { name: "approval_channel" }, CHANNELS.map(([value, label]) => h("option", { value, selected: (p.approval_channel || "") === value }, label)));
  const form = h("form", { class: "card", novalidate: true, "aria-label": `Policy for ${credential}` },
    h("h2", {}, `Policy for ${credential}`),
    policy ? null : h("p", { class: "hint" }, "No policy yet: the team's default approval mode applies. Saving creates one."),
    checkboxes("Methods that run at once", "auto_approve_methods", METHODS.map((m) => ({ value: m, checked: p.auto_approve_methods.includes(m) })), "HEAD follows GET."),
    checkboxes("Methods that wait for a human", "require_approval_methods", METHODS.map((m) => ({ value: m, checked: p.require_approval_methods.includes(m) })), "Methods in neither list wait too."),
    field("URLs that run at once", h("textarea", { name: "auto_approve_urls", rows: "3" }, p.auto_approve_urls.join("\n")), URL_HELP),
    field("URLs that always wait for a human", h("textarea", { name: "require_approval_urls", rows: "3" }, p.require_approval_urls.join("\n")), "These beat every other rule. Same pattern syntax."),
    checkboxes("Who may approve", "allowed_approvers", members.map((m) => ({ value: m.email, checked: p.allowed_approvers.includes(m.email) })), "None ticked: every owner and admin, and approvers assigned to this credential."),
    field("Approvals needed", h("input", { name: "min_approvals", type: "number", min: "1", max: "100", value: String(p.min_approvals) }), "Distinct people who must approve."),
    h("div", { class: "field", "data-field": "require_passkey" }, h("label", { class: "check" },
      h("input", { type: "checkbox", name: "require_passkey", checked: p.require_passkey }), " Approving needs a passkey"), h("p", { class: "field-error", hidden: true })),
    field("Notification channel", channel),
    formError(),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Save policy"),
      policy ? h("button", { type: "button", class: "danger", on: { click: async () => {
        if (!(await confirmAction(`Remove the policy of ${credential}? The team's default approval mode applies again.`, "Remove policy"))) return;
        await call("DELETE", `/team/policies/${credential}`);
        await onSaved();
        notify(`Removed the policy of ${credential}.`);
      } } }, "Remove policy") : null));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const data = new FormData(form);
    const body = {
      auto_approve_methods: checked(form, "auto_approve_methods"),
      require_approval_methods: checked(form, "require_approval_methods"),
      auto_approve_urls: lines(data.get("auto_approve_urls")),
      require_approval_urls: lines(data.get("require_approval_urls")),
      allowed_approvers: checked(form, "allowed_approvers"),
      min_approvals: Number(data.get("min_approvals") || 1),
      require_passkey: data.get("require_passkey") !== null,
      approval_channel: data.get("approval_channel") || null,
    };
    try {
      await call("PUT", `/team/policies/${credential}`, body);
      // The notice comes once the page shows the saved policy, so it means "done".
      await onSaved();
      notify(`Saved the policy of ${credential}.`);
    } catch (error) {
      showErrors(form, error);
    }
  });
  return form;
}

function tester(credential) {
  const result = h("div", { class: "test-result", "aria-live": "polite" });
  const method = h("select", { name: "method" }, METHODS.map((m) => h("option", { value: m }, m)));
  const form = h("form", { class: "card", novalidate: true, "aria-label": "Policy tester" },
    h("h2", {}, "Try it"),
    h("p", { class: "hint" }, "Judged by the same code as /forward, with the saved policy. Nothing is sent."),
    field("Method", method),
    field("URL", h("input", { name: "target", type: "text", required: true, placeholder: "https://api.example.com/v1/items" }), "A full URL, or a path for credentials with an API base."),
    formError(),
    h("button", { type: "submit", class: "primary" }, "Test"), result);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const data = new FormData(form);
    try {
      const answer = await call("POST", `/team/policies/${credential}/test`, { method: data.get("method"), target: data.get("target") });
      result.replaceChildren(
        h("p", { class: `outcome ${answer.outcome}` }, OUTCOMES[answer.outcome]),
        h("p", {}, answer.rule, answer.matched ? h("span", {}, " Matched: ", h("code", {}, answer.matched)) : null),
        h("p", { class: "hint" }, `${answer.method} ${answer.target} · reason ${answer.reason}`
          + (answer.needs_approval ? ` · ${answer.min_approvals} approval(s)${answer.require_passkey ? " with a passkey" : ""}` : "")));
    } catch (error) {
      showErrors(form, error);
    }
  });
  return form;
}

export async function render(section, ctx) {
  section.append(h("h1", { id: "page-title" }, "Policies"));
  const [{ credentials }, { members }] = await Promise.all([call("GET", "/team/credentials"), call("GET", "/team/members")]);
  if (credentials.length === 0) {
    section.append(empty("Policies belong to credentials. Add a credential first.", h("a", { class: "button primary", href: "#/credentials" }, "Go to Credentials")));
    return;
  }
  const picker = h("select", { name: "credential" }, credentials.map((c) => h("option", { value: c.name }, c.name)));
  const initial = ctx.params.get("credential");
  if (initial && credentials.some((c) => c.name === initial)) picker.value = initial;
  const area = h("div", { class: "policy-area" });
  section.append(h("div", { class: "card" }, field("Credential", picker)), area);
  async function show() {
    const name = picker.value;
    let policy = null;
    try {
      policy = await call("GET", `/team/policies/${name}`);
    } catch (error) {
      if (error.status !== 404) throw error;
    }
    area.replaceChildren(policyForm(name, policy, members, show), tester(name));
  }
  picker.addEventListener("change", show);
  await show();
}
