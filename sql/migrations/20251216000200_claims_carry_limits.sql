-- Real money, part 4: a claimed entry arrives with the limits it is checked against.
--
-- Before each entry the agent checks the trader's risk limits (20251210000000) against the
-- terminal's own account figures. The limits came from agent_risk_state: a database call of its
-- own for every entry, on top of the one call a busy agent pays per job (20251203000000's
-- complete_and_claim_next). The claim now brings them: claim_next_job_with_limits and
-- complete_and_claim_next_with_limits claim exactly as claim_next_job and complete_and_claim_next
-- do (they call them: the same checks, lease, order and commit), and return the claimed job
-- together with what agent_risk_state would return at that moment — read only when the job is an
-- entry (a buy or sell trade job), null otherwise. The limits are read in the claim's transaction,
-- milliseconds before the entry; the account figures are still read from the terminal right
-- before the order. A job taken back at start-up (recover_agent_jobs) brings none: the agent
-- reads them then.
--
-- The earlier functions stay as they are (their result is every column of jobs, which callers
-- and tests rely on). The new ones return two columns: the job (a jobs row; PostgREST answers it
-- as a nested object) and risk_state. The pattern of 20251201000000: the privileged bodies in
-- tnm_privileged, thin SECURITY INVOKER wrappers of the same name in public.
-- Idempotent: safe to apply twice.

-- One place for what the agent checks: the trader's limits now and this agent's daily-loss lock
-- that still runs (no key check: its callers made it).
create or replace function tnm_private.risk_state_of(p_agent_id uuid, p_user uuid) returns jsonb
language sql
stable
set search_path = ''
as $$
  select jsonb_build_object(
    'limits', jsonb_build_object(
      'trading_enabled', us.trading_enabled, 'trading_off_reason', us.trading_off_reason,
      'max_daily_loss_pct', trim_scale(us.max_daily_loss_pct),
      'close_all_on_daily_loss', us.close_all_on_daily_loss, 'equity_floor', trim_scale(us.equity_floor),
      'max_open_positions', us.max_open_positions, 'max_positions_per_symbol', us.max_positions_per_symbol,
      'max_lot_size', trim_scale(us.max_lot_size)),
    'lock', (select jsonb_build_object('trading_day', l.trading_day, 'until', l.locked_until,
                                       'limit_pct', trim_scale(l.limit_pct), 'loss_pct', trim_scale(l.loss_pct),
                                       'reason', l.reason)
               from public.daily_loss_locks l
              where l.agent_id = p_agent_id and l.locked_until > now()
              order by l.trading_day desc limit 1))
    from public.user_settings us where us.user_id = p_user
$$;
revoke all on function tnm_private.risk_state_of(uuid, uuid) from public;

-- Whether a job opens something (the limits hold for it): a buy or sell trade job, market or
-- pending, a reversal's entry included. Closes, cancels and stop changes always pass.
create or replace function tnm_private.is_entry(p_job public.jobs) returns boolean
language sql
immutable
set search_path = ''
as $$ select p_job.job_type = 'trade' and coalesce(p_job.payload ->> 'action', '') in ('buy', 'sell') $$;
revoke all on function tnm_private.is_entry(public.jobs) from public;

-- agent_risk_state (the agent's look between entries) reads the same thing.
create or replace function tnm_privileged.agent_risk_state(p_agent_id uuid, p_pairing_key text) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
begin
  return tnm_private.risk_state_of(p_agent_id, tnm_private.require_agent(p_agent_id, p_pairing_key));
end
$$;

-- Claims -------------------------------------------------------------------------------------------

create or replace function tnm_privileged.claim_next_job_with_limits(
  p_agent_id uuid, p_pairing_key text, p_lease_seconds integer default 60
) returns table (job public.jobs, risk_state jsonb)
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_job public.jobs;
begin
  select * into v_job from tnm_privileged.claim_next_job(p_agent_id, p_pairing_key, p_lease_seconds);
  if v_job.id is null then
    return;
  end if;
  job := v_job;
  risk_state := case when tnm_private.is_entry(v_job) then tnm_private.risk_state_of(p_agent_id, v_job.user_id) end;
  return next;
end
$$;
revoke all on function tnm_privileged.claim_next_job_with_limits(uuid, text, integer) from public, anon;
grant execute on function tnm_privileged.claim_next_job_with_limits(uuid, text, integer) to authenticated, service_role;

create or replace function public.claim_next_job_with_limits(
  p_agent_id uuid, p_pairing_key text, p_lease_seconds integer default 60
) returns table (job public.jobs, risk_state jsonb)
language sql
set search_path = ''
as $$ select * from tnm_privileged.claim_next_job_with_limits(p_agent_id, p_pairing_key, p_lease_seconds) $$;
comment on function public.claim_next_job_with_limits(uuid, text, integer)
  is 'Claims as claim_next_job does; returns the claimed job and, when it is an entry, the trader''s risk limits and this agent''s daily-loss lock (as agent_risk_state). No row when nothing waits.';
revoke all on function public.claim_next_job_with_limits(uuid, text, integer) from public, anon;
grant execute on function public.claim_next_job_with_limits(uuid, text, integer) to authenticated, service_role;

create or replace function tnm_privileged.complete_and_claim_next_with_limits(
  p_agent_id uuid, p_pairing_key text, p_job_id uuid, p_lease_token uuid, p_result jsonb,
  p_lease_seconds integer default 60
) returns table (job public.jobs, risk_state jsonb)
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_job public.jobs;
begin
  select * into v_job from tnm_privileged.complete_and_claim_next(p_agent_id, p_pairing_key, p_job_id, p_lease_token,
                                                                  p_result, p_lease_seconds);
  if v_job.id is null then
    return;
  end if;
  job := v_job;
  risk_state := case when tnm_private.is_entry(v_job) then tnm_private.risk_state_of(p_agent_id, v_job.user_id) end;
  return next;
end
$$;
revoke all on function tnm_privileged.complete_and_claim_next_with_limits(uuid, text, uuid, uuid, jsonb, integer)
  from public, anon;
grant execute on function tnm_privileged.complete_and_claim_next_with_limits(uuid, text, uuid, uuid, jsonb, integer)
  to authenticated, service_role;

create or replace function public.complete_and_claim_next_with_limits(
  p_agent_id uuid, p_pairing_key text, p_job_id uuid, p_lease_token uuid, p_result jsonb,
  p_lease_seconds integer default 60
) returns table (job public.jobs, risk_state jsonb)
language sql
set search_path = ''
as $$
  select * from tnm_privileged.complete_and_claim_next_with_limits(p_agent_id, p_pairing_key, p_job_id, p_lease_token,
                                                                   p_result, p_lease_seconds)
$$;
comment on function public.complete_and_claim_next_with_limits(uuid, text, uuid, uuid, jsonb, integer)
  is 'Completes and claims as complete_and_claim_next does; returns the claimed job and, when it is an entry, the trader''s risk limits and this agent''s daily-loss lock (as agent_risk_state). No row when nothing waits.';
revoke all on function public.complete_and_claim_next_with_limits(uuid, text, uuid, uuid, jsonb, integer)
  from public, anon;
grant execute on function public.complete_and_claim_next_with_limits(uuid, text, uuid, uuid, jsonb, integer)
  to authenticated, service_role;
