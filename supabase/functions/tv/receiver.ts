// The TradingView webhook receiver, the same as tnm_desktop/webhook/app.py: POST /tv/<secret>.
//
// It only moves bytes: it reads the body (with a hard cap and a deadline), applies a per-strategy
// rate limit, and hands the secret and the body to public.ingest_tv_signal, which parses,
// validates, logs and creates the trade job. Statuses and JSON bodies are the local receiver's:
//
//   200 accepted or duplicate · 400 malformed body · 403 disabled, trading off, no agent
//   404 unknown secret or path (one fixed body) · 405 not POST · 408 body too slow
//   413 body too large · 422 invalid alert · 429 rate limited · 503 database unreachable
//
// No log line holds a secret: strategies appear as the first 8 hex digits of the secret's SHA-256,
// and the database's reasons (which may quote the body) are not logged.

import { RateLimiter } from "./ratelimit.ts";

/** TradingView gives up after 3 seconds; every answer leaves margin for the network. */
export const ANSWER_WITHIN_MS = 2500;

export interface ReceiverConfig {
  ratePerSecond: number;
  burst: number;
  maxBodyBytes: number;
  readTimeoutSeconds: number;
  retryAfter: number;
}

/** What public.ingest_tv_signal answered for one request. */
export interface IngestResult {
  signal_id: string | null;
  status: string;
  reason: string | null;
  job_id: string | null;
  code: string;
}

/** The database cannot be reached or did not answer in time: answered 503. */
export class Unavailable extends Error {}

/** The database refused the call for another reason (a bug): logged as discarded instead. */
export class Refused extends Error {}

export interface Database {
  ingest(
    secret: string,
    body: string,
    receivedAt: Date,
    rejectReason: string | null,
    withinMs: number,
  ): Promise<IngestResult>;
  healthy(withinMs: number): Promise<boolean>;
}

interface Refusal {
  reason: string;
  status: number;
  retryAfter?: number;
}

const HTTP_STATUS: Record<string, number> = {
  accepted: 200,
  duplicate: 200,
  malformed: 400,
  disabled: 403,
  not_found: 404,
  too_large: 413,
  invalid: 422,
};
// One body for every unknown secret and every unknown path: nothing tells them apart.
const NOT_FOUND = { signal_id: null, status: "not_found", reason: "not found" };
const WRONG_METHOD = { signal_id: null, status: "not_found", reason: "send alerts with POST" };
const PROCESSING_FAILED = "the alert could not be processed";

function json(body: unknown, status: number, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
  });
}

/** The SHA-256 of a secret, hex: what the receiver keys its state and its log lines by. */
export async function secretDigest(secret: string): Promise<string> {
  const hash = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(secret));
  return Array.from(new Uint8Array(hash), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** PostgreSQL text holds no NUL. */
function cleanText(value: string): string {
  return value.replaceAll("\u0000", "\ufffd");
}

// The path's segments, each percent-decoded (null: not valid UTF-8), without the platform's
// /functions/v1 prefix when it is there.
function segments(pathname: string): (string | null)[] {
  const parts = pathname.split("/").slice(1);
  if (parts[0] === "functions" && parts[1] === "v1") parts.splice(0, 2);
  return parts.map((part) => {
    try {
      return decodeURIComponent(part);
    } catch {
      return null;
    }
  });
}

async function readBody(request: Request, config: ReceiverConfig): Promise<[Uint8Array, Refusal | null]> {
  const limit = config.maxBodyBytes;
  const chunks: Uint8Array[] = [];
  let size = 0;
  let refusal: Refusal | null = null;
  if (request.body !== null) {
    const reader = request.body.getReader();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((resolve) => {
      timer = setTimeout(() => resolve("late"), config.readTimeoutSeconds * 1000);
    });
    try {
      while (size <= limit) {
        const read = await Promise.race([reader.read(), late]);
        if (read === "late") {
          refusal = {
            reason: `the alert did not arrive completely within ${config.readTimeoutSeconds} s`,
            status: 408,
          };
          break;
        }
        if (read.done) break;
        chunks.push(read.value);
        size += read.value.length;
      }
    } catch {
      // The client went away mid-body: what arrived is what is logged.
    } finally {
      clearTimeout(timer);
      if (refusal !== null || size > limit) reader.cancel().catch(() => {});
    }
  }
  const body = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    body.set(chunk, at);
    at += chunk.length;
  }
  if (refusal === null && size > limit) {
    return [body.subarray(0, limit), { reason: `the alert is too large (more than ${limit} bytes)`, status: 413 }];
  }
  return [body, refusal];
}

