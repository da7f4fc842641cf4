-- Security-definer functions leave the API schema.
--
-- PostgREST exposes every function in `public` as /rest/v1/rpc/<name>, and a SECURITY DEFINER
-- function runs with its owner's rights whoever calls it; Supabase's database linter warns about
-- each one that anon or authenticated may execute (lints 0028/0029) and asks to keep them out of
-- exposed schemas. The API stays the same: every function keeps its name, arguments, defaults,
-- result and grants in public; only the privileged body moves.
--
-- THE PATTERN (every later migration follows it; tests/sql/test_schema_lint.py enforces it):
--   * `public` holds no SECURITY DEFINER function.
--   * An entry point that needs its owner's rights lives in schema `tnm_privileged`: SECURITY
--     DEFINER, `set search_path = ''`, every name schema-qualified, EXECUTE revoked from public and
--     anon and granted to exactly the roles that call it. Those roles have USAGE on the schema,
--     which PostgREST does not expose.
--   * Callers reach it through a thin SECURITY INVOKER function in `public` with the same name,
--     argument names, defaults and result, `set search_path = ''`, granted to the same roles.
--   * Helpers and trigger functions that no API role calls directly go to `tnm_private`, which
--     no API role may even enter.
--
--   create or replace function tnm_privileged.do_thing(p_agent_id uuid, p_pairing_key text,
--                                                      p_n integer default 1) returns integer
--   language plpgsql security definer set search_path = ''
--   as $$ begin ... end $$;
--   revoke execute on function tnm_privileged.do_thing(uuid, text, integer) from public, anon;
--   grant execute on function tnm_privileged.do_thing(uuid, text, integer) to authenticated, service_role;
--
--   create or replace function public.do_thing(p_agent_id uuid, p_pairing_key text,
--                                              p_n integer default 1) returns integer
--   language sql set search_path = ''
--   as $$ select tnm_privileged.do_thing(p_agent_id, p_pairing_key, p_n) $$;
--   revoke execute on function public.do_thing(uuid, text, integer) from public, anon;
--   grant execute on function public.do_thing(uuid, text, integer) to authenticated, service_role;
--
-- Existing databases: the functions are moved as they are (ALTER FUNCTION … SET SCHEMA keeps
-- their bodies, owners and comments), then the wrappers are created in their place.
-- Idempotent: safe to apply twice, also after the earlier migrations were re-applied (they
-- recreate the definer versions in public; those are moved again, replacing the copies).

create schema if not exists tnm_privileged;
revoke all on schema tnm_privileged from public;
grant usage on schema tnm_privileged to authenticated, service_role, tnm_ingest;
comment on schema tnm_privileged
  is 'SECURITY DEFINER entry points, each called through the SECURITY INVOKER function of the same name in public; not exposed by PostgREST';

-- Move ------------------------------------------------------------------------------------------

do $$
declare
  f text;
  target text;
  fn regprocedure;
begin
  foreach f in array array[
    'claim_next_job(uuid, text, integer)',
    'extend_job_lease(uuid, text, uuid, uuid, integer)',
    'record_job_intent(uuid, text, uuid, uuid, jsonb)',
    'complete_job(uuid, text, uuid, uuid, jsonb)',
    'fail_job(uuid, text, uuid, uuid, text, text, jsonb, boolean, integer)',
    'recover_agent_jobs(uuid, text, integer)',
    'agent_heartbeat(uuid, text, text, text, text)',
    'record_sync(uuid, text, text, text, timestamptz, integer, jsonb, jsonb, text)',
    'record_broker_symbols(uuid, text, uuid, jsonb)',
    'cancel_job(uuid)',
    'rotate_strategy_secret(uuid)',
    'requeue_expired_jobs()',
    'ingest_tv_signal(text, text, timestamptz, text)',
    'handle_new_user()'
  ]
  loop
    -- The sign-up trigger is called by no API role: it belongs in the closed schema.
    target := case when f = 'handle_new_user()' then 'tnm_private' else 'tnm_privileged' end;
    fn := to_regprocedure('public.' || f);
    if fn is not null and (select p.prosecdef from pg_proc p where p.oid = fn) then
      execute format('drop function if exists %s.%s', target, f);
      execute format('alter function public.%s set schema %s', f, target);
    end if;
  end loop;
