// Security: the signed-in person's passkeys (sign-in and approvals), push
// notifications in this browser, and the chat accounts that approve for them.
import { call } from "../lib/api.js";
import { cancelled, create } from "../lib/webauthn.js";
import { confirmAction, empty, h, notify, table, when } from "../lib/dom.js";
import { chatCard } from "./security/chats.js";
import { pushCard } from "./security/notifications.js";

function passkeyCard() {
  const listing = h("div");
  const add = h("button", { type: "button", class: "primary" }, "Add a passkey on this device");
  const node = h("div", { class: "card", role: "region", "aria-labelledby": "passkeys-title" },
    h("div", { class: "page-head" }, h("h2", { id: "passkeys-title" }, "Passkeys"), add),
    h("p", { class: "hint" }, "Passkeys confirm your sign-in and the approvals that need one."), listing);
  add.addEventListener("click", async () => {
    try {
      const options = await call("POST", "/user/passkey/register/begin");
      const credential = await create(options.challenge);
      await call("POST", "/user/passkey/register/finish", { credential });
      notify("Passkey added.");
      await load();
    } catch (error) {
      notify(cancelled(error) ? "Cancelled. Try again." : `Could not add a passkey: ${error.message}`, "problem");
    }
  });
  async function load() {
    let passkeys;
    try {
      ({ passkeys } = await call("GET", "/user/passkeys"));
    } catch (error) {
      if (error.status === 404 || error.status === 503) {
        add.hidden = true;
        listing.replaceChildren(empty("Passkeys are not configured on this TAP (WEBAUTHN_RP_ID and WEBAUTHN_RP_ORIGIN)."));
        return;
      }
      throw error;
    }
    listing.replaceChildren(passkeys.length === 0
      ? empty("No passkeys yet. Add one so approvals that need a passkey can be confirmed from this device.")
      : table("Passkeys", ["Name", "Added", "Last used", ""], passkeys.map((p) => [
        p.display_name, when(p.created_at), when(p.last_used_at) || "never",
        h("button", { type: "button", class: "danger", "aria-label": `Delete passkey ${p.display_name}`, on: { click: async () => {
          if (!(await confirmAction(`Delete passkey ${p.display_name}?`))) return;
          try {
            await call("DELETE", `/user/passkeys/${p.id}`);
            notify("Passkey deleted.");
          } catch (error) {
            notify(error.message, "problem");
          }
          await load();
        } } }, "Delete"),
      ])));
  }
  return { node, load };
}

export async function render(section) {
  const passkeys = passkeyCard();
  const push = pushCard();
  const chats = chatCard();
  section.append(h("h1", { id: "page-title" }, "Security"), passkeys.node, push.node, chats.node);
  await Promise.all([passkeys.load(), push.load(), chats.load()]);
  return chats.stop;
}
