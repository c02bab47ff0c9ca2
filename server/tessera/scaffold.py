"""``tessera new NAME``: a fragment folder that mounts, ready to edit."""

from __future__ import annotations

from pathlib import Path

from .manifest import NAME
from .topics import is_reserved

FILES = {
    "fragment.toml": '''name = "{name}"
version = "0.1.0"
slot = "aside"
entry = "src/index.js"
styles = ["src/{name}.css"]
template = "src/{name}.html"
fallback = "<p>{title} is unavailable right now.</p>"

# Declare what this fragment publishes; user and global topics reach the server.
[publishes."{name}.clicked"]
scope = "page"

[subscribes."{name}.>"]
''',
    "src/index.js": '''// The {name} fragment. ctx: {{bus, name, version, props}} (see shell/runtime/types.d.ts).

/**
 * @param {{HTMLElement}} el  this fragment's <tessera-fragment>, with the server-rendered template inside
 * @param {{any}} ctx
 */
export function mount(el, ctx) {{
  let clicks = 0;
  const button = el.querySelector("button");
  const onClick = () => ctx.bus.publish("{name}.clicked", {{ at: Date.now() }});
  button?.addEventListener("click", onClick);
  ctx.bus.subscribe("{name}.clicked", () => {{
    el.querySelector("[data-count]").textContent = String(++clicks);
  }});
  return () => button?.removeEventListener("click", onClick);
}}
''',
    "src/{name}.html": '''<section class="{name}">
  <h2>{title}</h2>
  <p>Clicked <span data-count>0</span> times.</p>
  <button type="button">Click me</button>
</section>
''',
    "src/{name}.css": '''.{name} {{
  padding: 1rem;
  border: 1px solid var(--tessera-border, #ddd);
  border-radius: var(--tessera-radius, 8px);
}}
''',
}


class ScaffoldError(ValueError):
    """The fragment cannot be created as asked."""


def create(folder: Path, name: str) -> list[Path]:
    """Write ``folder/name`` with a working fragment; returns the files written."""
    if not NAME.fullmatch(name):
        raise ScaffoldError(f"NAME {name!r} must match [a-z][a-z0-9-]*")
    if is_reserved(f"{name}.clicked"):
        raise ScaffoldError(f"NAME {name!r} would publish topics under the reserved prefix 'tessera.'; pick another")
    root = folder / name
    if root.exists():
        raise ScaffoldError(f"{root} already exists; pick another name or remove it")
    title = name.replace("-", " ").capitalize()
    written = []
    for relative, text in FILES.items():
        path = root / relative.format(name=name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.format(name=name, title=title))
        written.append(path)
    return written
