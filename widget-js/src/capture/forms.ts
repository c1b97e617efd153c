import type { CaptureContext } from "../events";
import { describeElement, fieldName, isFormField } from "./elements";
import { WATCH } from "./listen";

/**
 * `widget_form_field` when a field loses focus (its name and the time spent in it) and
 * `widget_form_submit` when a form is submitted (with its count of invalid fields) or its
 * submission is blocked by validation. A field's value is never read.
 */
export function captureForms({ emit, listen, onStop, onLeave }: CaptureContext): void {
  let focused: { field: Element; since: number } | undefined;

  const leaveField = () => {
    if (!focused) return;
    const { field, since } = focused;
    focused = undefined;
    emit("widget_form_field", {
      field_name: fieldName(field),
      metadata: {
        field_type: field instanceof HTMLInputElement ? field.type : field.tagName.toLowerCase(),
        time_spent_ms: Date.now() - since,
      },
    });
  };

  const submitted = (form: HTMLFormElement, status: string, invalid: number) =>
    emit("widget_form_submit", {
      metadata: { form: describeElement(form), status, validation_errors: invalid },
    });

  // A submission blocked by validation fires `invalid` on each invalid field, one after the
  // other in the same task: count them, then report the attempt once.
  let blocked: { form: HTMLFormElement; count: number } | undefined;
  const reportBlocked = () => {
    if (blocked) submitted(blocked.form, "invalid", blocked.count);
    blocked = undefined;
  };

  listen<FocusEvent>(
    document,
    "focusin",
    (event) => {
      leaveField();
      if (isFormField(event.target)) focused = { field: event.target, since: Date.now() };
    },
    WATCH,
  );
  listen<FocusEvent>(
    document,
    "focusout",
    (event) => {
      if (focused?.field === event.target) leaveField();
    },
    WATCH,
  );
  listen<SubmitEvent>(
    document,
    "submit",
    (event) => {
      const form = event.target;
      if (!(form instanceof HTMLFormElement)) return;
      // `validity`, not `checkValidity()`: the latter fires `invalid` events of its own.
      const invalid = Array.from(form.elements).filter(
        (element) => isFormField(element) && !element.validity.valid,
      ).length;
      submitted(form, invalid ? "error" : "success", invalid);
    },
    WATCH,
  );
  listen(
    document,
    "invalid",
    (event) => {
      const form = isFormField(event.target) ? event.target.form : null;
      if (!form) return;
      if (blocked?.form !== form) {
        reportBlocked();
        blocked = { form, count: 0 };
        setTimeout(reportBlocked, 0);
      }
      blocked.count++;
    },
    { capture: true },
  );
  onStop(leaveField);
  onLeave(() => {
    leaveField();
    reportBlocked();
  });
}
