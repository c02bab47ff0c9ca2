// Topic names and patterns: the browser's copy of server/tessera/topics.py.
// Both are pinned by tests/topic_cases.json.

export const MAX_TOPIC_LENGTH = 200;
const SEGMENT = /^[A-Za-z0-9_-]+$/;

/**
 * Why `text` is not a valid topic (or pattern, when `pattern` is true); null when it is.
 * @param {unknown} text
 * @param {boolean} [pattern]
 * @returns {string | null}
 */
export function topicProblem(text, pattern = false) {
  const kind = pattern ? "pattern" : "topic";
  if (typeof text !== "string" || text === "") return `${kind} must be a non-empty string`;
  if (text.length > MAX_TOPIC_LENGTH) return `${kind} is longer than ${MAX_TOPIC_LENGTH} characters`;
  const segments = text.split(".");
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i];
    if (pattern && segment === "*") continue;
    if (pattern && segment === ">") {
      if (i !== segments.length - 1) return `'>' may only be the last segment of a pattern: ${text}`;
      continue;
    }
    if (!SEGMENT.test(segment)) return `${kind} segment "${segment}" must match [A-Za-z0-9_-]+: ${text}`;
  }
  return null;
}

/**
 * A function testing topics against `pattern` (assumed valid), split once, not per event.
 * @param {string} pattern
 * @returns {(topic: string) => boolean}
 */
export function compile(pattern) {
  if (!pattern.includes("*") && !pattern.includes(">")) return (topic) => topic === pattern;
  const want = pattern.split(".");
  const rest = want[want.length - 1] === ">";
  return (topic) => {
    const have = topic.split(".");
    if (rest ? have.length < want.length : have.length !== want.length) return false;
    for (let i = 0; i < want.length; i++) {
      if (want[i] === ">") return true;
      if (want[i] !== "*" && want[i] !== have[i]) return false;
    }
    return true;
  };
}

/**
 * Whether `topic` matches `pattern` (both assumed valid).
 * @param {string} pattern
 * @param {string} topic
 */
export function matches(pattern, topic) {
  return compile(pattern)(topic);
}
