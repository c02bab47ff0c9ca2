// @ts-check  (types: shell/runtime/types.d.ts; tsc -p tsconfig.json checks this file)
// recommendations fragment: "Pairs well with…". It listens to cart.item.added — whoever
// published it — and publishes the very same topic from its own "Add" buttons.
// It knows the catalog only by SKU, through this small static table.

/**
 * @typedef {import("../../../shell/runtime/types").TesseraEvent<any>} TesseraEvent
 * @typedef {import("../../../shell/runtime/types").FragmentContext} Ctx
 */

/** @type {Record<string, string[]>} catalog SKU -> three accessory SKUs */
const PAIRINGS = {
  "eth-yirgacheffe": ["acc-filters", "acc-carafe", "acc-journal"],
  "col-huila": ["acc-cups", "acc-canister", "acc-scale"],
  "ken-nyeri": ["acc-scale", "acc-thermometer", "acc-journal"],
  "gua-antigua": ["acc-cups", "acc-canister", "acc-carafe"],
  "sum-decaf": ["acc-canister", "acc-cups", "acc-filters"],
  "gear-dripper": ["acc-filters", "acc-carafe", "acc-scale"],
  "gear-kettle": ["acc-thermometer", "acc-scale", "acc-filters"],
  "gear-grinder": ["acc-brush", "acc-canister", "acc-scale"],
};
const ADDED_FEEDBACK_MS = 1200;

/**
 * @param {HTMLElement} el
 * @param {Ctx} ctx
 */
export function mount(el, ctx) {
  const grid = /** @type {HTMLElement} */ (el.querySelector(".recs-grid"));
  const title = /** @type {HTMLElement} */ (el.querySelector(".recs-title"));
  /** @type {Set<ReturnType<typeof setTimeout>>} */
  const timers = new Set();

  /** @param {string} sku */
  const card = (sku) =>
    /** @type {HTMLElement|null} */ (el.querySelector(`.recs-card[data-sku="${CSS.escape(sku)}"]`));

  /**
   * Show exactly these accessories, in this order, with a short fade-in.
   * @param {string[]} skus
   */
  function show(skus) {
    const picked = skus.map(card).filter((c) => c !== null);
    if (!picked.length) return;
    el.querySelectorAll(".recs-card").forEach((c) => { /** @type {HTMLElement} */ (c).hidden = true; });
    picked.forEach((c, i) => {
      grid.append(c); // reorder
      c.hidden = false;
      c.style.setProperty("--recs-delay", `${i * 70}ms`);
      c.classList.remove("is-fresh");
      void c.offsetWidth; // restart the animation
      c.classList.add("is-fresh");
    });
  }

  /** @param {TesseraEvent} event */
  function onAdded(event) {
    const sku = event.data?.sku;
    const pairs = typeof sku === "string" ? PAIRINGS[sku] : undefined;
    if (!pairs) return; // an accessory itself: keep the current suggestions
    title.textContent = String(event.data.name ?? "your pick");
    show(pairs);
  }

  /** @param {HTMLButtonElement} button */
  function add(button) {
    const c = button.closest(".recs-card");
    const price = Number(c?.getAttribute("data-price"));
    const name = c?.getAttribute("data-name");
    const sku = c?.getAttribute("data-sku");
    if (!sku || !name || !Number.isFinite(price)) return;
    ctx.bus.publish("cart.item.added", { sku, name, price, qty: 1 });
    const label = button.querySelector(".recs-add-label");
    button.classList.add("is-added");
    if (label) label.textContent = "Added";
    const t = setTimeout(() => {
      timers.delete(t);
      button.classList.remove("is-added");
      if (label) label.textContent = "Add";
    }, ADDED_FEEDBACK_MS);
    timers.add(t);
  }

  /** @param {MouseEvent} e */
  function onClick(e) {
    const b = /** @type {HTMLElement} */ (e.target).closest('button[data-action="add"]');
    if (b instanceof HTMLButtonElement && el.contains(b)) add(b);
  }

  el.addEventListener("click", onClick);
  ctx.bus.subscribe("cart.item.added", onAdded);
  const last = ctx.bus.last?.("cart.item.added");
  if (last) onAdded(last);

  return () => {
    el.removeEventListener("click", onClick);
    timers.forEach(clearTimeout);
  };
}
