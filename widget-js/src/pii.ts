/**
 * PII redaction of explicit properties (SPEC 3), a port of yavio_sdk/pii.py: the same kinds,
 * the same tokens, the same answer on every case of tests/pii_vectors.json.
 *
 * Every pattern has bounded quantifiers and starts only where a lookbehind says a new token
 * begins, so a string costs time linear in its length whatever it holds.
 *
 * One deliberate difference: `\w` here is ASCII, Python's is Unicode. Every `\w` is in a
 * boundary check ("not right after a word character"), so next to a non-ASCII letter this port
 * may redact where Python would not, never the reverse. Unicode property classes would match
 * Python exactly but cost ~8 ms of regex compilation on the page's main thread (measured in V8).
 */

export const EMAIL_TOKEN = "[EMAIL_REDACTED]";
export const CARD_TOKEN = "[CC_REDACTED]";
export const SSN_TOKEN = "[SSN_REDACTED]";
export const PHONE_TOKEN = "[PHONE_REDACTED]";
export const ADDRESS_TOKEN = "[ADDRESS_REDACTED]";
export const IP_TOKEN = "[IP_REDACTED]";
export const SECRET_TOKEN = "[SECRET_REDACTED]";

const W = "\\w";
const NOT_WORD_AFTER = `(?!${W})`;

// Cap for "N or more characters" runs: an event is at most 51,200 bytes, so this never cuts a
// real value; it only keeps every quantifier bounded.
const RUN = 65536;

const pattern = (source: string, flags = "g"): RegExp => new RegExp(source, flags);

/** `first` (fixed width), refused right after any of `notAfter` (see pii.py's `_starts`). */
function starts(first: string, ...notAfter: string[]): string {
  return first + notAfter.map((before) => `(?<!${before}${first})`).join("");
}

// Numbers stand on their own: not glued to an identifier, not the tail of a decimal, not right
// after a token this module inserted.
const NOT_AFTER_NUMBER = [`[${W}.\\]]`, `${W}[-+]`];
const NUM_END = `(?![${W}\\[])(?![.-]${W})`;

const NUMBER_RUN = pattern(starts("\\d", ...NOT_AFTER_NUMBER) + "(?:[ ().-]{0,2}\\d){8}", "");

// --- secrets ---------------------------------------------------------------------------------

const PREFIXED_SECRET = pattern(
  [
    starts("yav_", "[A-Za-z0-9]") + "[0-9a-f]{64}",
    starts("yat_", "[A-Za-z0-9]") + `[A-Za-z0-9_-]{32,${RUN}}`,
    starts("eyJ", "[A-Za-z0-9_-]") +
      `[A-Za-z0-9_-]{1,${RUN}}\\.[A-Za-z0-9_-]{1,${RUN}}\\.[A-Za-z0-9_-]{0,${RUN}}`,
    starts("sk-", "[A-Za-z0-9_-]") + `[A-Za-z0-9_-]{20,${RUN}}`,
    starts("ghp_", "[A-Za-z0-9_]") + `[A-Za-z0-9]{36,${RUN}}`,
  ].join("|"),
);

const BEARER = pattern(starts("[Bb]", W) + `(?:earer|EARER)[ \\t]{1,4}([A-Za-z0-9._~+/-]{6,${RUN}}={0,3})`);

/**
 * The credential after `Bearer` is redacted, an English word ("Bearer tokens") is not: a token
 * needs a digit, or 20+ characters mixing upper and lower case.
 */
function bearerToken(whole: string, captured: string): string {
  const token = captured.replace(/\.+$/, "");
  const hasDigit = /\d/.test(token);
  const randomCase = token.length >= 20 && token.toLowerCase() !== token && token !== token.toUpperCase();
  if (token.length >= 6 && (hasDigit || randomCase)) {
    const start = whole.length - captured.length;
    return whole.slice(0, start) + SECRET_TOKEN + whole.slice(start + token.length);
  }
  return whole;
}

// --- email -----------------------------------------------------------------------------------

const EMAIL = pattern(
  starts("[A-Za-z0-9._%+-]", "[A-Za-z0-9._%+\\]-]") +
    "[A-Za-z0-9._%+-]{0,63}" +
    "@[A-Za-z0-9-][A-Za-z0-9.-]{0,229}\\.[A-Za-z]{2,24}(?![A-Za-z0-9\\[-])",
);