end
$$;

-- Who may call the privileged bodies: the same roles as before the move.
do $$
declare
  f text;
begin
  foreach f in array array[
    'tnm_privileged.claim_next_job(uuid, text, integer)',
    'tnm_privileged.extend_job_lease(uuid, text, uuid, uuid, integer)',
    'tnm_privileged.record_job_intent(uuid, text, uuid, uuid, jsonb)',
    'tnm_privileged.complete_job(uuid, text, uuid, uuid, jsonb)',
    'tnm_privileged.fail_job(uuid, text, uuid, uuid, text, text, jsonb, boolean, integer)',
    'tnm_privileged.recover_agent_jobs(uuid, text, integer)',
    'tnm_privileged.agent_heartbeat(uuid, text, text, text, text)',
    'tnm_privileged.record_sync(uuid, text, text, text, timestamptz, integer, jsonb, jsonb, text)',
    'tnm_privileged.record_broker_symbols(uuid, text, uuid, jsonb)',
    'tnm_privileged.cancel_job(uuid)',
    'tnm_privileged.rotate_strategy_secret(uuid)'
  ]
  loop
    execute format('revoke all on function %s from public, anon, authenticated, service_role, tnm_ingest', f);
    execute format('grant execute on function %s to authenticated, service_role', f);
  end loop;
end
$$;
revoke all on function tnm_privileged.requeue_expired_jobs()
  from public, anon, authenticated, service_role, tnm_ingest;
grant execute on function tnm_privileged.requeue_expired_jobs() to service_role;
revoke all on function tnm_privileged.ingest_tv_signal(text, text, timestamptz, text)
  from public, anon, authenticated, service_role, tnm_ingest;
grant execute on function tnm_privileged.ingest_tv_signal(text, text, timestamptz, text) to tnm_ingest, service_role;
revoke all on function tnm_private.handle_new_user() from public, anon, authenticated, service_role, tnm_ingest;

-- The public API: thin SECURITY INVOKER functions -----------------------------------------------

create or replace function public.claim_next_job(
  p_agent_id uuid, p_pairing_key text, p_lease_seconds integer default 60
) returns setof public.jobs
language sql
set search_path = ''
as $$ select * from tnm_privileged.claim_next_job(p_agent_id, p_pairing_key, p_lease_seconds) $$;
comment on function public.claim_next_job(uuid, text, integer)
  is 'Claims the oldest pending job of the agent''s owner for a lease of p_lease_seconds. The pairing key must match the agent''s. Returns no row when nothing is waiting.';

create or replace function public.extend_job_lease(
  p_agent_id uuid, p_pairing_key text, p_job_id uuid, p_lease_token uuid,
  p_lease_seconds integer default 60
) returns timestamptz
language sql
set search_path = ''
as $$
  select tnm_privileged.extend_job_lease(p_agent_id, p_pairing_key, p_job_id, p_lease_token, p_lease_seconds)
$$;

create or replace function public.record_job_intent(
  p_agent_id uuid, p_pairing_key text, p_job_id uuid, p_lease_token uuid, p_intent jsonb
) returns timestamptz
language sql
set search_path = ''
as $$
  select tnm_privileged.record_job_intent(p_agent_id, p_pairing_key, p_job_id, p_lease_token, p_intent)
$$;

create or replace function public.complete_job(
  p_agent_id uuid, p_pairing_key text, p_job_id uuid, p_lease_token uuid, p_result jsonb
) returns public.jobs
language sql
set search_path = ''
as $$
  select * from tnm_privileged.complete_job(p_agent_id, p_pairing_key, p_job_id, p_lease_token, p_result)
$$;

create or replace function public.fail_job(
  p_agent_id uuid, p_pairing_key text, p_job_id uuid, p_lease_token uuid,
  p_error_message text, p_error_code text default null, p_result jsonb default null,
  p_retry boolean default false, p_retry_delay_seconds integer default 0
) returns public.jobs
language sql
set search_path = ''
as $$
  select * from tnm_privileged.fail_job(p_agent_id, p_pairing_key, p_job_id, p_lease_token, p_error_message,
                                        p_error_code, p_result, p_retry, p_retry_delay_seconds)
$$;

