// Notification channels: where TAP tells people that a request waits.
import { call } from "../lib/api.js";
import { clearErrors, confirmAction, empty, field, formError, h, notify, showErrors, table, when } from "../lib/dom.js";

const TYPES = [["dashboard", "Dashboard inbox"], ["agent_reflected", "The agent shows the link"], ["telegram", "Telegram"], ["matrix", "Matrix"]];

function channelForm(onDone) {
  const type = h("select", { name: "channel_type" }, TYPES.map(([value, label]) => h("option", { value }, label)));
  const chat = field("Telegram chat id", h("input", { name: "chat_id", autocomplete: "off" }), "The chat the bot posts to, e.g. -1001234567890.");
  const room = field("Matrix room id", h("input", { name: "room_id", autocomplete: "off" }), "Starts with !, e.g. !abc:example.org.");
  const show = () => { chat.hidden = type.value !== "telegram"; room.hidden = type.value !== "matrix"; };
  type.addEventListener("change", show);
  const form = h("form", { class: "card", novalidate: true, "aria-label": "Add a channel" },
    h("h2", {}, "Add a channel"),
    field("Name", h("input", { name: "name", required: true, autocomplete: "off" }), "e.g. ops-telegram."),
    field("Type", type), chat, room, formError(),
    h("button", { type: "submit", class: "primary" }, "Add channel"));
  show();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const data = new FormData(form);
    const config = {};
    if (type.value === "telegram") config.chat_id = data.get("chat_id");
    if (type.value === "matrix") config.room_id = data.get("room_id");
    try {
      await call("POST", "/team/notification-channels", { channel_type: type.value, name: data.get("name"), config });
      notify(`Added channel ${data.get("name")}.`);
      form.reset();
      show();
      await onDone();
    } catch (error) {
      showErrors(form, error);
    }
  });
  return form;
}

export async function render(section) {
  const listing = h("div");
  section.append(h("h1", { id: "page-title" }, "Notification channels"),
    h("p", { class: "hint" }, "The first enabled channel is the default; a credential's policy can pick another. Every waiting request also shows in Approvals."),
    listing);
  async function load() {
    const { channels } = await call("GET", "/team/notification-channels");
    listing.replaceChildren(channels.length === 0
      ? empty("No channels yet: agents show people the approval link themselves. Add one to be notified.")
      : table("Channels", ["Name", "Type", "Settings", "Default", "Added", ""], channels.map((c) => [
        h("strong", {}, c.name), c.channel_type, Object.entries(c.config).map(([k, v]) => `${k}: ${v}`).join(", "),
        c.is_default ? "default" : h("button", { type: "button", class: "secondary", "aria-label": `Make ${c.name} the default`, on: { click: async () => {
          await call("POST", `/team/notification-channels/${c.name}/default`);
          notify(`${c.name} is the default channel.`);
          await load();
        } } }, "Make default"),
        when(c.created_at),
        h("button", { type: "button", class: "danger", "aria-label": `Delete channel ${c.name}`, on: { click: async () => {
          if (!(await confirmAction(`Delete channel ${c.name}?`))) return;
          await call("DELETE", `/team/notification-channels/${c.name}`);
          notify(`Deleted channel ${c.name}.`);
          await load();
        } } }, "Delete"),
      ])));
  }
  section.append(channelForm(load));
  await load();
}
