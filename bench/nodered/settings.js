// Node-RED as a webhook baseline: loopback only, no editor, the flow in flows.json.
module.exports = {
  uiHost: "127.0.0.1",
  uiPort: parseInt(process.env.NODERED_PORT || "18081", 10),
  httpAdminRoot: false,
  httpNodeRoot: "/",
  flowFile: "flows.json",
  credentialSecret: false,
  logging: { console: { level: "warn", metrics: false, audit: false } },
};
