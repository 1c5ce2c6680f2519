// Members and invites: who is in the team and with which role, which
// credentials each approver may see and approve, invitations sent and received.
import { call } from "../lib/api.js";
import { clearErrors, confirmAction, copyButton, empty, field, formError, h, notify, showErrors, table, when } from "../lib/dom.js";

const ROLES = ["approver", "admin", "owner"];

function inviteForm(ctx, onDone) {
  const roles = ROLES.filter((role) => role !== "owner" || ctx.can("invite_owners"));
  const result = h("div", { "aria-live": "polite" });
  const form = h("form", { class: "card", novalidate: true, "aria-label": "Invite a member" },
    h("h2", {}, "Invite a member"),
    field("Email", h("input", { name: "email", type: "email", required: true, autocomplete: "off" })),
    field("Role", h("select", { name: "role" }, roles.map((role) => h("option", { value: role }, role))),
      "Approvers see and approve only the credentials you assign to them."),
    formError(), h("button", { type: "submit", class: "primary" }, "Send invitation"), result);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const data = new FormData(form);
    try {
      const invite = await call("POST", "/team/members/invite", { email: data.get("email"), role: data.get("role") });
      result.replaceChildren(invite.email_sent
        ? h("p", {}, `Invitation emailed to ${invite.email}.`)
        : h("p", {}, "The email could not be sent. Share this link by hand: ", h("code", {}, invite.accept_url || ""), " ", copyButton(invite.accept_url || "", "Copy link")));
      form.querySelector("[name=email]").value = "";
      await onDone();
    } catch (error) {
      showErrors(form, error);
    }
  });
  return form;
}

async function assignments(member, credentials, onChange) {
  const { credentials: assigned } = await call("GET", `/team/members/${member.id}/credentials`);
  const add = h("select", { "aria-label": `Assign a credential to ${member.email}` },
    h("option", { value: "" }, "Assign…"), credentials.filter((c) => !assigned.includes(c.name)).map((c) => h("option", { value: c.name }, c.name)));
  add.addEventListener("change", async () => {
    if (!add.value) return;
    await call("POST", `/team/members/${member.id}/credentials`, { credential_name: add.value });
    notify(`Assigned ${add.value} to ${member.email}.`);
    onChange();
  });
  return h("div", { class: "assigned" },
    assigned.length ? assigned.map((name) => h("span", { class: "chip" }, name, " ",
      h("button", { type: "button", class: "link", "aria-label": `Unassign ${name} from ${member.email}`, on: { click: async () => {
        await call("DELETE", `/team/members/${member.id}/credentials/${name}`);
        notify(`Unassigned ${name} from ${member.email}.`);
        onChange();
      } } }, "remove"), " ")) : h("span", { class: "hint" }, "nothing assigned "),
    add);
}

export async function render(section, ctx) {
  const mine = h("div");
  const body = h("div");
  section.append(h("h1", { id: "page-title" }, "Members"), mine, body);
  const manager = ctx.can("manage_members");
  const credentials = manager ? (await call("GET", "/team/credentials")).credentials : [];

  async function loadMine() {
    const { invites } = await call("GET", "/user/invites");
    mine.replaceChildren(...invites.map((invite) => h("div", { class: "card" },
      h("p", {}, `You are invited to ${invite.team_name} as ${invite.member_role}.`),
      h("div", { class: "actions" },
        h("button", { type: "button", class: "primary", on: { click: async () => {
          await call("POST", `/user/invites/${invite.id}/accept`);
          notify(`You joined ${invite.team_name}. Switch to it with the team menu.`);
          await ctx.refresh();
        } } }, `Join ${invite.team_name}`),
        h("button", { type: "button", class: "secondary", on: { click: async () => {
          await call("DELETE", `/user/invites/${invite.id}`);
          await loadMine();
        } } }, "Decline")))));
  }

  async function load() {
    const { members, pending_invites: invites } = await call("GET", "/team/members");
    const rows = [];
    for (const member of members) {
      let role = member.member_role;
      if (ctx.can("change_member_roles") && member.id !== ctx.me.id) {
        role = h("select", { "aria-label": `Role of ${member.email}` }, ROLES.map((r) => h("option", { value: r, selected: r === member.member_role }, r)));
        role.addEventListener("change", async () => {
          try {
            await call("PUT", `/team/members/${member.id}/role`, { role: role.value });
            notify(`${member.email} is now ${role.value}.`);
          } catch (error) {
            notify(error.message, "problem");
          }
          await load();
        });
      }
      rows.push([member.email + (member.id === ctx.me.id ? " (you)" : ""), role,
        manager && member.member_role === "approver" ? await assignments(member, credentials, load) : "all (by role)",
        when(member.created_at),
        manager && member.id !== ctx.me.id && !member.is_owner
          ? h("button", { type: "button", class: "danger", "aria-label": `Remove ${member.email}`, on: { click: async () => {
            if (!(await confirmAction(`Remove ${member.email} from the team? Their sessions end at once.`, "Remove"))) return;
            await call("DELETE", `/team/members/${member.id}`);
            notify(`Removed ${member.email}.`);
            await load();
          } } }, "Remove") : ""]);
    }
    const parts = [table("Members", ["Member", "Role", "Credentials they approve", "Joined", ""], rows)];
    if (ctx.can("invite_members")) {
      parts.push(inviteForm(ctx, load));
      parts.push(h("h2", {}, "Pending invitations"));
      parts.push(invites.length ? table("Pending invitations", ["Email", "Role", "Expires", ""], invites.map((invite) => [
        invite.email, invite.member_role, when(invite.expires_at),
        h("button", { type: "button", class: "danger", "aria-label": `Cancel the invitation of ${invite.email}`, on: { click: async () => {
          if (!(await confirmAction(`Cancel the invitation of ${invite.email}?`, "Cancel invitation"))) return;
          await call("DELETE", `/team/members/invites/${invite.id}`);
          await load();
        } } }, "Cancel"),
      ])) : empty("No invitations are waiting."));
    }
    body.replaceChildren(...parts);
  }
  await Promise.all([loadMine(), load()]);
}
