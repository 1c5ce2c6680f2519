// Web push in this browser: the service worker TAP serves at /dashboard-sw.js
// (scope: the whole origin; it only shows approval notifications), the
// browser's subscription, and telling TAP about it. No DOM here.
import { call } from "./api.js";
import { fromB64url } from "./base64url.js";

const WORKER = "/dashboard-sw.js";

// The browser refused notifications (now or earlier).
export class PushBlocked extends Error {
  constructor() {
    super("This browser blocks notifications from TAP.");
    this.name = "PushBlocked";
  }
}

export function supported() {
  return window.isSecureContext && "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;
}

// TAP's VAPID public key, or null when push is not set up on this TAP.
export async function serverKey() {
  try {
    return (await call("GET", "/push/vapid-public-key")).public_key;
  } catch (error) {
    if (error.code === "push_disabled") return null;
    throw error;
  }
}

async function currentSubscription() {
  const registration = await navigator.serviceWorker.getRegistration("/");
  return registration ? registration.pushManager.getSubscription() : null;
}

// "blocked", "on" or "off", as this browser sees it.
export async function state() {
  if (Notification.permission === "denied") return "blocked";
  return (await currentSubscription()) ? "on" : "off";
}

function sameKey(subscription, key) {
  const held = subscription.options && subscription.options.applicationServerKey;
  if (!held) return true;
  const a = new Uint8Array(held);
  const b = new Uint8Array(key);
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

// Register the worker, ask permission, subscribe with TAP's key and hand the
// subscription to TAP. A subscription TAP refuses is dropped again.
export async function turnOn(publicKey) {
  await navigator.serviceWorker.register(WORKER, { scope: "/" });
  if ((await Notification.requestPermission()) !== "granted") throw new PushBlocked();
  const registration = await navigator.serviceWorker.ready;
  const key = fromB64url(publicKey);
  let subscription = await registration.pushManager.getSubscription();
  if (subscription && !sameKey(subscription, key)) {
    // Made with a key TAP no longer signs with: the push service would refuse TAP.
    await subscription.unsubscribe();
    subscription = null;
  }
  const fresh = !subscription;
  if (fresh) subscription = await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
  const { endpoint, keys } = subscription.toJSON();
  try {
    await call("POST", "/push/subscribe", { endpoint, p256dh: keys.p256dh, auth: keys.auth });
  } catch (error) {
    if (fresh) await subscription.unsubscribe().catch(() => {});
    throw error;
  }
}

// Tell TAP to forget this browser, and drop the subscription in the browser
// even if TAP could not be reached (a dead endpoint is removed on its next use).
export async function turnOff() {
  const subscription = await currentSubscription();
  if (!subscription) return;
  try {
    await call("POST", "/push/unsubscribe", { endpoint: subscription.endpoint });
  } finally {
    await subscription.unsubscribe();
  }
}