// --- payment card ----------------------------------------------------------------------------

// Cards start with 2-6, which keeps the Luhn-valid epoch timestamps (all start with 1) intact.
const CARD = pattern(
  starts("[2-6]", ...NOT_AFTER_NUMBER, "\\d[ -]") + "(?:[ -]?\\d){12,18}(?![ -]?\\d)" + NUM_END,
);
const LUHN_DOUBLED = [0, 2, 4, 6, 8, 1, 3, 5, 7, 9];

function luhnValid(digits: string): boolean {
  let total = 0;
  for (let i = digits.length - 1, doubled = false; i >= 0; i--, doubled = !doubled) {
    const digit = digits.charCodeAt(i) - 48;
    total += doubled ? LUHN_DOUBLED[digit] : digit;
  }
  return total % 10 === 0;
}

const card = (text: string): string => (luhnValid(text.replace(/[ -]/g, "")) ? CARD_TOKEN : text);

// --- SSN and ITIN ----------------------------------------------------------------------------

// Area 000 and 666 are never issued; 9xx is the ITIN range, which takes the same token.
const SSN = pattern(
  starts("\\d", ...NOT_AFTER_NUMBER) + "\\d{2}(?<!000)(?<!666)([- ]?)\\d{2}\\1\\d{4}" + NUM_END,
);

// --- phone -----------------------------------------------------------------------------------

// Without a `+` the number must show a parenthesis or a separator: a bare run of 10 digits is
// an id or an epoch timestamp, not a phone.
const NATIONAL =
  "(?:\\(\\d{3}\\)[-. ]?\\d{3}[-. ]?\\d{4}" + "|\\d{3}[-. ]\\d{3}[-. ]?\\d{4}" + "|\\d{6}[-. ]\\d{4})";
const PHONE = pattern(
  starts("[+(0-9]", ...NOT_AFTER_NUMBER) +
    "(?:(?<=\\+)\\d{1,3}[-. ]?(?:" +
    NATIONAL +
    "|\\d{10})" +
    "|(?<=\\()\\d{3}\\)[-. ]?\\d{3}[-. ]?\\d{4}" +
    "|(?<=\\d)(?:\\d{0,2}[-. ]" +
    NATIONAL +
    "|\\d{2}[-. ]\\d{3}[-. ]?\\d{4}|\\d{5}[-. ]\\d{4}))" +
    NUM_END,
);

// --- US street address -----------------------------------------------------------------------

const STREET_SUFFIX =
  "Street|St|Avenue|Ave|Boulevard|Blvd|Drive|Dr|Lane|Ln|Road|Rd|Court|Ct|Place|Pl|Way" +
  "|Circle|Cir|Terrace|Ter|Trail|Trl|Parkway|Pkwy|Highway|Hwy";
const ADDRESS = pattern(
  starts("\\d", `[${W}.,\\]]`) +
    "\\d{0,5}[ \\t]{1,3}" +
    "(?:[A-Z][A-Za-z'.-]{0,24}[ \\t]{1,3}){1,5}" +
    `(?:${STREET_SUFFIX})${NOT_WORD_AFTER}\\.?` +
    `(?:,?[ \\t]{0,3}(?:#|Apt${NOT_WORD_AFTER}\\.?|Suite${NOT_WORD_AFTER}|Ste${NOT_WORD_AFTER}\\.?|Unit${NOT_WORD_AFTER})` +
    "[ \\t]{0,3}[0-9A-Za-z][0-9A-Za-z-]{0,5})?" +
    `(?![${W}\\[])`,
);

// --- IP addresses ----------------------------------------------------------------------------

const IPV4 = pattern(starts("\\d", `[${W}.\\]]`) + `\\d{0,2}(?:\\.\\d{1,3}){3}(?![${W}\\[])(?!\\.\\d)`);

const ipv4 = (text: string): string =>
  text.split(".").every((part) => Number(part) <= 255) ? IP_TOKEN : text;

