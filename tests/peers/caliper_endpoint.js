// A Caliper endpoint for Herald's tests whose judgement is the IMS Caliper sensor library's
// (the npm package ims-caliper, a packaging of IMS Global's caliper-js reference code): the
// envelope's dataVersion must be the library's, and every event must pass the library's
// event validator (required properties), carry a urn:uuid id and a Caliper context, name an
// event type and an action from the library's vocabularies (the action allowed for that
// type), and use entity types the library knows.
//
// Usage: node caliper_endpoint.js <node_modules dir> <port> <bearer token>
// POST /      an envelope: 200, 400 with the reason, 401, or 422 for another dataVersion
// GET /events the events accepted so far, as a JSON array

const path = require("path");
const http = require("http");
const [modules, port, token] = process.argv.slice(2);
const lib = (p) => require(path.resolve(modules, "ims-caliper", "lib", p));
const config = lib("config/config");
const actions = lib("actions/actions");
const eventTypes = lib("events/eventType");
const entityTypes = lib("entities/entityType");
const eventValidator = lib("validators/eventValidator");
const validator = lib("validators/validator");

// The library's event prototypes by type, and each type's key in the actions table.
const prototypes = {};
const keyOfType = {};
for (const [key, value] of Object.entries(eventTypes)) {
  keyOfType[value.term] = key + (key === "event" ? "" : "Event");
  try {
    prototypes[value.term] = lib(`events/${key === "event" ? "event" : key + "Event"}`);
  } catch (_) {
    prototypes[value.term] = lib("events/event");
  }
}
// The library still lists Graded under the 1.0 name of GradeEvent.
keyOfType.GradeEvent = "outcomeEvent";
const entityTerms = new Set(Object.values(entityTypes).map((e) => e.term));

function checkEntity(entity, where) {
  if (typeof entity === "string") return;
  if (!entity || typeof entity !== "object") throw new Error(`${where} is not an entity`);
  if (typeof entity.id !== "string" || entity.id === "") throw new Error(`${where} has no id`);
  if (!entityTerms.has(entity.type)) throw new Error(`${where} has an unknown type ${entity.type}`);
  for (const [key, value] of Object.entries(entity)) {
    if (value && typeof value === "object" && !Array.isArray(value) && value.type) {
      checkEntity(value, `${where}.${key}`);
    }
  }
}

function checkEvent(event, index) {
  const where = `data[${index}]`;
  const prototype = prototypes[event.type];
  if (!prototype) throw new Error(`${where}: unknown event type ${event.type}`);
  eventValidator.checkOpts(prototype, Object.assign({}, event));
  if (!validator.hasUuidUrn(event)) throw new Error(`${where}: id is not a urn:uuid`);
  if (!validator.hasCaliperContext(event)) throw new Error(`${where}: no Caliper @context`);
  const action = Object.values(actions).find((a) => a.term === event.action);
  if (!action) throw new Error(`${where}: unknown action ${event.action}`);
  const key = keyOfType[event.type];
  if (!action.events.includes(key) && !(event.type === "Event" && action.events.includes("event"))) {
    throw new Error(`${where}: ${event.action} is not an action of ${event.type}`);
  }
  checkEntity(event.actor, `${where}.actor`);
  checkEntity(event.object, `${where}.object`);
  if (event.generated) checkEntity(event.generated, `${where}.generated`);
  if (event.edApp) checkEntity(event.edApp, `${where}.edApp`);
}

const accepted = [];
const server = http.createServer((request, response) => {
  const answer = (status, body) => {
    response.writeHead(status, { "content-type": "application/json" });
    response.end(JSON.stringify(body));
  };
  if (request.method === "GET" && request.url === "/events") return answer(200, accepted);
  if (request.method !== "POST") return answer(405, { error: "POST an envelope" });
  if (request.headers.authorization !== `Bearer ${token}`) return answer(401, { error: "bad token" });
  let body = "";
  request.on("data", (chunk) => (body += chunk));
  request.on("end", () => {
    let envelope;
    try {
      envelope = JSON.parse(body);
    } catch (err) {
      return answer(400, { error: `not JSON: ${err.message}` });
    }
    for (const required of ["sensor", "sendTime", "dataVersion", "data"]) {
      if (!(required in envelope)) return answer(400, { error: `envelope without ${required}` });
    }
    if (envelope.dataVersion !== config.dataVersion) {
      return answer(422, { error: `unsupported dataVersion ${envelope.dataVersion}; this endpoint reads ${config.dataVersion}` });
    }
    try {
      envelope.data.forEach(checkEvent);
    } catch (err) {
      return answer(400, { error: err.message });
    }
    accepted.push(...envelope.data);
    answer(200, { accepted: envelope.data.length });
  });
});
server.listen(Number(port), "127.0.0.1", () => console.log(`listening on ${port}`));
