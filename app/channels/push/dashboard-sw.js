// TAP dashboard service worker: shows approval notifications and opens the approve page.
// Served at /dashboard-sw.js so its scope is the whole origin.
"use strict";

self.addEventListener("push", (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch (_error) {
    data = {};
  }
  const title = typeof data.title === "string" ? data.title : "Approval needed";
  const options = {
    body: typeof data.body === "string" ? data.body : "",
    tag: typeof data.txn_id === "string" ? data.txn_id : "tap",
    requireInteraction: true,
    data: { url: typeof data.url === "string" && data.url.startsWith("/") ? data.url : "/dashboard" },
  };
  event.waitUntil(self.registration.showNotification(title, options));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const target = new URL(event.notification.data.url, self.location.origin).href;
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((windows) => {
      for (const client of windows) {
        if (client.url === target && "focus" in client) {
          return client.focus();
        }
      }
      return self.clients.openWindow(target);
    }),
  );
});
