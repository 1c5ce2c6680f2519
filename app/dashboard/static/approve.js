// The approve page: sign in with a passkey, see the request, approve it with a
// passkey (which signs a digest of the exact request) or deny it.
// Served from TAP itself under a CSP without inline script; no dependencies.
"use strict";

const SESSION_KEY = "tap.session";
const txnId = location.pathname.split("/").filter(Boolean).pop();
const $ = (id) => document.getElementById(id);

// base64url <-> ArrayBuffer, for the WebAuthn JSON forms.
function fromB64url(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)).buffer;
}
function toB64url(buffer) {
  const bytes = new Uint8Array(buffer);
  let text = "";
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
function creationOptions(json) {
  return {
    ...json,
    challenge: fromB64url(json.challenge),
    user: { ...json.user, id: fromB64url(json.user.id) },
    excludeCredentials: (json.excludeCredentials || []).map((c) => ({ ...c, id: fromB64url(c.id) })),
  };
}
function requestOptions(json) {
  return {
    ...json,
    challenge: fromB64url(json.challenge),
    allowCredentials: (json.allowCredentials || []).map((c) => ({ ...c, id: fromB64url(c.id) })),
  };
}
function credentialJson(credential) {
  const r = credential.response;
  const response = { clientDataJSON: toB64url(r.clientDataJSON) };
  if (r.attestationObject) {
    response.attestationObject = toB64url(r.attestationObject);
    response.transports = r.getTransports ? r.getTransports() : [];
  } else {
    response.authenticatorData = toB64url(r.authenticatorData);
    response.signature = toB64url(r.signature);
    if (r.userHandle) response.userHandle = toB64url(r.userHandle);
  }
  return {
    id: credential.id,
    rawId: toB64url(credential.rawId),
    type: credential.type,
    response,
    clientExtensionResults: credential.getClientExtensionResults(),
    authenticatorAttachment: credential.authenticatorAttachment || undefined,
  };
}
async function create(options) {
  return credentialJson(await navigator.credentials.create({ publicKey: creationOptions(options) }));
}
async function assert(options) {
  return credentialJson(await navigator.credentials.get({ publicKey: requestOptions(options) }));
}

// The API, with the session as a bearer token (kept for this tab only).
class ApiError extends Error {
  constructor(status, body) {
    super(body.message || `HTTP ${status}`);
    this.status = status;
    this.code = body.error;
  }
}
async function call(method, path, body, token = sessionStorage.getItem(SESSION_KEY)) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "omit",
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

function say(text, kind = "") {
  const status = $("status");
  status.textContent = text;
  status.className = kind;
}
function cancelled(error) {
  return error && (error.name === "NotAllowedError" || error.name === "AbortError");
}

async function signIn(email, password) {
  let step = await call("POST", "/login", { email, password }, null);
  if (step.needs_passkey_setup) {
    say("Create a passkey for this account on this device…");
    const options = await call("POST", "/setup-passkey/begin", { passkey_setup_token: step.passkey_setup_token }, null);
    const credential = await create(options.challenge);
    await call("POST", "/setup-passkey/finish", { passkey_setup_token: step.passkey_setup_token, credential }, null);
    step = await call("POST", "/login", { email, password }, null);
  }
  if (step.session_token) return step.session_token;
  say("Confirm with your passkey…");
  const credential = await assert(step.challenge);
  const session = await call("POST", "/login/passkey", { passkey_token: step.passkey_token, credential }, null);
  return session.session_token;
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

document.addEventListener("DOMContentLoaded", () => {
  $("signin").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("signin-error").textContent = "";
    try {
      sessionStorage.setItem(SESSION_KEY, await signIn($("email").value, $("password").value));
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
});
