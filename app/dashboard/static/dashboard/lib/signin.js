// Sign in with email and password, then the passkey step when the server asks
// for one (creating the first passkey if the account has none). Shared by the
// dashboard and the approve page so both follow one flow.
import { call } from "./api.js";
import { assert, create } from "./webauthn.js";

// Returns the session token. `say` reports progress. Throws ApiError or a WebAuthn error.
export async function signIn(email, password, say = () => {}) {
  let step = await call("POST", "/login", { email, password }, null);
  if (step.needs_passkey_setup) {
    say("Create a passkey for this account on this device…");
    const token = step.passkey_setup_token;
    const options = await call("POST", "/setup-passkey/begin", { passkey_setup_token: token }, null);
    const credential = await create(options.challenge);
    await call("POST", "/setup-passkey/finish", { passkey_setup_token: token, credential }, null);
    step = await call("POST", "/login", { email, password }, null);
  }
  if (step.session_token) return step.session_token;
  say("Confirm with your passkey…");
  const credential = await assert(step.challenge);
  const session = await call("POST", "/login/passkey", { passkey_token: step.passkey_token, credential }, null);
  return session.session_token;
}