/** The receiver: a fetch handler around a database and a rate limiter. */
export function createHandler(
  config: ReceiverConfig,
  db: Database,
  limiter = new RateLimiter(config.ratePerSecond, config.burst),
): (request: Request) => Promise<Response> {
  const unavailable = () =>
    json(
      {
        signal_id: null,
        status: "unavailable",
        reason: "the signal database cannot be reached; try again shortly",
      },
      503,
      { "retry-after": String(config.retryAfter) },
    );

  async function receiveAlert(request: Request, secret: string): Promise<Response> {
    const started = performance.now();
    const receivedAt = new Date();
    const digest = await secretDigest(secret);
    const tag = digest.slice(0, 8);

    const [raw, readRefusal] = await readBody(request, config);
    let refusal = readRefusal;
    if (refusal === null) {
      const wait = limiter.acquire(digest);
      if (wait > 0) refusal = { reason: "rate limited", status: 429, retryAfter: Math.max(1, Math.ceil(wait)) };
    }
    // Like Python's decode("utf-8", "replace"); a leading BOM is kept, as the bytes were sent.
    const body = cleanText(new TextDecoder("utf-8", { ignoreBOM: true }).decode(raw));
    const remaining = () => Math.max(200, ANSWER_WITHIN_MS - (performance.now() - started));
    let result: IngestResult;
    try {
      try {
        result = await db.ingest(secret, body, receivedAt, refusal?.reason ?? null, remaining());
      } catch (error) {
        if (!(error instanceof Refused)) throw error;
        // Our bug, triggered by this request: log it as discarded rather than lose it.
        console.error(`strategy ${tag}: ingestion refused the call (${error.message}); logging it as discarded`);
        refusal = { reason: PROCESSING_FAILED, status: 422 };
        result = await db.ingest(
          secret,
          Array.from(body).slice(0, 2000).join(""),
          receivedAt,
          refusal.reason,
          remaining(),
        );
      }
    } catch (error) {
      // Only our own messages are logged; another error's could quote the request.
      const why = error instanceof Unavailable || error instanceof Refused ? error.message : "an unexpected error";
      console.warn(`strategy ${tag}: answered 503, ${why}`);
      return unavailable();
    }

    let status: number;
    let retryAfter: number | undefined;
    if (result.code === "not_found") {
      status = 404;
    } else if (result.code === "rejected" && refusal !== null) {
      status = refusal.status;
      retryAfter = refusal.retryAfter;
    } else {
      status = HTTP_STATUS[result.code] ?? 422;
    }
    const ownReason = refusal !== null && result.code === "rejected" ? ` (${refusal.reason})` : "";
    console.log(
      `strategy ${tag}: ${status} ${result.code} in ${Math.round(performance.now() - started)} ms${ownReason}`,
    );
    if (result.code === "not_found") return json(NOT_FOUND, 404);
    return json(
      { signal_id: result.signal_id, status: result.status, reason: result.reason },
      status,
      retryAfter !== undefined ? { "retry-after": String(retryAfter) } : {},
    );
  }

  async function health(): Promise<Response> {
    if (await db.healthy(1000)) return json({ status: "ok", database: "ok" }, 200);
    return json({ status: "unavailable", database: "unreachable" }, 503, { "retry-after": String(config.retryAfter) });
  }

  return async (request: Request): Promise<Response> => {
    const parts = segments(new URL(request.url).pathname);
    const method = request.method;
    const read = method === "GET" || method === "HEAD";
    if (parts.length === 1 && parts[0] === "healthz") {
      return read ? await health() : json(WRONG_METHOD, 405, { allow: "GET, HEAD" });
    }
    if (parts.length === 2 && parts[0] === "tv" && parts[1] !== "") {
      // GET /tv/healthz is the health check where the platform serves only /tv/… (Supabase).
      if (parts[1] === "healthz" && read) return await health();
      if (method !== "POST") {
        return json(WRONG_METHOD, 405, { allow: parts[1] === "healthz" ? "GET, HEAD, POST" : "POST" });
      }
      const secret = parts[1];
      if (secret === null) {
        await request.body?.cancel();
        return json(NOT_FOUND, 404); // not UTF-8: no strategy has it
      }
      return await receiveAlert(request, cleanText(secret));
    }
    await request.body?.cancel();
    return json(NOT_FOUND, 404);
  };
}