create or replace function public.recover_agent_jobs(
  p_agent_id uuid, p_pairing_key text, p_lease_seconds integer default 60
) returns setof public.jobs
language sql
set search_path = ''
as $$ select * from tnm_privileged.recover_agent_jobs(p_agent_id, p_pairing_key, p_lease_seconds) $$;

create or replace function public.agent_heartbeat(
  p_agent_id uuid, p_pairing_key text, p_status text, p_last_error text default null,
  p_agent_version text default null
) returns timestamptz
language sql
set search_path = ''
as $$
  select tnm_privileged.agent_heartbeat(p_agent_id, p_pairing_key, p_status, p_last_error, p_agent_version)
$$;

create or replace function public.record_sync(
  p_agent_id uuid, p_pairing_key text, p_sync_type text, p_status text,
  p_started_at timestamptz, p_duration_ms integer, p_account jsonb,
  p_trades jsonb default '[]'::jsonb, p_error_message text default null
) returns uuid
language sql
set search_path = ''
as $$
  select tnm_privileged.record_sync(p_agent_id, p_pairing_key, p_sync_type, p_status, p_started_at,
                                    p_duration_ms, p_account, p_trades, p_error_message)
$$;

create or replace function public.record_broker_symbols(
  p_agent_id uuid, p_pairing_key text, p_broker_connection_id uuid, p_symbols jsonb
) returns integer
language sql
set search_path = ''
as $$
  select tnm_privileged.record_broker_symbols(p_agent_id, p_pairing_key, p_broker_connection_id, p_symbols)
$$;

create or replace function public.cancel_job(p_job_id uuid) returns public.jobs
language sql
set search_path = ''
as $$ select * from tnm_privileged.cancel_job(p_job_id) $$;

create or replace function public.rotate_strategy_secret(p_strategy_id uuid) returns text
language sql
set search_path = ''
as $$ select tnm_privileged.rotate_strategy_secret(p_strategy_id) $$;

create or replace function public.requeue_expired_jobs() returns integer
language sql
set search_path = ''
as $$ select tnm_privileged.requeue_expired_jobs() $$;

create or replace function public.ingest_tv_signal(
  p_secret text,
  p_body text,
  p_received_at timestamptz default now(),
  p_reject_reason text default null
) returns table (signal_id uuid, status text, reason text, job_id uuid, code text)
language sql
set search_path = ''
as $$ select * from tnm_privileged.ingest_tv_signal(p_secret, p_body, p_received_at, p_reject_reason) $$;
comment on function public.ingest_tv_signal(text, text, timestamptz, text)
  is 'Logs one TradingView webhook request in tv_signals and, when valid and new, creates its trade job in the same transaction. Unknown secrets log nothing. Called by the webhook receiver (role tnm_ingest).';

-- The wrappers' grants: exactly those of the bodies they call.
do $$
declare
  f text;
begin
  foreach f in array array[
    'public.claim_next_job(uuid, text, integer)',
    'public.extend_job_lease(uuid, text, uuid, uuid, integer)',
    'public.record_job_intent(uuid, text, uuid, uuid, jsonb)',
    'public.complete_job(uuid, text, uuid, uuid, jsonb)',
    'public.fail_job(uuid, text, uuid, uuid, text, text, jsonb, boolean, integer)',
    'public.recover_agent_jobs(uuid, text, integer)',
    'public.agent_heartbeat(uuid, text, text, text, text)',
    'public.record_sync(uuid, text, text, text, timestamptz, integer, jsonb, jsonb, text)',
    'public.record_broker_symbols(uuid, text, uuid, jsonb)',
    'public.cancel_job(uuid)',
    'public.rotate_strategy_secret(uuid)'
  ]
  loop
    execute format('revoke all on function %s from public, anon, authenticated, service_role, tnm_ingest', f);
    execute format('grant execute on function %s to authenticated, service_role', f);
  end loop;
end
$$;
revoke all on function public.requeue_expired_jobs() from public, anon, authenticated, service_role, tnm_ingest;
grant execute on function public.requeue_expired_jobs() to service_role;
revoke all on function public.ingest_tv_signal(text, text, timestamptz, text)
  from public, anon, authenticated, service_role, tnm_ingest;
grant execute on function public.ingest_tv_signal(text, text, timestamptz, text) to tnm_ingest, service_role;
