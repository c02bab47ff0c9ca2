// The brew timer: a Preact component mounted by Tessera. It talks to the rest of the page only
// through ctx.bus: it offers to brew what was just added to the cart (cart.item.added) and
// announces brew.started and brew.ready.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";

export const METHODS = { espresso: 28, "pour-over": 210, "french-press": 240 };

function BrewTimer({ bus, version }) {
  const [method, setMethod] = useState("pour-over");
  const [left, setLeft] = useState(null); // seconds left, null when idle
  const [coffee, setCoffee] = useState(null); // the name of the coffee last added to the cart

  useEffect(() => bus.subscribe("cart.item.added", (event) => setCoffee(event.data.name)), [bus]);

  useEffect(() => {
    if (left === null) return undefined;
    if (left === 0) {
      bus.publish("brew.ready", { method, coffee });
      return undefined;
    }
    const tick = setTimeout(() => setLeft(left - 1), 1000);
    return () => clearTimeout(tick);
  }, [left]);

  const start = () => {
    setLeft(METHODS[method]);
    bus.publish("brew.started", { method, coffee, seconds: METHODS[method] });
  };
  const clock = left ?? METHODS[method];
  const status = left === null ? "idle" : left === 0 ? "ready" : "brewing";
  const done = left === null ? 0 : 1 - left / METHODS[method];
  return (
    <section class="brew" data-status={status} aria-label="Brew timer">
      <div class="brew-head">
        <h2>Brew timer</h2>
        <span class="brew-badge" title="Built with Preact and esbuild, served by its own process">
          Preact · v{version}
        </span>
      </div>
      <p class="brew-coffee" data-test="brew-coffee">{coffee ? `Brew your ${coffee}` : "Add a coffee to brew it"}</p>
      <div class="brew-methods" role="group" aria-label="Brewing method">
        {Object.keys(METHODS).map((name) => (
          <button type="button" aria-pressed={String(name === method)} disabled={status === "brewing"}
                  onClick={() => { setMethod(name); setLeft(null); }}>{name}</button>
        ))}
      </div>
      <div class="brew-dial" style={{ "--brew-done": done }}>
        <output class="brew-clock" data-test="brew-clock" aria-live="polite">
          {Math.floor(clock / 60)}:{String(clock % 60).padStart(2, "0")}
        </output>
      </div>
      <button type="button" class="brew-start" data-test="brew-start" onClick={start} disabled={status === "brewing"}>
        {status === "ready" ? "Ready! Brew again" : status === "brewing" ? "Brewing…" : "Start brewing"}
      </button>
      <small class="brew-foot">Its own team, its own build, its own process.</small>
    </section>
  );
}

/** Tessera's entry: render into the fragment's element; the returned function unmounts. */
export function mount(el, ctx) {
  render(<BrewTimer bus={ctx.bus} version={ctx.version} />, el);
  return () => render(null, el);
}
