// CloudEvents 1.0 envelopes, as the bus creates them.

/**
 * @typedef {object} TesseraEvent
 * @property {"1.0"} specversion
 * @property {string} id
 * @property {string} type
 * @property {string} source
 * @property {string} time
 * @property {any} data
 * @property {number} [seq]
 * @property {string} [epoch]
 */

/**
 * A new event id: 128 random bits from `crypto.getRandomValues` (available on plain http too,
 * unlike `crypto.randomUUID`). Nothing in it can be predicted from the ids a page has seen.
 * @returns {string}
 */
export function newId() {
  let id = "";
  for (const byte of crypto.getRandomValues(new Uint8Array(16))) id += byte.toString(16).padStart(2, "0");
  return id;
}

/**
 * @param {string} type
 * @param {any} data
 * @param {string} source
 * @returns {TesseraEvent}
 */
export function createEvent(type, data, source) {
  return {
    specversion: "1.0",
    id: newId(),
    type,
    source,
    time: new Date().toISOString(),
    data: data === undefined ? null : data,
  };
}
