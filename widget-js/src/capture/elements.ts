/** How an element is named in events: tag, id and first class, never its text or value. */
export function describeElement(element: Element): string {
  const cls = element.classList[0];
  return (
    element.tagName.toLowerCase() +
    (element.id ? "#" + element.id : "") +
    (cls ? "." + cls : "")
  ).slice(0, 200);
}

const NOT_TYPED_INTO = new Set(["button", "submit", "reset", "image", "hidden"]);

/** The form controls a person types into or picks from (buttons are clicks, not fields). */
export function isFormField(
  target: EventTarget | null,
): target is HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement {
  if (target instanceof HTMLInputElement) return !NOT_TYPED_INTO.has(target.type);
  return target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement;
}

/** A field's name as its developer gave it (`name`, `id`, `aria-label`), never its value. */
export function fieldName(field: Element): string {
  const name =
    field.getAttribute("name") || field.id || field.getAttribute("aria-label") || field.tagName.toLowerCase();
  return name.slice(0, 128);
}
