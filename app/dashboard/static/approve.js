// The approve page: sign in with a passkey, see the request, approve it with a
// passkey (which signs a digest of the exact request) or deny it.
// Served from TAP itself under a CSP without inline script; it shares the
// dashboard's modules for the API, passkeys and signing in.
import { SESSION_KEY, call } from "/dashboard/assets/lib/api.js";
import { signIn } from "/dashboard/assets/lib/signin.js";
import { assert, cancelled, create } from "/dashboard/assets/lib/webauthn.js";

const txnId = location.pathname.split("/").filter(Boolean).pop();
const $ = (id) => document.getElementById(id);

function say(text, kind = "") {
  const status = $("status");
  status.textContent = text;
  status.className = kind;
}
function showSignIn() {
  $("request").hidden = true;
  $("signin").hidden = false;
  say("Sign in to see and decide this request.");
  $("email").focus();
}

function render(details) {
  $("agent").textContent = details.agent_id;
  $("credential").textContent = details.credential_name;
  $("action").textContent = `${details.method} ${details.target_url}`;
  $("votes").textContent = `${details.approvals} of ${details.min_approvals}` + (details.require_passkey ? " · passkey required" : "");
  $("expires").textContent = new Date(details.expires_at).toLocaleString();
  const warnings = $("warnings");
  warnings.replaceChildren(...details.warnings.map((w) => Object.assign(document.createElement("li"), { textContent: w.message })));
  warnings.hidden = details.warnings.length === 0;
  $("headers-block").hidden = details.headers.length === 0;
  $("headers").textContent = details.headers.map(([name, value]) => `${name}: ${value}`).join("\n");
  $("body-block").hidden = details.body_size === 0;
  $("body-facts").textContent = `${details.body_size} bytes` +
    (details.body_encoding === "base64" ? ", not text: shown as base64" : "") +
    (details.body_truncated ? ", preview truncated" : "") + ` · SHA-256 ${details.body_sha256}`;
  $("body").textContent = details.body_preview || "";
  const canPasskey = details.passkeys_enabled && details.has_passkeys;
  $("no-passkey").hidden = !details.passkeys_enabled || details.has_passkeys;
  $("approve").hidden = !canPasskey && details.require_passkey;
  $("approve").textContent = canPasskey ? "Approve with passkey" : "Approve";
  $("request").hidden = false;
  say("Review the request, then decide.");
}

async function load() {
  if (!/^[0-9a-fA-F-]{32,36}$/.test(txnId || "")) return say("This link is not an approval link.", "problem");
  if (!sessionStorage.getItem(SESSION_KEY)) return showSignIn();
  try {
    render(await call("GET", `/approve/txn/${txnId}/details`));
  } catch (error) {
    if (error.status === 401) { sessionStorage.removeItem(SESSION_KEY); return showSignIn(); }
    if (error.status === 403) return say("You may not decide this request.", "problem");
    if (error.status === 404 || error.status === 410) return say("This request expired or was already resolved.", "problem");
    say(`Could not load the request: ${error.message}`, "problem");
  }
}

async function decide(action) {
  for (const id of ["approve", "deny"]) $(id).disabled = true;
  try {
    let result;
    if (action === "deny") {
      result = await call("POST", `/approve/txn/${txnId}/deny`);
      say(`Denied by ${result.approver}.`, "done");
    } else if ($("approve").textContent.includes("passkey")) {
      const begun = await call("POST", `/approve/txn/${txnId}/begin`);
      say("Confirm with your passkey…");
      const credential = await assert(begun.challenge);
      result = await call("POST", `/approve/txn/${txnId}/finish`, { credential });
      say(result.status === "approved" ? `Approved by ${result.approver}.` : `Your approval counted (${result.approvals} of ${result.needed}).`, "done");
    } else {
      result = await call("POST", `/approve/dashboard/${txnId}/approve`);
      say(`Approved by ${result.approver}.`, "done");
    }
    $("request").querySelector(".actions").hidden = true;
  } catch (error) {
    for (const id of ["approve", "deny"]) $(id).disabled = false;
    if (cancelled(error)) return say("Cancelled. Try again.", "problem");
    if (error.status === 409 || error.status === 410) return say("This request was already resolved.", "problem");
    say(`Not decided: ${error.message}`, "problem");
  }
}

async function registerPasskey() {
  try {
    const options = await call("POST", "/user/passkey/register/begin");
    const credential = await create(options.challenge);
    await call("POST", "/user/passkey/register/finish", { credential });
    await load();
  } catch (error) {
    say(cancelled(error) ? "Cancelled. Try again." : `Could not register: ${error.message}`, "problem");
  }
}

function start() {
  $("signin").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("signin-error").textContent = "";
    try {
      sessionStorage.setItem(SESSION_KEY, await signIn($("email").value, $("password").value, say));
      $("signin").hidden = true;
      await load();
    } catch (error) {
      $("signin-error").textContent = cancelled(error) ? "Cancelled. Try again." : error.message;
      say("Sign in to see and decide this request.");
    }
  });
  $("approve").addEventListener("click", () => decide("approve"));
  $("deny").addEventListener("click", () => decide("deny"));
  $("register").addEventListener("click", registerPasskey);
  load();
}

start();
