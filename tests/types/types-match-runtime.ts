// shell/runtime/types.d.ts (what fragment authors see) against the runtime's own JSDoc types.
// tsc -p tsconfig.json fails on any line below when the two drift apart: a method added, removed or
// renamed on one side only, a parameter added or made required, a return type changed. Run by
// .ci/run and by tests/test_types.py (which also proves that a drifted copy fails).

import type * as Declared from "../../shell/runtime/types";
import type { Bus as RuntimeBus } from "../../shell/runtime/bus.js";
import type { TesseraEvent as RuntimeEvent } from "../../shell/runtime/events.js";
import type { FragmentContext as RuntimeContext } from "../../shell/runtime/fragments.js";
import type * as Runtime from "../../shell/runtime/tessera.js";

/** true when each of A and B is assignable to the other. */
type Mutual<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false;
/** Members of the runtime's Bus that fragments never see (the runtime's own plumbing). */
type Plumbing = "core" | "owner" | "scoped" | "dispose";
type Method<O, K extends keyof O> = O[K] extends (...args: infer A) => infer R ? [A, R] : never;

function expect<T extends true>(): T | void {}

// The same members, by name.
expect<Same<Exclude<keyof RuntimeBus, Plumbing>, keyof Declared.Bus>>();
expect<Same<keyof RuntimeEvent, keyof Declared.TesseraEvent>>();
expect<Same<keyof RuntimeContext, keyof Declared.FragmentContext>>();
expect<Same<keyof typeof Runtime, keyof typeof import("../../shell/runtime/types") | "internals">>();

// Each method: the same parameters (count, optionality, types) and a compatible result.
expect<Mutual<Method<RuntimeBus, "publish">, Method<Declared.Bus, "publish">>>();
expect<Mutual<Method<RuntimeBus, "subscribe">, Method<Declared.Bus, "subscribe">>>();
expect<Mutual<Method<RuntimeBus, "once">, Method<Declared.Bus, "once">>>();
expect<Mutual<Method<RuntimeBus, "last">, Method<Declared.Bus, "last">>>();
expect<Mutual<Method<RuntimeBus, "request">, Method<Declared.Bus, "request">>>();
expect<Mutual<Method<RuntimeBus, "respond">, Method<Declared.Bus, "respond">>>();
expect<Mutual<RuntimeBus["source"], Declared.Bus["source"]>>();

// Whole values: what the runtime hands fragments is what the declarations promise, and back.
expect<Mutual<RuntimeEvent, Declared.TesseraEvent<any>>>();
expect<Mutual<Omit<RuntimeContext, "bus">, Omit<Declared.FragmentContext, "bus">>>();
declare const runtimeBus: RuntimeBus;
declare const runtimeContext: RuntimeContext;
export const asDeclared: Declared.Bus = runtimeBus;
export const contextAsDeclared: Declared.FragmentContext = runtimeContext;
expect<Mutual<typeof Runtime.tessera.connection.state, Declared.Connection["state"]>>();
expect<Mutual<typeof Runtime.ready, typeof import("../../shell/runtime/types").ready>>();
