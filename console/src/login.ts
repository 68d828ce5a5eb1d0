/**
 * Login of an operations user: phone → SendOtp (role ops) → the code → VerifyOtp. On a
 * development system the answer carries the code (devOtp), which is filled in.
 */
import { type Api, sendOtp, verifyOtp } from "./api.js";
import { h } from "./dom.js";
import { problem } from "./problem.js";

export function loginPage(api: Api, onLoggedIn: (phone: string) => void): HTMLElement {
  const phone = h("input", {
    name: "phone",
    inputmode: "tel",
    autocomplete: "tel",
    required: true,
    maxlength: 20,
    placeholder: "98765 43210",
  });
  const code = h("input", {
    name: "otp",
    inputmode: "numeric",
    autocomplete: "one-time-code",
    maxlength: 6,
    pattern: "[0-9]{6}",
    placeholder: "6 digits",
  });
  const note = h("p", { class: "hint" });
  const error = h("p", { class: "error", role: "alert" });
  const send = h("button", { type: "submit", class: "primary", name: "send" }, "Send code");
  const verify = h("button", { type: "submit", class: "primary", name: "verify" }, "Log in");
  const codeStep = h("div", { class: "code-step", hidden: true }, h("label", {}, "Code", code), note, verify);
  const form = h(
    "form",
    { class: "login" },
    h("h1", {}, "Weelo operations"),
    h("label", {}, "Phone", phone),
    send,
    codeStep,
    error,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    const sending = codeStep.hidden;
    const button = sending ? send : verify;
    button.disabled = true;
    try {
      if (sending) {
        const sent = await sendOtp(api, phone.value.trim());
        codeStep.hidden = false;
        send.hidden = true;
        phone.readOnly = true;
        if (sent.devOtp) {
          code.value = sent.devOtp;
          note.textContent = "Development system: the code came back with the answer and is filled in.";
        } else note.textContent = "The code was sent by SMS.";
        code.focus();
      } else {
        await verifyOtp(api, phone.value.trim(), code.value.trim());
        onLoggedIn(phone.value.trim());
      }
    } catch (caught) {
      error.textContent = problem(caught);
    } finally {
      button.disabled = false;
    }
  });
  return h("main", { class: "login-page" }, form);
}
