// The approvals inbox: pending requests the member may decide, kept live by
// polling GET /team/approvals. A request that needs a passkey is decided on
// the approve page (/approve/txn/{id}), which signs a digest of exactly it.
import { ApiError, call } from "../lib/api.js";
import { empty, h, notify, timeLeft, when } from "../lib/dom.js";

const POLL_MS = 2000;

function card(item, onVote, me) {
  const time = h("span", { class: "time-left", "data-expires": item.expires_at }, timeLeft(item.expires_at));
  const votes = `${item.approvals} of ${item.min_approvals} approval${item.min_approvals === 1 ? "" : "s"}`;
  const actions = h("div", { class: "actions" });
  const voted = item.approved_by.includes(me.email);
  if (voted) {
    actions.append(h("p", { class: "hint" }, "You approved; waiting for the others."));
  } else if (item.require_passkey) {
    actions.append(h("a", { class: "button primary", href: `/approve/txn/${item.txn_id}` }, "Approve with passkey"));
  } else {
    actions.append(h("button", { type: "button", class: "primary", on: { click: () => onVote(item, "approve") } }, "Approve"));
  }
  actions.append(h("button", { type: "button", class: "danger", on: { click: () => onVote(item, "deny") } }, "Deny"));
  const body = item.body_size
    ? h("details", {}, h("summary", {}, `Body (${item.body_size} bytes${item.body_encoding === "base64" ? ", base64" : ""})`),
      h("pre", { class: "body" }, item.body_preview || ""))
    : null;
  const headers = item.headers.length
    ? h("details", {}, h("summary", {}, `Headers (${item.headers.length})`),
      h("pre", {}, item.headers.map(([name, value]) => `${name}: ${value}`).join("\n")))
    : null;
  return h("article", { class: "card approval", "data-txn": item.txn_id, "aria-label": `${item.method} ${item.target_url}` },
    h("p", { class: "action" }, h("code", {}, `${item.method} ${item.target_url}`)),
    h("dl", { class: "facts" },
      h("dt", {}, "Credential"), h("dd", {}, item.credential_name),
      h("dt", {}, "Agent"), h("dd", {}, item.agent_id),
      h("dt", {}, "Votes"), h("dd", { class: "votes" }, votes + (item.require_passkey ? " · passkey required" : "")
        + (item.approved_by.length ? ` · approved by ${item.approved_by.join(", ")}` : "")),
      h("dt", {}, "Asked"), h("dd", {}, when(item.created_at)),
      h("dt", {}, "Expires"), h("dd", {}, time)),
    item.warnings.length ? h("ul", { class: "warnings" }, item.warnings.map((w) => h("li", {}, w.message))) : null,
    headers, body, actions);
}

export async function render(section, ctx) {
  const list = h("div", { class: "inbox", "aria-live": "polite" });
  const status = h("p", { class: "hint" }, "Updates by itself every few seconds.");
  section.append(h("h1", { id: "page-title" }, "Approvals"), status, list);
  let timer = null;
  let stopped = false;
  const shown = new Map();

  async function vote(item, decision) {
    try {
      const result = await call("POST", `/team/approvals/${item.txn_id}/${decision}`);
      notify(result.status === "pending"
        ? `Your approval counted (${result.approvals} of ${result.needed}).`
        : `${decision === "approve" ? "Approved" : "Denied"}: ${item.method} ${item.target_url}`);
    } catch (error) {
      notify(error instanceof ApiError && (error.status === 409 || error.status === 404)
        ? "That request was already decided or expired." : `Not decided: ${error.message}`, "problem");
    }
    await refresh();
  }

  async function refresh() {
    let items;
    try {
      items = (await call("GET", "/team/approvals")).approvals;
    } catch (error) {
      status.textContent = `Could not refresh: ${error.message}. Retrying…`;
      return;
    }
    status.textContent = "Updates by itself every few seconds.";
    const ids = new Set(items.map((item) => item.txn_id));
    for (const [id, node] of shown) {
      if (!ids.has(id)) { node.remove(); shown.delete(id); }
    }
    items.forEach((item, index) => {
      const key = item.approved_by.join(",");
      let node = shown.get(item.txn_id);
      if (!node || node.dataset.key !== key) {
        const fresh = card(item, vote, ctx.me);
        fresh.dataset.key = key;
        if (node) node.replaceWith(fresh); else list.insertBefore(fresh, list.children[index] || null);
        shown.set(item.txn_id, fresh);
        node = fresh;
      }
    });
    for (const span of list.querySelectorAll(".time-left")) span.textContent = timeLeft(span.dataset.expires);
    const placeholder = list.querySelector(".empty");
    if (items.length === 0 && !placeholder) {
      list.append(empty("No requests are waiting. When an agent's request needs a human, it shows up here within seconds."));
    } else if (items.length && placeholder) {
      placeholder.remove();
    }
  }

  async function loop() {
    await refresh();
    if (!stopped) timer = setTimeout(loop, POLL_MS);
  }
  await loop();
  return () => { stopped = true; clearTimeout(timer); };
}
