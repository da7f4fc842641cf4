// TradingView webhooks on your Supabase project: POST https://<ref>.supabase.co/functions/v1/tv/<secret>.
//
// Deploy: supabase functions deploy tv (verify_jwt = false is in supabase/config.toml: the secret
// in the path is the credential). The database credential is a function secret:
//
//   supabase secrets set TNM_INGEST_DATABASE_URL='postgresql://tnm_ingest.<ref>:<password>@<pooler host>:6543/postgres'
//
// Role tnm_ingest may call public.ingest_tv_signal and nothing else. Optional secrets (defaults
// are the local receiver's): TNM_WEBHOOK_RATE (2 per second), TNM_WEBHOOK_BURST (20),
// TNM_WEBHOOK_MAX_BODY (65536 bytes read at most), TNM_WEBHOOK_READ_TIMEOUT (1 second).

import postgres from "npm:postgres@3.4.10";
import { createHandler, type Database, type IngestResult, Refused, Unavailable } from "./receiver.ts";

const STATEMENT_TIMEOUT_MS = 1500;

function setting(name: string, fallback: number): number {
  const value = Number(Deno.env.get(name) ?? fallback);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number`);
  return value;
}

// SQLSTATE classes psycopg reports as OperationalError, which the local receiver answers 503:
// connection, resources, limits, state, operator intervention (timeouts, shutdowns), system.
const TRANSIENT_CLASSES = new Set(["08", "53", "54", "55", "57", "58"]);

function translate(error: unknown): Error {
  // A PostgresError carries the SQLSTATE; a network error (ECONNREFUSED, …) does not.
  if (error instanceof postgres.PostgresError && !TRANSIENT_CLASSES.has(error.code.slice(0, 2))) {
    return new Refused(`SQLSTATE ${error.code}`);
  }
  return new Unavailable("the signal database is unreachable");
}

function withinMs<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Unavailable("the signal database did not answer in time")), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

function database(url: string | undefined): Database {
  if (!url) {
    console.error("TNM_INGEST_DATABASE_URL is not set: every alert is answered 503 (see README.md)");
    const down = () => Promise.reject(new Unavailable("TNM_INGEST_DATABASE_URL is not set"));
    return { ingest: down, healthy: () => Promise.resolve(false) };
  }
  // No prepared statements (transaction poolers), few connections (one instance, few requests).
  const sql = postgres(url, {
    max: 4,
    prepare: false,
    idle_timeout: 60,
    connect_timeout: 3,
    onnotice: () => {},
    connection: { application_name: "tnm-edge-webhook" },
  });
  return {
    async ingest(secret, body, receivedAt, rejectReason, ms): Promise<IngestResult> {
      // The timeout is the transaction's own, so that it also holds behind a transaction pooler.
      const call = sql.begin(async (tx: postgres.TransactionSql) => {
        await tx`select set_config('statement_timeout', ${`${STATEMENT_TIMEOUT_MS}ms`}, true)`;
        return await tx<IngestResult[]>`
          select signal_id::text, status, reason, job_id::text, code
            from public.ingest_tv_signal(${secret}, ${body}, ${receivedAt}, ${rejectReason})`;
      });
      let rows: IngestResult[];
      try {
        rows = await withinMs(call, ms);
      } catch (error) {
        throw error instanceof Unavailable ? error : translate(error);
      }
      if (rows.length !== 1) throw new Refused("no result");
      return rows[0];
    },
    async healthy(ms): Promise<boolean> {
      try {
        await withinMs(sql`select 1`, ms);
        return true;
      } catch {
        return false;
      }
    },
  };
}

const handler = createHandler({
  ratePerSecond: setting("TNM_WEBHOOK_RATE", 2),
  burst: Math.floor(setting("TNM_WEBHOOK_BURST", 20)),
  maxBodyBytes: Math.floor(setting("TNM_WEBHOOK_MAX_BODY", 64 * 1024)),
  readTimeoutSeconds: setting("TNM_WEBHOOK_READ_TIMEOUT", 1),
  retryAfter: 5,
}, database(Deno.env.get("TNM_INGEST_DATABASE_URL")));

Deno.serve(handler);
