// Security page: approval notifications in this browser (web push).
import { PushBlocked, serverKey, state, supported, turnOff, turnOn } from "../../lib/push.js";
import { formError, h, notify } from "../../lib/dom.js";

const SAYS = {
  disabled: "Push notifications are not set up on this TAP (it has no VAPID keys).",
  unsupported: "This browser cannot get push notifications (it needs service workers and the Push API).",
  blocked: "Blocked: this browser refuses notifications from TAP. Allow them in the site settings, then reload this page.",
  on: "On: requests you may decide show up as notifications in this browser.",
  off: "Off: this browser gets no notifications.",
};

export function pushCard() {
  const status = h("p", { class: "push-state", role: "status" });
  const button = h("button", { type: "button", class: "primary", hidden: true });
  const error = formError();
  const scope = h("p", { class: "hint", hidden: true }, "A browser gets the notifications of one person in one team: whoever turned them on last, in the team active then. After switching teams, turn them on again.");
  const node = h("div", { class: "card", role: "region", "aria-labelledby": "push-title" },
    h("h2", { id: "push-title" }, "Push notifications on this device"),
    status, scope,
    h("div", { class: "actions" }, button), error);
  let key = null;
  let shown = null;

  function show(now) {
    shown = now;
    status.textContent = SAYS[now];
    status.dataset.state = now;
    button.hidden = now !== "on" && now !== "off";
    scope.hidden = button.hidden;
    button.textContent = now === "on" ? "Turn off" : "Turn on";
    button.className = now === "on" ? "secondary" : "primary";
  }

  button.addEventListener("click", async () => {
    error.hidden = true;
    button.disabled = true;
    try {
      if (shown === "on") {
        await turnOff();
        notify("Push notifications are off in this browser.");
      } else {
        await turnOn(key);
        notify("Push notifications are on in this browser.");
      }
    } catch (problem) {
      error.textContent = problem instanceof PushBlocked ? problem.message : `Could not change notifications: ${problem.message}`;
      error.hidden = false;
    } finally {
      button.disabled = false;
      show(await state());
    }
  });

  async function load() {
    try {
      key = await serverKey();
      if (key === null) show("disabled");
      else if (!supported()) show("unsupported");
      else show(await state());
    } catch (problem) {
      error.textContent = `Could not read the notification settings: ${problem.message}`;
      error.hidden = false;
    }
  }
  return { node, load };
}
