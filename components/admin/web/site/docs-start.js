// The reference of every service, merged by the meta service. Requests made
// from the page go to this same origin, with the bearer token the reader enters.
SwaggerUIBundle({
  url: "/api/v1/openapi.json",
  dom_id: "#reference",
  deepLinking: true,
  // 120 operations: tags start folded (and render fast), with a filter box.
  docExpansion: "none",
  filter: true,
  tryItOutEnabled: false,
  persistAuthorization: false,
  validatorUrl: null,
});
