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
if (config.socket) new Bridge(core, tessera.connection, config.socket, config.position ?? null, config.maxEventBytes).start();
mountAll(tessera.bus, config.fragments ?? {}).then(settle);
