// Signed-out pages: sign in, sign up, verify email, forgot/reset password, accept an invite.
import { ApiError, call, keepSession } from "../lib/api.js";
import { signIn } from "../lib/signin.js";
import { cancelled } from "../lib/webauthn.js";
import { clearErrors, field, formError, h, notify, showErrors } from "../lib/dom.js";
import { go, handoff } from "../app.js";

function input(name, type, autocomplete, value = "") {
  return h("input", { name, type, autocomplete, value, required: true });
}

function card(title, intro, form, ...links) {
  return h("div", { class: "card auth" },
    h("h1", { id: "page-title" }, title),
    intro ? h("p", {}, intro) : null,
    form,
    links.length ? h("p", { class: "links" }, links) : null);
}

function link(page, text, params) {
  const query = params ? `?${new URLSearchParams(params)}` : "";
  return h("a", { href: `#/${page}${query}` }, text);
}

// A form whose submit handler reports its errors next to the fields.
function form(fields, submitLabel, onSubmit) {
  const button = h("button", { type: "submit", class: "primary" }, submitLabel);
  const node = h("form", { novalidate: true }, fields, formError(), button);
  node.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(node);
    button.disabled = true;
    try {
      await onSubmit(new FormData(node), node);
    } catch (error) {
      if (cancelled(error)) showErrors(node, { message: "Cancelled. Try again." });
      else showErrors(node, error);
    } finally {
      button.disabled = false;
    }
  });
  return node;
}

function signinPage(view, ctx) {
  const email = ctx.params.get("email") || "";
  const node = form([
    field("Email", input("email", "email", "username", email)),
    field("Password", input("password", "password", "current-password")),
  ], "Sign in", async (data, f) => {
    try {
      const token = await signIn(data.get("email"), data.get("password"), (text) => notify(text));
      keepSession(token);
      await ctx.signedIn();
    } catch (error) {
      if (error instanceof ApiError && error.body.unverified) {
        go("verify", { email: data.get("email") });
        notify("Verify your email address first: enter the code we sent.");
        return;
      }
      throw error;
    }
  });
  view.append(card("Sign in to TAP", null, node,
    link("signup", "Create an account"), " · ", link("forgot", "Forgot your password?")));
}

function signupPage(view) {
  const node = form([
    field("Team name", input("team_name", "text", "organization"), "3–64 lowercase letters, digits or hyphens, e.g. acme."),
    field("Email", input("email", "email", "email")),
    field("Password", input("password", "password", "new-password"), "At least 8 characters."),
  ], "Create account", async (data) => {
    const email = data.get("email");
    await call("POST", "/signup", { team_name: data.get("team_name"), email, password: data.get("password") }, null);
    notify("Account created. We emailed you a 6-digit code.");
    go("verify", { email });
  });
  view.append(card("Create your TAP account", "You become the owner of a new team.", node,
    "Already have an account? ", link("signin", "Sign in")));
}

function verifyPage(view, ctx) {
  const email = ctx.params.get("email") || "";
  const node = form([
    field("Email", input("email", "email", "email", email)),
    field("Code", h("input", { name: "code", type: "text", inputmode: "numeric", autocomplete: "one-time-code", pattern: "[0-9]{6}", maxlength: "6", required: true }),
      "The 6-digit code from the email. It expires in 15 minutes."),
  ], "Verify", async (data) => {
    await call("POST", "/verify-email", { email: data.get("email"), code: data.get("code") }, null);
    notify("Email verified. Sign in to continue.");
    go("signin", { email: data.get("email") });
  });
  const resend = h("button", { type: "button", class: "link" }, "Send a new code");
  resend.addEventListener("click", async () => {
    const address = node.querySelector("[name=email]").value;
    try {
      await call("POST", "/resend-verification", { email: address }, null);
      notify("A new code is on its way.");
    } catch (error) {
      showErrors(node, error);
    }
  });
  view.append(card("Verify your email", "Enter the code we emailed you.", node, resend, " · ", link("signin", "Sign in")));
}

function forgotPage(view) {
  const node = form([field("Email", input("email", "email", "email"))], "Email me a reset code", async (data) => {
    await call("POST", "/forgot-password", { email: data.get("email") }, null);
    notify("If this account exists, a reset code was sent.");
    go("reset", { email: data.get("email") });
  });
  view.append(card("Forgot your password?", "We email you a code to set a new one.", node, link("signin", "Back to sign in")));
}

function resetPage(view, ctx) {
  const node = form([
    field("Email", input("email", "email", "email", ctx.params.get("email") || "")),
    field("Code", h("input", { name: "code", type: "text", inputmode: "numeric", autocomplete: "one-time-code", maxlength: "6", required: true }), "The 6-digit code from the email."),
    field("New password", input("password", "password", "new-password"), "At least 8 characters."),
  ], "Set new password", async (data) => {
    await call("POST", "/reset-password", { email: data.get("email"), code: data.get("code"), password: data.get("password") }, null);
    notify("Password changed. Sign in with the new one.");
    go("signin", { email: data.get("email") });
  });
  view.append(card("Set a new password", "Every session of this account ends when the password changes.", node, link("signin", "Back to sign in")));
}

async function invitePage(view, ctx) {
  const token = handoff("invite_token") || ctx.params.get("token");
  if (!token) {
    view.append(card("Invitation", "This invitation link is incomplete. Ask for a new one.", null, link("signin", "Sign in")));
    return;
  }
  let info;
  try {
    info = await call("GET", `/invite/info?${new URLSearchParams({ token })}`, undefined, null);
  } catch (error) {
    view.append(card("Invitation", `This invitation cannot be used: ${error.message}`, null, link("signin", "Sign in")));
    return;
  }
  const intro = `You are invited to join ${info.team_name} as ${info.member_role} (${info.email}).`;
  if (info.next_step === "create_account") {
    const node = form([
      field("Password", input("password", "password", "new-password"), "At least 8 characters. Your email is confirmed by this link."),
    ], "Create account and join", async (data) => {
      await call("POST", "/team/members/accept", { token, password: data.get("password") }, null);
      notify(`Welcome to ${info.team_name}. Sign in to continue.`);
      go("signin", { email: info.email });
    });
    view.append(card("Accept the invitation", intro, node));
  } else {
    view.append(card("Accept the invitation", intro, null,
      info.next_step === "already_member" ? "You are already a member. " : "Sign in, then accept it under Members. ",
      ctx.me ? link("members", "Go to Members") : link("signin", "Sign in", { email: info.email })));
  }
}

const PAGES = { signin: signinPage, signup: signupPage, verify: verifyPage, forgot: forgotPage, reset: resetPage, invite: invitePage };

export async function render(view, ctx) {
  const main = h("section", { "aria-labelledby": "page-title", class: "auth-page" });
  view.append(main);
  await PAGES[ctx.page](main, ctx);
  const first = main.querySelector("input");
  if (first && !first.value) first.focus();
}
