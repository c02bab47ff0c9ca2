"""shell/runtime/types.d.ts cannot drift from the runtime's JSDoc: tests/types/types-match-runtime.ts
compares them under tsc, with the demo fragments, which use the declarations (tsconfig.json)."""

import json
import shutil
import subprocess

import pytest

from conftest import ROOT

TSC = ["npx", "--yes", "-p", "typescript@5", "tsc"]


def tsc(project):
    if shutil.which("npx") is None:
        pytest.fail("npx (Node.js) is needed to type-check the runtime: .ci/run runs the same tsc")
    return subprocess.run([*TSC, "-p", str(project)], capture_output=True, text=True, timeout=300, cwd=ROOT)


def test_the_runtime_its_declarations_and_the_demo_fragments_type_check():
    done = tsc(ROOT / "tsconfig.json")
    assert done.returncode == 0, done.stdout + done.stderr
    included = json.loads((ROOT / "tsconfig.json").read_text())["include"]
    assert "tests/types/*.ts" in included and "frontends/*/src/*.js" in included


def test_every_demo_fragment_types_its_context_with_the_declarations():
    for entry in sorted((ROOT / "frontends").glob("*/src/index.js")):
        text = entry.read_text()
        assert text.startswith("// @ts-check") and '../../../shell/runtime/types").FragmentContext' in text, entry


DRIFTS = {
    "a method the runtime has is missing from the declarations":
        ("shell/runtime/types.d.ts", "  last<T = any>(type: string): TesseraEvent<T> | undefined;\n", ""),
    "a declared parameter the runtime does not take":
        ("shell/runtime/types.d.ts", "subscribe<T = any>(pattern: string, handler: Handler<T>): () => void;",
         "subscribe<T = any>(pattern: string, handler: Handler<T>, options: {replay: boolean}): () => void;"),
    "a declared result the runtime does not give":
        ("shell/runtime/types.d.ts", "once<T = any>(pattern: string, options?: { timeout?: number }): "
                                     "Promise<TesseraEvent<T>>;",
         "once<T = any>(pattern: string, options?: { timeout?: number }): TesseraEvent<T>;"),
    "an event attribute declared on one side only":
        ("shell/runtime/types.d.ts", "  epoch?: string;\n", "  epoch?: string;\n  subject?: string;\n"),
    "a public method added to the runtime only":
        ("shell/runtime/bus.js", "  /** End every subscription", "  /** @param {string} type */\n"
                                                                  "  peek(type) { return this.last(type); }\n\n"
                                                                  "  /** End every subscription"),
    "a runtime parameter that became required":
        ("shell/runtime/bus.js", "   * @param {any} [data]\n", "   * @param {any} data\n"),
}


@pytest.mark.parametrize(("path", "old", "new"), list(DRIFTS.values()), ids=list(DRIFTS))
def test_a_drift_between_the_declarations_and_the_runtime_fails_the_check(tmp_path, path, old, new):
    for folder in ("shell/runtime", "tests/types"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    (tmp_path / "tsconfig.json").write_text(json.dumps({
        **json.loads((ROOT / "tsconfig.json").read_text()),
        "include": ["shell/runtime/*.js", "shell/runtime/*.d.ts", "tests/types/*.ts"]}))
    target = tmp_path / path
    assert old in target.read_text(), old
    target.write_text(target.read_text().replace(old, new, 1))
    done = tsc(tmp_path / "tsconfig.json")
    assert done.returncode != 0 and "tests/types/types-match-runtime.ts" in done.stdout, done.stdout
