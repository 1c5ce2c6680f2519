// The dashboard shell: who is signed in, the team switcher, the navigation,
// and a hash router that loads one page module at a time. Every page is a
// client of the admin API; the shell holds no data of its own.
import { ApiError, call, dropSession, sessionToken } from "./lib/api.js";
import { ageNotice, h, notify } from "./lib/dom.js";

// Signed-in pages, in navigation order, and the capability each needs
// (any of the list). Security is everyone's.
const PAGES = [
  { route: "approvals", title: "Approvals", needs: ["approve_requests"] },
  { route: "credentials", title: "Credentials", needs: ["manage_credentials", "view_assigned_credentials"] },
  { route: "agents", title: "Agents", needs: ["manage_agents", "manage_own_agents"] },
  { route: "policies", title: "Policies", needs: ["manage_policies"] },
  { route: "roles", title: "Roles", needs: ["manage_roles"] },
  { route: "audit", title: "Audit", needs: ["view_audit"] },
  { route: "members", title: "Members", needs: ["view_team"] },
  { route: "channels", title: "Channels", needs: ["manage_channels"] },
  { route: "settings", title: "Settings", needs: ["manage_settings"] },
  { route: "security", title: "Security", needs: [] },
];
// Signed-out pages, all in one module.
const PUBLIC = new Set(["signin", "signup", "verify", "forgot", "reset", "invite"]);
// Query parameters that links from TAP carry, and where each one leads.
const LINK_PARAMS = { invite_token: "invite", prefill_credential: "credentials" };
const HANDOFF_KEY = "tap.handoff";

let me = null;
let leave = null; // the current page's clean-up (stops polling)

function route() {
  const [path, query = ""] = location.hash.replace(/^#\/?/, "").split("?");
  return { name: path || "", params: new URLSearchParams(query) };
}

export function go(name, params) {
  const query = params ? `?${new URLSearchParams(params)}` : "";
  const target = `#/${name}${query}`;
  if (location.hash === target) render();
  else location.hash = target;
}

// Links into the dashboard carry one-time values in the query string; move
// them out of the address (and so out of history) before anything else runs.
function takeLinkParams() {
  const search = new URLSearchParams(location.search);
  for (const [param, page] of Object.entries(LINK_PARAMS)) {
    const value = search.get(param);
    if (value) {
      sessionStorage.setItem(HANDOFF_KEY, JSON.stringify({ param, value, page }));
      history.replaceState(null, "", `/dashboard#/${page}`);
      return;
    }
  }
}

export function handoff(param) {
  const raw = sessionStorage.getItem(HANDOFF_KEY);
  if (!raw) return null;
  const held = JSON.parse(raw);
  if (held.param !== param) return null;
  sessionStorage.removeItem(HANDOFF_KEY);
  return held.value;
}

function pendingHandoffPage() {
  const raw = sessionStorage.getItem(HANDOFF_KEY);
  return raw ? JSON.parse(raw).page : null;
}

export function can(...caps) {
  return caps.length === 0 || caps.some((cap) => me && me.capabilities.includes(cap));
}

async function loadMe() {
  if (!sessionToken()) return null;
  try {
    return await call("GET", "/user/me");
  } catch (error) {
    if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
      dropSession();
      return null;
    }
    throw error;
  }
}

async function drawChrome() {
  document.getElementById("top").hidden = false;
  document.getElementById("who").textContent = `${me.email} · ${me.member_role}`;
  const switcher = document.getElementById("team-switch");
  const { teams, active_team_id: active } = await call("GET", "/user/teams");
  switcher.replaceChildren(...teams.map((team) =>
    h("option", { value: team.team_id, selected: team.team_id === active }, `${team.team_name} (${team.member_role})`)));
  const nav = document.getElementById("nav");
  nav.hidden = false;
  nav.replaceChildren(h("ul", {}, PAGES.filter((page) => can(...page.needs)).map((page) =>
    h("li", {}, h("a", { href: `#/${page.route}`, "data-route": page.route }, page.title)))));
}

function markCurrent(name) {
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.dataset.route === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function signedOutChrome() {
  document.getElementById("top").hidden = true;
  document.getElementById("nav").hidden = true;
}

export async function render() {
  if (leave) { leave(); leave = null; }
  ageNotice();
  const view = document.getElementById("view");
  const { name, params } = route();
  if (!me) me = await loadMe();
  if (!me) {
    signedOutChrome();
    const page = PUBLIC.has(name) ? name : (pendingHandoffPage() === "invite" ? "invite" : "signin");
    const module = await import("./pages/auth.js");
    view.replaceChildren();
    document.title = "Sign in · TAP";
    await module.render(view, { page, params, signedIn });
    return;
  }
  if (PUBLIC.has(name) && name !== "invite") return go(defaultPage());
  const wanted = name === "invite" ? null : PAGES.find((page) => page.route === name);
  if (name === "invite") {
    const module = await import("./pages/auth.js");
    view.replaceChildren();
    await module.render(view, { page: "invite", params, signedIn, me });
    return;
  }
  if (!wanted || !can(...wanted.needs)) return go(defaultPage());
  markCurrent(wanted.route);
  document.title = `${wanted.title} · TAP`;
  const module = await import(`./pages/${wanted.route}.js`);
  const section = h("section", { "aria-labelledby": "page-title" });
  view.replaceChildren(section);
  try {
    const refresh = async () => { await drawChrome(); await render(); };
    leave = (await module.render(section, { me, params, go, can, handoff, refresh })) || null;
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return signOutLocally();
    section.replaceChildren(h("h1", { id: "page-title" }, wanted.title),
      h("p", { class: "form-error", role: "alert" }, `Could not load this page: ${error.message}`));
  }
}

function defaultPage() {
  const target = pendingHandoffPage();
  if (target && PAGES.some((page) => page.route === target && can(...page.needs))) return target;
  return PAGES.find((page) => can(...page.needs)).route;
}

async function signedIn() {
  me = await loadMe();
  if (!me) return render();
  await drawChrome();
  notify("");
  go(defaultPage());
}

function signOutLocally() {
  dropSession();
  me = null;
  go("signin");
}

async function start() {
  takeLinkParams();
  // The skip link moves focus; it must not change the address the router reads.
  document.querySelector(".skip").addEventListener("click", (event) => {
    event.preventDefault();
    document.getElementById("main").focus();
  });
  document.getElementById("sign-out").addEventListener("click", async () => {
    try { await call("POST", "/logout"); } catch { /* the session may already be gone */ }
    signOutLocally();
  });
  document.getElementById("team-switch").addEventListener("change", async (event) => {
    await call("POST", "/session/team", { team_id: event.target.value });
    me = await loadMe();
    await drawChrome();
    notify(`Switched to ${me.team_name}.`);
    go(defaultPage());
  });
  window.addEventListener("hashchange", () => render().then(() => document.getElementById("main").focus()));
  me = await loadMe();
  if (me) await drawChrome();
  await render();
}

start();
