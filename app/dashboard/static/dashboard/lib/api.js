// The admin API as the browser calls it. The session is a bearer token kept in
// sessionStorage (this tab only, never a cookie, so there is no CSRF surface);
// see the README's design notes. Every call is same-origin and sends no cookies.

export const SESSION_KEY = "tap.session";
export class ApiError extends Error {
  constructor(status, body) {
    super(body.message || `The server answered ${status}.`);
    this.status = status;
    this.code = body.error || "http_error";
    this.body = body;
  }

  // [{field, problem}] for a 400 invalid_input; a single-field error as one entry.
  get problems() {
    if (Array.isArray(this.body.problems)) return this.body.problems;
    return this.body.field ? [{ field: this.body.field, problem: this.message }] : [];
  }
}

export function sessionToken() {
  return sessionStorage.getItem(SESSION_KEY);
}

export function keepSession(token) {
  sessionStorage.setItem(SESSION_KEY, token);
}

export function dropSession() {
  sessionStorage.removeItem(SESSION_KEY);
}

async function send(method, path, body, token) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  return fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "omit",
    cache: "no-store",
  });
}

// One JSON call. Throws ApiError for any non-2xx answer.
export async function call(method, path, body, token = sessionToken()) {
  const response = await send(method, path, body, token);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

// A download (e.g. the audit export) as a Blob. Throws ApiError.
export async function download(path, token = sessionToken()) {
  const response = await send("GET", path, undefined, token);
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => ({})));
  return response.blob();
}
