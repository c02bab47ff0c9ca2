// Starts a composed page: reads the shell's config, connects the bridge, mounts fragments.

import { Bridge } from "./bridge.js";
import { mountAll } from "./fragments.js";
import { internals, tessera } from "./tessera.js";

/**
 * @typedef {object} PageConfig
 * @property {Record<string, string>} scopes  declared topic -> page | user | global
 * @property {string | null} socket           WebSocket path, or null for a page without a server mirror
 * @property {Record<string, {entry: string, version: string}>} fragments
 * @property {string | null} user
 * @property {{epoch: string, seq: number} | null} position  the server's stream position at render time
 * @property {number} maxEventBytes           the largest frame the server takes (TESSERA_MAX_EVENT_BYTES)
 */

const element = document.getElementById("tessera-config");
/** @type {PageConfig} */
const config = JSON.parse(element?.textContent ?? "{}");
const { core, settle } = internals();
core.scopes = config.scopes ?? {};

// The inspector (inspector.js) is imported only when asked: `?tessera-inspect` in the URL, or
// Alt+Shift+E. Asked by the URL, it gets the page's events from here on, its first ones too.
/** @type {import("./events.js").TesseraEvent[]} */
const early = [];
const stopEarly = new URLSearchParams(location.search).has("tessera-inspect")
  ? tessera.bus.subscribe(">", (event) => void early.push(event)) : undefined;
const inspect = () => import("./inspector.js")
  .then((inspector) => inspector.toggle(tessera, { config, early, stopEarly }))
  .catch((error) => {
    stopEarly?.();
    console.error("[tessera] the inspector failed to load:", error);
  });
addEventListener("keydown", (event) => {
  if (event.altKey && event.shiftKey && !event.ctrlKey && !event.metaKey && event.code === "KeyE") {
    event.preventDefault();
    inspect();
  }
});

if (config.socket) new Bridge(core, tessera.connection, config.socket, config.position ?? null, config.maxEventBytes).start();
mountAll(tessera.bus, config.fragments ?? {}).then(settle);
if (stopEarly) inspect();
