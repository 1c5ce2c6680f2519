// Starts Swagger UI on TAP's own contract. It is a file, not an inline
// script, so the page's Content-Security-Policy can forbid inline code.
// The spec URL is fixed: query parameters cannot point the explorer at
// another document, and no validator outside TAP is contacted.
"use strict";
window.addEventListener("load", function () {
  window.SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    queryConfigEnabled: false,
    validatorUrl: null,
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
