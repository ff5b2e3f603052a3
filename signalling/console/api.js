// The admin API, with the key as a Bearer header (never a cookie: nothing another site can make the browser
// send). Errors become ApiFailure with the API's stable code and its message for people.

export class ApiFailure extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export class Api {
  constructor(key) {
    this.key = key;
  }

  async request(method, path, body) {
    const headers = { Authorization: `Bearer ${this.key}` };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let r;
    try {
      r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body),
        credentials: 'omit', cache: 'no-store' });
    } catch (e) {
      throw new ApiFailure(0, 'unreachable', 'The control plane cannot be reached; check your connection.');
    }
    if (r.ok) return r;
    let err = { error: 'http_error', message: `HTTP ${r.status}` };
    try { err = await r.json(); } catch (e) { /* not JSON: keep the status */ }
    throw new ApiFailure(r.status, String(err.error), String(err.message));
  }

  async json(method, path, body) {
    return (await this.request(method, path, body)).json();
  }

  async text(path) {
    return (await this.request('GET', path)).text();
  }
}

export const enc = encodeURIComponent;
