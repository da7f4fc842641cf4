-- Less work on every write of a job: two indexes that held every job now hold only the jobs they
-- serve, and the agent's claim and completion run their small steps without an executor each.
--
-- Indexes. jobs_ea_project_id_idx and jobs_target_agent_id_idx exist for their foreign keys (a
-- deleted EA project or agent sets its jobs' column to null) and for the lists of an agent's or an
-- EA project's jobs. Most jobs are trades with no EA project and no target until their intent, so both
-- indexes were mostly null keys, and a claim or a completion changes the status (which the queue's
-- partial indexes read), so every such update added a new null entry to each of them: at 8 agents
-- in bench.claims, 58 index pages touched a job, 47 without (pg_statio_user_indexes, 2026-12-07).
-- The lookups they serve all name a value (`= $1`), which implies `is not null`, so partial
-- indexes serve them as before (tests/sql/test_jobs.py checks the plans).
--
-- Statements. In PL/pgSQL a PERFORM runs its expression through a whole executor (start, run,
-- finish) while an assignment of a plain expression is evaluated directly. The claim
-- (claim_for: its commit mode and its lease sweep), the completion (complete_held: its commit
-- mode) and the agent's complete-and-claim (the completion's call) used PERFORM for calls whose
-- results they ignore; they now assign them. Nothing a call returns or writes changes.
-- Idempotent: safe to apply twice.

create index if not exists jobs_ea_project_set_idx on public.jobs (ea_project_id) where ea_project_id is not null;
drop index if exists public.jobs_ea_project_id_idx;
create index if not exists jobs_target_agent_set_idx on public.jobs (target_agent_id)
  where target_agent_id is not null;
drop index if exists public.jobs_target_agent_id_idx;

create or replace function tnm_private.claim_for(p_agent_id uuid, p_user uuid, p_lease_seconds integer)
returns public.jobs
language plpgsql
set search_path = ''
as $$
declare
  v_job public.jobs;
  v_ignored text;
begin
  v_ignored := set_config('synchronous_commit', 'off', true);
  v_ignored := tnm_private.expire_leases(p_user);
  update public.jobs j
     set status = 'running',
         agent_id = p_agent_id,
         claimed_at = clock_timestamp(),
         started_at = coalesce(j.started_at, clock_timestamp()),
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

create or replace function tnm_private.complete_held(p_agent_id uuid, p_job_id uuid, p_lease_token uuid,
                                                     p_result jsonb)
returns public.jobs
language plpgsql
set search_path = ''
as $$
declare
  v_job public.jobs;
  v_ignored text;
begin
  -- This transaction's commit does not wait for the log flush (20251219000000_completion_commit.sql).
  v_ignored := set_config('synchronous_commit', 'off', true);
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
  v_job := tnm_private.complete_held(p_agent_id, p_job_id, p_lease_token, p_result);
  v_job := tnm_private.claim_for(p_agent_id, v_user, p_lease_seconds);
  if v_job.id is null then
    return;
  end if;
  job := v_job;
  risk_state := case when tnm_private.is_entry(v_job) then tnm_private.risk_state_of(p_agent_id, v_user) end;
  return next;
end
$$;