const OCTET = "(?:25[0-5]|2[0-4]\\d|1\\d{2}|0?\\d?\\d)";
const IPV4_BODY = `${OCTET}(?:\\.${OCTET}){3}`;
const H = "[0-9A-Fa-f]{1,4}";
// Full form, every compressed form (each needs a `::` with a group on at least one side, so a
// bare `::`, `std::vector` and a time like 12:30:45 never match), and IPv4-mapped tails.
const IPV6_FORMS = [
  `(?:${H}:){6}${IPV4_BODY}`,
  `::(?:[Ff]{4}(?::0{1,4})?:)?${IPV4_BODY}`,
  `(?:${H}:){1,4}:${IPV4_BODY}`,
  `(?:${H}:){7}${H}`,
  `(?:${H}:){1,7}:`,
  `(?:${H}:){1,6}:${H}`,
  `(?:${H}:){1,5}(?::${H}){1,2}`,
  `(?:${H}:){1,4}(?::${H}){1,3}`,
  `(?:${H}:){1,3}(?::${H}){1,4}`,
  `(?:${H}:){1,2}(?::${H}){1,5}`,
  `${H}:(?::${H}){1,6}`,
  `:(?::${H}){1,7}`,
];
const IPV6 = pattern(`(?<![${W}:.\\]])(?:${IPV6_FORMS.join("|")})(?![${W}:\\[])(?!\\.\\d)`);
const IPV6_FULL_HINT = pattern("(?::[0-9A-Fa-f]{1,4}){6}:", "");

// All-letter hex around `::` is far likelier a scoped name (`dead::beef`) than an address.
const ipv6 = (text: string): string => (/\d/.test(text) ? IP_TOKEN : text);

// --- driver ----------------------------------------------------------------------------------

// Passes run until nothing changes, which makes redaction idempotent (see pii.py).
const MAX_PASSES = 4;

function redactPass(input: string): string {
  // Secrets first: their bodies hold digits the other rules could carve a piece out of.
  let text = input.replace(PREFIXED_SECRET, SECRET_TOKEN);
  if (text.includes("earer") || text.includes("EARER")) text = text.replace(BEARER, bearerToken);
  if (text.includes("@")) text = text.replace(EMAIL, EMAIL_TOKEN);
  if (NUMBER_RUN.test(text)) {
    text = text.replace(CARD, card).replace(SSN, SSN_TOKEN).replace(PHONE, PHONE_TOKEN);
  }
  if (text.includes(" ") || text.includes("\t")) text = text.replace(ADDRESS, ADDRESS_TOKEN);
  if (text.includes("::") || IPV6_FULL_HINT.test(text)) text = text.replace(IPV6, ipv6);
  if (text.split(".").length > 3) text = text.replace(IPV4, ipv4);
  return text;
}

/**
 * `text` with every PII match replaced by its token; idempotent. Unlike pii.py there is no
 * up-front "cannot hold PII" test: the widget redacts a few property strings, not every event
 * an ingest receives, and every pattern but the key prefixes (one scan for literal prefixes)
 * runs only when the text holds what it needs.
 */
export function redactText(text: string): string {
  let current = text;
  for (let pass = 0; pass < MAX_PASSES; pass++) {
    const redacted = redactPass(current);
    if (redacted === current) break;
    current = redacted;
  }
  return current;
}

/**
 * A redacted copy of a JSON-like value, never mutating it: strings at any depth of arrays and
 * objects; keys, numbers, booleans, null and objects with `toJSON` (dates) are kept. Whatever
 * holds no PII comes back as the same object. A container holding itself is cut with
 * "[Circular]".
 */
export function redact<T>(value: T): T {
  return redactValue(value, new Set()) as T;
}

function redactValue(value: unknown, onPath: Set<object>): unknown {
  if (typeof value === "string") return redactText(value);
  // Objects JSON sends member by member; a Date (anything with `toJSON`) is sent as it says.
  if (!value || typeof value !== "object" || typeof (value as { toJSON?: unknown }).toJSON === "function") {
    return value;
  }
  if (onPath.has(value)) return "[Circular]";
  onPath.add(value);
  const container = value as Record<string, unknown>;
  let copy: Record<string, unknown> | undefined;
  for (const key of Object.keys(container)) {
    const redacted = redactValue(container[key], onPath);
    if (redacted !== container[key]) {
      copy ??= (Array.isArray(value) ? [...value] : { ...container }) as Record<string, unknown>;
      copy[key] = redacted;
    }
  }
  onPath.delete(value);
  return copy ?? value;
}
