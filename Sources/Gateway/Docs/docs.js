// Starts Swagger UI on the gateway's own document. A file of its own rather than an inline
// script: the page's Content-Security-Policy allows scripts from the gateway only.
"use strict";
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
  docExpansion: "list",
  tryItOutEnabled: false,
});
