// Verify a request from Herald (Standard Webhooks signature). Node.js 16+, no packages.
const crypto = require("node:crypto");

// secret: the webhook's "whsec_..." signing secret. headers: req.headers (Node lower-cases
// the names). body: the raw bytes received (a Buffer), before any JSON parsing.
function verify(secret, headers, body, toleranceSeconds = 300) {
  const id = headers["webhook-id"];
  const timestamp = headers["webhook-timestamp"];
  // Refuse old or future timestamps, so a captured request cannot be replayed later.
  const sent = Number(timestamp);
  if (!Number.isFinite(sent) || Math.abs(Date.now() / 1000 - sent) > toleranceSeconds) {
    return false;
  }
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const expected = crypto
    .createHmac("sha256", key)
    .update(`${id}.${timestamp}.`)
    .update(body)
    .digest();
  // During a secret rotation the header carries one "v1,<signature>" per secret.
  return (headers["webhook-signature"] || "").split(" ").some((candidate) => {
    if (!candidate.startsWith("v1,")) return false;
    const given = Buffer.from(candidate.slice(3), "base64");
    return given.length === expected.length && crypto.timingSafeEqual(given, expected);
  });
}

module.exports = { verify };
