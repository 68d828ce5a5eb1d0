/**
 * An intervention asks for its reason (required, 1 to 500 characters, kept in the audit trail)
 * and any other input in a dialog, runs the call, and stays open with the server's answer when
 * it is refused.
 */
import { newIdempotencyKey } from "@weelo/client";
import { h } from "./dom.js";
import { problem } from "./problem.js";

export interface InterventionField {
  name: string;
  label: string;
  placeholder?: string;
}

export interface Intervention {
  title: string;
  /** What will happen, in a sentence. */
  description: string;
  confirm: string;
  fields?: InterventionField[];
  /**
   * Makes the call with the dialog's idempotency key (one per dialog: confirming again after a
   * lost answer acts once, and is audited once); its answer says what was done.
   */
  run(reason: string, values: Record<string, string>, idempotencyKey: string): Promise<string>;
}

/** Opens the dialog; resolves with the call's answer, or undefined when the user went back. */
export function intervene(intervention: Intervention): Promise<string | undefined> {
  return new Promise((resolve) => {
    const error = h("p", { class: "error", role: "alert" });
    const inputs = (intervention.fields ?? []).map((field) =>
      h("input", { name: field.name, required: true, maxlength: 64, placeholder: field.placeholder ?? "" }),
    );
    const reason = h("textarea", {
      name: "reason",
      required: true,
      minlength: 1,
      maxlength: 500,
      rows: 3,
      placeholder: "Why (shown in the audit trail)",
    });
    const confirm = h("button", { type: "submit", class: "danger" }, intervention.confirm);
    const back = h("button", { type: "button", value: "back" }, "Back");
    const form = h(
      "form",
      { method: "dialog", class: "intervention" },
      h("h2", {}, intervention.title),
      h("p", {}, intervention.description),
      ...(intervention.fields ?? []).map((field, i) => h("label", {}, field.label, inputs[i])),
      h("label", {}, "Reason", reason),
      error,
      h("div", { class: "buttons" }, back, confirm),
    );
    const dialog = h("dialog", { class: "intervention-dialog" }, form);
    let answer: string | undefined;
    const idempotencyKey = newIdempotencyKey();
    const close = () => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    back.addEventListener("click", close);
    dialog.addEventListener("cancel", () => setTimeout(close));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const text = reason.value.trim();
      if (!text) {
        error.textContent = "A reason is required.";
        return;
      }
      const values = Object.fromEntries(inputs.map((input) => [input.name, input.value.trim()]));
      confirm.disabled = true;
      error.textContent = "";
      try {
        answer = await intervention.run(text, values, idempotencyKey);
        close();
      } catch (caught) {
        error.textContent = problem(caught);
        confirm.disabled = false;
      }
    });
    document.body.append(dialog);
    dialog.showModal();
    (inputs[0] ?? reason).focus();
  });
}
