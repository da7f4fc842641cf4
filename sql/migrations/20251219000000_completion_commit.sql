-- A completion commits without waiting for the log flush, and the agent's calls on a held job
-- check the lease in the statement that changes the job.
--
-- Why a completion may be lost in a crash. Exactly-once rests on the intent, not on the
-- completion: an order leaves only after its intent is on disk, and a job that comes back with an
-- intent is looked up on the terminal by its token, never sent again. A completion lost in a
-- server crash leaves the job as the agent's own death just after the order does (held, with its
-- intent: tests/agent/test_crash_injection.py, step "after_send"): the agent takes it back at
-- start-up or when its lease expires, finds the order by its token and completes it again. A job
-- without an intent (reading the account, an EA's compile or deploy) runs once more, as it does
-- after the agent's death. Anything that trades later flushes the log, and with it every
-- completion before it (the log is written in order).
-- What waiting bought was a flush per job under the lock that serialises notifying commits
-- (20251123000000_claim_commit.sql): every agent's completions queued behind the others' flushes.
-- A failure (fail_job) stays durable: a failed trade must not come back to be tried again.
--
-- Fewer steps on the agent's path, the same checks:
-- - The lease check (tnm_private.held_job: a SELECT … FOR UPDATE, then the UPDATE) becomes the
--   UPDATE's own condition; only when it matches nothing is held_job called, for its message. One
--   statement less on the intent (before every order) and on the completion.
-- - The agent's two entry points (claim_next_job_with_limits, complete_and_claim_next_with_limits)
--   did their work through the set-returning functions they extended, a layer each with its own
--   result set; they now make the same calls themselves. The claim (its lease sweep, the order
--   jobs are handed out in, its commit mode) lives in one place, tnm_private.claim_for, which
--   every claim uses. bench.claims, one agent: 0.85 -> 0.78 ms a job.
-- Idempotent: safe to apply twice.

-- The claim itself, after the caller's key check: the lease sweep, then the oldest waiting job this
-- agent may take (the owner's jobs only, a pinned job only by its agent, SKIP LOCKED), with a fresh
-- lease token. A null row when nothing waits. Its transaction commits without waiting for the log
-- flush (20251123000000_claim_commit.sql).
create or replace function tnm_private.claim_for(p_agent_id uuid, p_user uuid, p_lease_seconds integer)
returns public.jobs
language plpgsql
set search_path = ''
as $$
declare
  v_job public.jobs;
begin
  perform set_config('synchronous_commit', 'off', true);
  perform tnm_private.expire_leases(p_user);
  update public.jobs j
     set status = 'running',
         agent_id = p_agent_id,
         claimed_at = now(),
         started_at = coalesce(j.started_at, now()),
         attempts = j.attempts + 1,
         lease_token = gen_random_uuid(),
         lease_expires_at = now() + make_interval(secs => greatest(coalesce(p_lease_seconds, 60), 5))
   where j.id = (
     select c.id
       from public.jobs c
      where c.user_id = p_user
        and c.status = 'pending'
        and c.available_at <= now()
        and (c.target_agent_id is null or c.target_agent_id = p_agent_id)
      order by c.created_at, c.seq
      for update skip locked
      limit 1
   )
  returning j.* into v_job;
  return v_job;
end
$$;
revoke all on function tnm_private.claim_for(uuid, uuid, integer) from public;

-- The completion, after the caller's key check (complete_job's and complete_and_claim_next's).
create or replace function tnm_private.complete_held(p_agent_id uuid, p_job_id uuid, p_lease_token uuid,
                                                     p_result jsonb)
returns public.jobs
language plpgsql
set search_path = ''
as $$
declare
  v_job public.jobs;
begin
  -- This transaction's commit does not wait for the log flush (see the top of this file).
  perform set_config('synchronous_commit', 'off', true);
  update public.jobs
     set status = 'completed', result = coalesce(p_result, '{}'::jsonb), error_message = null,
         error_code = null, completed_at = clock_timestamp(), lease_token = null, lease_expires_at = null
   where id = p_job_id and agent_id = p_agent_id and lease_token = p_lease_token and status = 'running'
  returning * into v_job;
  if v_job.id is null then
    perform tnm_private.held_job(p_agent_id, p_job_id, p_lease_token);  -- raises TNL01
  end if;
  return v_job;
end
$$;
revoke all on function tnm_private.complete_held(uuid, uuid, uuid, jsonb) from public;

create or replace function tnm_privileged.claim_next_job(
  p_agent_id uuid, p_pairing_key text, p_lease_seconds integer default 60
) returns setof public.jobs
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid := tnm_private.require_agent(p_agent_id, p_pairing_key);
  v_job public.jobs;
begin
  v_job := tnm_private.claim_for(p_agent_id, v_user, p_lease_seconds);
  if v_job.id is not null then
    return next v_job;
  end if;
end
$$;

create or replace function tnm_privileged.claim_next_job_with_limits(
  p_agent_id uuid, p_pairing_key text, p_lease_seconds integer default 60
) returns table (job public.jobs, risk_state jsonb)
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid := tnm_private.require_agent(p_agent_id, p_pairing_key);
  v_job public.jobs;
begin
  v_job := tnm_private.claim_for(p_agent_id, v_user, p_lease_seconds);
  if v_job.id is null then
    return;
  end if;
  job := v_job;
  risk_state := case when tnm_private.is_entry(v_job) then tnm_private.risk_state_of(p_agent_id, v_user) end;
  return next;
end
$$;

create or replace function tnm_privileged.complete_job(
  p_agent_id uuid, p_pairing_key text, p_job_id uuid, p_lease_token uuid, p_result jsonb
) returns public.jobs
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform tnm_private.require_agent(p_agent_id, p_pairing_key);
  return tnm_private.complete_held(p_agent_id, p_job_id, p_lease_token, p_result);
end
$$;

create or replace function tnm_privileged.complete_and_claim_next(
  p_agent_id uuid, p_pairing_key text, p_job_id uuid, p_lease_token uuid, p_result jsonb,
  p_lease_seconds integer default 60
) returns setof public.jobs
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid := tnm_private.require_agent(p_agent_id, p_pairing_key);
  v_job public.jobs;
begin
  perform tnm_private.complete_held(p_agent_id, p_job_id, p_lease_token, p_result);
  v_job := tnm_private.claim_for(p_agent_id, v_user, p_lease_seconds);
  if v_job.id is not null then
    return next v_job;
  end if;
end
$$;
comment on function public.complete_and_claim_next(uuid, text, uuid, uuid, jsonb, integer)
  is 'Completes a job the agent holds (as complete_job) and claims the next one (as claim_next_job), in one transaction. Returns the claimed job, or no row when nothing waits.';

create or replace function tnm_privileged.complete_and_claim_next_with_limits(
  p_agent_id uuid, p_pairing_key text, p_job_id uuid, p_lease_token uuid, p_result jsonb,
  p_lease_seconds integer default 60
) returns table (job public.jobs, risk_state jsonb)
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid := tnm_private.require_agent(p_agent_id, p_pairing_key);
  v_job public.jobs;
begin
  perform tnm_private.complete_held(p_agent_id, p_job_id, p_lease_token, p_result);
  v_job := tnm_private.claim_for(p_agent_id, v_user, p_lease_seconds);
  if v_job.id is null then
    return;
  end if;
  job := v_job;
  risk_state := case when tnm_private.is_entry(v_job) then tnm_private.risk_state_of(p_agent_id, v_user) end;
  return next;
end
$$;

-- Durable, as before: the order goes out after this commit is on disk.
create or replace function tnm_privileged.record_job_intent(
  p_agent_id uuid, p_pairing_key text, p_job_id uuid, p_lease_token uuid, p_intent jsonb
) returns timestamptz
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_now timestamptz := clock_timestamp();
begin
  perform tnm_private.require_agent(p_agent_id, p_pairing_key);
  update public.jobs
     set intent = p_intent, sent_at = v_now, target_agent_id = coalesce(target_agent_id, p_agent_id)
   where id = p_job_id and agent_id = p_agent_id and lease_token = p_lease_token and status = 'running';
  if not found then
    perform tnm_private.held_job(p_agent_id, p_job_id, p_lease_token);  -- raises TNL01
  end if;
  return v_now;
end
$$;
