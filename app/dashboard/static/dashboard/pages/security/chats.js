// Security page: the chat accounts linked to this person (approve from the
// chat). Linking hands out a one-time code the person sends to the bot; the
// page polls until the link appears, the code expires or the page is left.
import { call } from "../../lib/api.js";
import { confirmAction, copyButton, empty, formError, h, notify, table, timeLeft, when } from "../../lib/dom.js";

const POLL_MS = 2000;
const NAMES = { telegram: "Telegram", matrix: "Matrix" };

const named = (kind) => NAMES[kind] || kind;
const account = (i) => (i.display ? `${i.display} (${i.external_id})` : i.external_id);

export function chatCard() {
  const listing = h("div");
  const offers = h("div", { class: "actions" });
  const pending = h("div");
  const error = formError();
  const node = h("div", { class: "card", role: "region", "aria-labelledby": "chats-title" },
    h("h2", { id: "chats-title" }, "Chat accounts"),
    h("p", { class: "hint" }, "A linked chat account approves for you from the chat, in every team you belong to."),
    listing, error, offers, pending);
  let timer = null;
  let round = 0; // a poll from an earlier code (or a left page) sees a newer round and ends

  function fail(problem) {
    error.textContent = problem.message;
    error.hidden = false;
  }

  function stop() {
    round += 1;
    clearTimeout(timer);
    timer = null;
    pending.replaceChildren();
  }

  function draw(identities, linkable) {
    listing.replaceChildren(identities.length === 0
      ? empty(linkable.length ? "No chat accounts linked yet." : "No chat accounts linked, and this TAP has no chat service (Telegram or Matrix) to link one with.")
      : table("Linked chat accounts", ["Service", "Account", "Linked", ""], identities.map((i) => [
        named(i.kind), account(i), when(i.created_at),
        h("button", { type: "button", class: "danger", "aria-label": `Unlink ${named(i.kind)} account ${account(i)}`, on: { click: () => unlink(i) } }, "Unlink"),
      ])));
    offers.replaceChildren(...linkable.map((kind) =>
      h("button", { type: "button", class: "secondary", on: { click: () => link(kind) } }, `Link a ${named(kind)} account`)));
  }

  async function load() {
    const { identities, linkable } = await call("GET", "/user/identities");
    draw(identities, linkable);
    return identities;
  }

  async function unlink(identity) {
    if (!(await confirmAction(`Unlink ${named(identity.kind)} account ${account(identity)}? It can no longer approve for you.`, "Unlink"))) return;
    error.hidden = true;
    try {
      await call("DELETE", `/user/identities/${encodeURIComponent(identity.id)}`);
      notify(`Unlinked ${named(identity.kind)} account ${account(identity)}.`);
    } catch (problem) {
      fail(problem);
    }
    await load().catch(fail);
  }

  async function link(kind) {
    stop();
    error.hidden = true;
    let before;
    let issued;
    try {
      before = new Set((await load()).map((i) => i.id));
      issued = await call("POST", `/user/identities/${encodeURIComponent(kind)}`);
    } catch (problem) {
      fail(problem);
      return;
    }
    const left = h("span", {}, timeLeft(issued.expires_at));
    const deepLink = /^https:\/\//.test(issued.deep_link || "")
      ? h("p", {}, h("a", { href: issued.deep_link, target: "_blank", rel: "noopener noreferrer" }, `Open ${issued.bot || named(kind)}`))
      : null;
    pending.replaceChildren(h("div", { class: "link-code", role: "region", "aria-label": `Link code for ${named(kind)}` },
      h("h3", {}, `Link your ${named(kind)} account`),
      h("p", {}, issued.instructions),
      h("p", { class: "secret-line" }, h("code", { class: "code" }, issued.code), " ", copyButton(issued.code, "Copy code")),
      deepLink,
      h("p", { class: "hint" }, "Waiting for the code to arrive (", left, ")."),
      h("div", { class: "actions" }, h("button", { type: "button", class: "secondary", on: { click: stop } }, "Cancel"))));
    const expires = new Date(issued.expires_at).getTime();
    const mine = round;
    // Redraws only when the link appears, so focus stays where it is meanwhile.
    const poll = async () => {
      let listed;
      try {
        listed = await call("GET", "/user/identities");
      } catch (problem) {
        if (mine !== round) return;
        stop();
        fail(problem);
        return;
      }
      if (mine !== round) return;
      const found = listed.identities.find((i) => i.kind === kind && !before.has(i.id));
      if (found) {
        stop();
        draw(listed.identities, listed.linkable);
        notify(`Linked ${named(kind)} account ${account(found)}.`);
      } else if (Date.now() >= expires) {
        stop();
        fail(new Error("The code expired before it arrived. Get a new one."));
      } else {
        left.textContent = timeLeft(issued.expires_at);
        timer = setTimeout(poll, POLL_MS);
      }
    };
    timer = setTimeout(poll, POLL_MS);
  }

  return { node, load, stop };
}
