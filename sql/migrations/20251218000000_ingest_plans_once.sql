-- Ingestion plans its statements once, not on every alert.
--
-- PL/pgSQL keeps each statement's plan, but under the default plan_cache_mode (auto) a statement
-- whose generic plan is estimated dearer than its custom ones is planned again, with the call's
-- values, on every call. ingest_tv_signal's statements are of that kind: planning was a third of
-- its time in the server (1.22 -> 0.77 ms a call on a small log; 0.87 -> 0.70 ms beside 600,000
-- logged signals, where the generic plans use the same indexes: the secret's, the dedup index).
-- A plan changes nothing that a call returns or writes. The agent's calls (claim, intent,
-- completion) were measured the same way and gained nothing: they are left as they are.
-- Idempotent: safe to apply twice.

alter function tnm_privileged.ingest_tv_signal(text, text, timestamptz, text)
  set plan_cache_mode = force_generic_plan;
