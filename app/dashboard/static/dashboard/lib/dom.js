// Building the page. Text always goes in as text (textContent or text nodes),
// never as HTML, so nothing an agent or a user typed can become markup.

const BOOLEAN_PROPS = new Set(["hidden", "disabled", "checked", "required", "selected", "multiple", "readOnly"]);
let nextId = 0;

// h("button", {class: "primary", on: {click: f}}, "Save")
export function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false && !BOOLEAN_PROPS.has(key)) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "on") for (const [event, handler] of Object.entries(value)) node.addEventListener(event, handler);
    else if (key === "value") node.value = value;
    else if (BOOLEAN_PROPS.has(key)) node[key] = Boolean(value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function uid(prefix = "f") {
  nextId += 1;
  return `${prefix}${nextId}`;
}

// A labelled control with its hint and an error slot next to it.
export function field(label, control, hint) {
  if (!control.id) control.id = uid();
  const describedBy = [];
  let hintNode = null;
  if (hint) {
    hintNode = h("p", { class: "hint", id: `${control.id}-hint` }, hint);
    describedBy.push(hintNode.id);
  }
  const error = h("p", { class: "field-error", id: `${control.id}-error`, hidden: true });
  describedBy.push(error.id);
  control.setAttribute("aria-describedby", describedBy.join(" "));
  return h("div", { class: "field", "data-field": control.name || "" },
    h("label", { for: control.id }, label), hintNode, control, error);
}

// A group of checkboxes, one per option: [{value, label, checked}].
export function checkboxes(legend, name, options, hint) {
  const group = h("fieldset", { class: "checks", "data-field": name }, h("legend", {}, legend));
  if (hint) group.append(h("p", { class: "hint" }, hint));
  if (options.length === 0) group.append(h("p", { class: "hint" }, "Nothing to choose yet."));
  for (const option of options) {
    const box = h("input", { type: "checkbox", name, value: option.value, checked: option.checked, id: uid() });
    group.append(h("label", { class: "check", for: box.id }, box, " ", option.label ?? option.value));
  }
  group.append(h("p", { class: "field-error", hidden: true }));
  return group;
}

export function checked(form, name) {
  return [...form.querySelectorAll(`input[name="${name}"]:checked`)].map((box) => box.value);
}

// One value per line (or comma), trimmed, blanks dropped.
export function lines(text) {
  return text.split(/[\n,]/).map((line) => line.trim()).filter(Boolean);
}

export function clearErrors(form) {
  for (const node of form.querySelectorAll(".field-error, .form-error")) {
    node.textContent = "";
    node.hidden = true;
  }
  for (const node of form.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
}

// Put an API error next to the fields it names; anything else at the form's foot.
export function showErrors(form, error) {
  clearErrors(form);
  let shown = false;
  for (const { field: name, problem } of error.problems || []) {
    const top = String(name || "").split(".")[0];
    const holder = top && form.querySelector(`[data-field="${CSS.escape(top)}"]`);
    if (!holder) continue;
    const slot = holder.querySelector(".field-error");
    slot.textContent = problem;
    slot.hidden = false;
    const control = holder.querySelector("input, select, textarea");
    if (control) control.setAttribute("aria-invalid", "true");
    if (!shown && control) control.focus();
    shown = true;
  }
  const foot = form.querySelector(".form-error");
  if (foot && (!shown || !(error.problems || []).length)) {
    foot.textContent = error.message || String(error);
    foot.hidden = false;
  }
}

export function formError() {
  return h("p", { class: "form-error", role: "alert", hidden: true });
}

// Ask before something that cannot be undone. Resolves true when confirmed.
export function confirmAction(message, action = "Delete") {
  return new Promise((resolve) => {
    const cancel = h("button", { type: "button", class: "secondary" }, "Cancel");
    const confirm = h("button", { type: "button", class: "danger" }, action);
    const title = h("h2", { id: uid("dlg") }, "Are you sure?");
    const dialog = h("dialog", { "aria-labelledby": title.id }, title, h("p", {}, message),
      h("div", { class: "actions" }, cancel, confirm));
    const close = (answer) => { dialog.close(); dialog.remove(); resolve(answer); };
    cancel.addEventListener("click", () => close(false));
    confirm.addEventListener("click", () => close(true));
    dialog.addEventListener("cancel", (event) => { event.preventDefault(); close(false); });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}

// The page-wide polite announcement (also visible). It outlives the next
// page change (a message said just before navigating), and no more.
export function notify(text, kind = "ok") {
  const notice = document.getElementById("notice");
  notice.textContent = text;
  notice.className = `notice ${kind}`;
  notice.hidden = !text;
  notice.dataset.fresh = text ? "1" : "";
}

// Called on every page change: a notice from before the last change goes.
export function ageNotice() {
  const notice = document.getElementById("notice");
  if (notice.dataset.fresh) notice.dataset.fresh = "";
  else notify("");
}

export function empty(text, ...actions) {
  return h("div", { class: "empty" }, h("p", {}, text), ...actions);
}

// A table that scrolls sideways on a phone; rows are arrays of cells.
export function table(label, headers, rows) {
  return h("div", { class: "table-wrap", role: "region", "aria-label": label, tabindex: "0" },
    h("table", {},
      h("thead", {}, h("tr", {}, headers.map((title) => h("th", { scope: "col" }, title)))),
      h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((cell) => h("td", {}, cell)))))));
}

export function copyButton(text, label = "Copy") {
  const button = h("button", { type: "button", class: "secondary" }, label);
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(text);
      button.textContent = "Copied";
    } catch {
      button.textContent = "Select and copy it by hand";
    }
  });
  return button;
}

export function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "";
}

export function timeLeft(iso) {
  const secs = Math.round((new Date(iso).getTime() - Date.now()) / 1000);
  if (secs <= 0) return "expired";
  if (secs < 120) return `${secs} s left`;
  if (secs < 7200) return `${Math.round(secs / 60)} min left`;
  return `${Math.round(secs / 3600)} h left`;
}
