// Every call to Folio's API goes through `api`: JSON in and out, the access
// token attached, one refresh and retry on an expired token, and failures as
// `ApiError` carrying the problem+json the service answered.
import { signal } from "@preact/signals";

const REFRESH_KEY = "folio.refresh";

export interface Session {
  accessToken: string;
  expiresAt: number;
}

export const session = signal<Session | null>(null);

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem,
  ) {
    super(problem.detail ?? problem.title ?? `HTTP ${status}`);
  }

  /** The field a 4xx names, if any (`field`, or the first of `errors`). */
  get field(): string | undefined {
    return this.problem.field ?? this.problem.errors?.[0]?.field;
  }
}

export interface Problem {
  title?: string;
  detail?: string;
  field?: string;
  errors?: { field?: string; message?: string }[];
  [extension: string]: unknown;
}

export interface Options {
  body?: unknown;
  headers?: Record<string, string>;
  /** Sends no token (sign-in and refresh themselves). */
  anonymous?: boolean;
}

export interface Answer<T> {
  status: number;
  body: T;
  headers: Headers;
}

export async function call<T>(
  method: string,
  path: string,
  options: Options = {},
): Promise<Answer<T>> {
  let response = await send(method, path, options);
  if (response.status === 401 && !options.anonymous && (await refresh())) {
    response = await send(method, path, options);
  }
  const type = response.headers.get("content-type") ?? "";
  const body: unknown = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) {
    const problem: Problem =
      typeof body === "object" && body !== null ? (body as Problem) : { detail: String(body) };
    throw new ApiError(response.status, problem);
  }
  return { status: response.status, body: body as T, headers: response.headers };
}

export async function api<T>(method: string, path: string, options: Options = {}): Promise<T> {
  return (await call<T>(method, path, options)).body;
}

function send(method: string, path: string, options: Options): Promise<Response> {
  const headers: Record<string, string> = { accept: "application/json", ...options.headers };
  const token = session.value?.accessToken;
  if (token && !options.anonymous) headers.authorization = `Bearer ${token}`;
  let body: BodyInit | undefined;
  if (options.body !== undefined) {
    if (options.body instanceof Blob || typeof options.body === "string") {
      body = options.body;
    } else {
      headers["content-type"] ??= "application/json";
      body = JSON.stringify(options.body);
    }
  }
  const init: RequestInit = { method, headers };
  if (body !== undefined) init.body = body;
  return fetch(path, init);
}

export interface TokenAnswer {
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
}

export function startSession(tokens: TokenAnswer): void {
  localStorage.setItem(REFRESH_KEY, tokens.refreshToken);
  session.value = {
    accessToken: tokens.accessToken,
    expiresAt: Date.now() + tokens.expiresIn * 1000,
  };
}

let refreshing: Promise<boolean> | null = null;

/** Trades the stored refresh token for new tokens; one at a time. */
export function refresh(): Promise<boolean> {
  refreshing ??= (async () => {
    const refreshToken = localStorage.getItem(REFRESH_KEY);
    if (!refreshToken) return false;
    try {
      startSession(
        await api<TokenAnswer>("POST", "/api/v1/auth/refresh", {
          anonymous: true,
          body: { refreshToken },
        }),
      );
      return true;
    } catch {
      endSession();
      return false;
    }
  })().finally(() => {
    refreshing = null;
  });
  return refreshing;
}

export function endSession(): void {
  localStorage.removeItem(REFRESH_KEY);
  session.value = null;
}

export async function signOut(): Promise<void> {
  const refreshToken = localStorage.getItem(REFRESH_KEY);
  try {
    if (refreshToken) {
      await api("POST", "/api/v1/auth/logout", { anonymous: true, body: { refreshToken } });
    }
  } finally {
    endSession();
  }
}

export function message(error: unknown): string {
  if (error instanceof ApiError) {
    const field = error.field;
    return field ? `${field}: ${error.message}` : error.message;
  }
  return error instanceof Error ? error.message : String(error);
}
