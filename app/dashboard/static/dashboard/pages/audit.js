// Audit: what every request did, newest first, with filters, paging and an
// export of the filtered log as JSONL or CSV (GET /team/audit/export).
import { call, download } from "../lib/api.js";
import { empty, field, h, notify, table, when } from "../lib/dom.js";

const OUTCOMES = ["", "forwarded", "denied", "timed_out", "refused", "error"];

function query(form, extra = {}) {
  const params = new URLSearchParams();
  for (const name of ["agent", "credential", "outcome"]) {
    const value = form.querySelector(`[name=${name}]`).value.trim();
    if (value) params.set(name, value);
  }
  for (const [key, value] of Object.entries(extra)) params.set(key, value);
  return params;
}

export async function render(section) {
  const form = h("form", { class: "card filters", novalidate: true, "aria-label": "Filters" },
    field("Agent", h("input", { name: "agent", autocomplete: "off" })),
    field("Credential", h("input", { name: "credential", autocomplete: "off" })),
    field("Outcome", h("select", { name: "outcome" }, OUTCOMES.map((o) => h("option", { value: o }, o || "any")))),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Apply filters")));
  const exports = h("div", { class: "actions" },
    h("button", { type: "button", class: "secondary", on: { click: () => exportAs("jsonl") } }, "Export JSONL"),
    h("button", { type: "button", class: "secondary", on: { click: () => exportAs("csv") } }, "Export CSV"));
  const rows = h("div");
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "Older entries");
  section.append(h("div", { class: "page-head" }, h("h1", { id: "page-title" }, "Audit"), exports), form, rows, more);
  let next = null;
  let shown = [];

  async function exportAs(format) {
    try {
      const blob = await download(`/team/audit/export?${query(form, { format })}`);
      const link = h("a", { href: URL.createObjectURL(blob), download: `tap-audit.${format}` });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 60000);
    } catch (error) {
      notify(`Export failed: ${error.message}`, "problem");
    }
  }

  function draw() {
    if (shown.length === 0) {
      rows.replaceChildren(empty("Nothing recorded yet (or nothing matches the filters). Every request an agent sends through TAP appears here."));
      return;
    }
    rows.replaceChildren(table("Audit log", ["Time", "Agent", "Request", "Outcome", "Upstream", "Approver", "Reason"], shown.map((e) => [
      when(e.timestamp), e.agent_id, h("code", {}, `${e.method} ${e.target_url || ""}`),
      h("span", { class: `outcome-${e.outcome}` }, e.outcome), e.upstream_status ?? "", e.approver_identity || "",
      e.policy_reason || e.error || "",
    ])));
  }

  async function load(reset) {
    const params = query(form, reset || !next ? {} : { before: next });
    const page = await call("GET", `/team/audit?${params}`);
    shown = reset ? page.entries : shown.concat(page.entries);
    next = page.next_before;
    more.hidden = !next;
    draw();
  }
  form.addEventListener("submit", (event) => { event.preventDefault(); next = null; load(true).catch((error) => notify(error.message, "problem")); });
  more.addEventListener("click", () => load(false).catch((error) => notify(error.message, "problem")));
  await load(true);
}
