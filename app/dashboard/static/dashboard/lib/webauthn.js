// Passkey ceremonies: the JSON forms the API sends and expects, to and from
// the browser's navigator.credentials.
import { fromB64url, toB64url } from "./base64url.js";

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

// Register a passkey from the server's creation options.
export async function create(json) {
  const publicKey = {
    ...json,
    challenge: fromB64url(json.challenge),
    user: { ...json.user, id: fromB64url(json.user.id) },
    excludeCredentials: (json.excludeCredentials || []).map((c) => ({ ...c, id: fromB64url(c.id) })),
  };
  return credentialJson(await navigator.credentials.create({ publicKey }));
}

// Sign the server's challenge with a passkey.
export async function assert(json) {
  const publicKey = {
    ...json,
    challenge: fromB64url(json.challenge),
    allowCredentials: (json.allowCredentials || []).map((c) => ({ ...c, id: fromB64url(c.id) })),
  };
  return credentialJson(await navigator.credentials.get({ publicKey }));
}

// The person dismissed the browser's passkey prompt.
export function cancelled(error) {
  return Boolean(error) && (error.name === "NotAllowedError" || error.name === "AbortError");
}
