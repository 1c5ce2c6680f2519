// Settings: how the team treats credentials that have no policy.
import { call } from "../lib/api.js";
import { clearErrors, field, formError, h, notify, showErrors, when } from "../lib/dom.js";

const MODES = [
  ["gated", "Gated: reads (GET, HEAD) run, writes wait for a human"],
  ["autonomous", "Autonomous: everything runs at once"],
];

export async function render(section) {
  const team = await call("GET", "/team");
  const mode = h("select", { name: "default_approval_mode" }, MODES.map(([value, label]) => h("option", { value, selected: team.default_approval_mode === value }, label)));
  const form = h("form", { class: "card", novalidate: true, "aria-label": "Team settings" },
    h("h2", {}, "Approval mode"),
    field("Default for credentials without a policy", mode, "A credential's own policy always wins."),
    formError(), h("button", { type: "submit", class: "primary" }, "Save"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    try {
      await call("PUT", "/team/settings", { default_approval_mode: mode.value });
      notify(`The team is now ${mode.value}.`);
    } catch (error) {
      showErrors(form, error);
    }
  });
  section.append(h("h1", { id: "page-title" }, "Settings"),
    h("dl", { class: "card facts" }, h("dt", {}, "Team"), h("dd", {}, team.name), h("dt", {}, "Created"), h("dd", {}, when(team.created_at))),
    form);
}
