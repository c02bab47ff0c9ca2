// Fragment lifecycle: each <tessera-fragment> gets its module mounted, or its fallback.
// data-state: loading -> mounted | failed. Removing the element unmounts the fragment.
// Entries may be absolute URLs (remote fragments, served with CORS by their own service).

import { guard, report } from "./bus.js";

/** @typedef {import("./bus.js").Bus} Bus */
/** @typedef {{entry: string, version: string}} FragmentInfo */
/** @typedef {{bus: Bus, name: string, version: string, props: Record<string, any>}} FragmentContext */

/** @type {WeakMap<Element, () => void>} how to unmount each mounted element */
const unmounts = new WeakMap();

/** The <tessera-fragment> element: unmounts its fragment when it leaves the document. */
export class TesseraFragment extends HTMLElement {
  disconnectedCallback() {
    queueMicrotask(() => {
      if (!this.isConnected) unmount(this);
    });
  }
}

/**
 * Mount every fragment of the page; resolves when each has settled (mounted or failed).
 * @param {Bus} bus  the page's bus; each fragment gets bus.scoped(name)
 * @param {Record<string, FragmentInfo>} infos
 * @returns {Promise<void>}
 */
export async function mountAll(bus, infos) {
  if (!customElements.get("tessera-fragment")) customElements.define("tessera-fragment", TesseraFragment);
  const elements = [...document.querySelectorAll("tessera-fragment")];
  await Promise.all(elements.map((el) => mount(el, bus, infos[el.getAttribute("name") ?? ""])));
}

/**
 * @param {Element} el
 * @param {Bus} bus
 * @param {FragmentInfo | undefined} info
 */
async function mount(el, bus, info) {
  const name = el.getAttribute("name") ?? "?";
  if (el.getAttribute("data-state") === "failed") {
    return report(name, "server-side render", new Error("see the server log; showing the fallback"));
  }
  const fragmentBus = bus.scoped(name);
  try {
    if (!info) throw new Error("the page's config does not list this fragment");
    // A streamed page fills late fragments before this runs; a placeholder left means the page was cut short.
    if (el.hasAttribute("data-pending")) throw new Error("its server-rendered content never arrived");
    const module = await import(info.entry);
    if (typeof module.mount !== "function") throw new Error(`${info.entry} does not export mount(el, ctx)`);
    /** @type {FragmentContext} */
    const ctx = Object.freeze({ bus: fragmentBus, name, version: info.version, props: readProps(el) });
    const result = await module.mount(el, ctx);
    const own = typeof result === "function" ? result : module.unmount?.bind(module, el, ctx);
    unmounts.set(el, () => {
      fragmentBus.dispose();
      if (own) guard(name, "unmount", own);
    });
    el.setAttribute("data-state", "mounted");
  } catch (error) {
    fragmentBus.dispose();
    report(name, "mount", error);
    showFallback(el);
    el.setAttribute("data-state", "failed");
  }
}

/** @param {Element} el */
function unmount(el) {
  const stop = unmounts.get(el);
  unmounts.delete(el);
  stop?.();
}

/** @param {Element} el */
function readProps(el) {
  try {
    return JSON.parse(el.getAttribute("data-props") ?? "{}");
  } catch {
    return {};
  }
}

/** @param {Element} el */
function showFallback(el) {
  const template = el.querySelector(":scope > template[data-tessera-fallback]");
  const box = document.createElement("div");
  box.className = "tessera-fallback";
  if (template instanceof HTMLTemplateElement) box.append(template.content.cloneNode(true));
  el.replaceChildren(box);
}

