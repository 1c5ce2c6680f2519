// /dev/auto-login (DANGEROUS_TAP_DEV_SKIP_AUTH, local compose only): keep the
// session the page carries as this tab's dashboard session, then open the dashboard.
const block = document.getElementById("tap-dev-session");
if (block) {
  const session = JSON.parse(block.textContent);
  sessionStorage.setItem(block.dataset.storageKey, session.token);
}
location.replace("/dashboard");
