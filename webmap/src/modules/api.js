// Talking to the api (docs/contracts.md §D): JSON in and out, the session cookie travels by itself
// (same origin), state-changing requests carry the CSRF token from the readable cookie kk_csrf.

export class ApiError extends Error {
  constructor(status, code, message, body) {
    super(message || code || `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

/** The value of a cookie readable by the page (kk_csrf), or "" when it is absent. */
export function readCookie(name) {
  for (const part of document.cookie.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return "";
}

/**
 * Call the api and return the decoded JSON (null for 204).
 * Throws ApiError with the status and the error code of the body.
 */
export async function api(path, { method = "GET", body, signal } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && method !== "HEAD") {
    const token = readCookie("kk_csrf");
    if (token) headers["X-CSRF-Token"] = token;
  }
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      signal,
    });
  } catch (err) {
    if (err && err.name === "AbortError") throw err;
    throw new ApiError(0, "network", "De server is niet bereikbaar.");
  }
  if (response.status === 204) return null;
  let data = null;
  const type = response.headers.get("content-type") || "";
  if (type.includes("json")) {
    try {
      data = await response.json();
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const error = (data && data.error) || {};
    throw new ApiError(response.status, error.code || "", error.message || "", data);
  }
  return data;
}

/** Make a tile URL template absolute: MapLibre fetches tiles from a worker (blob: URL). */
export function absoluteUrl(template) {
  if (/^https?:\/\//i.test(template)) return template;
  if (template.startsWith("/")) return window.location.origin + template;
  return window.location.origin + "/" + template;
}
