-- Complete a job and claim the next in one call and one commit.
--
-- A busy agent used to pay two round trips and two commits per job: complete_job (durable), then
-- claim_next_job. complete_and_claim_next does both in one transaction: the completion with every
-- check complete_job makes (the pairing key, the lease token: a stale agent is refused, TNL01),
-- then the claim exactly as claim_next_job makes it (the owner's jobs only, a pinned job only by
-- its agent, oldest first, SKIP LOCKED, the lease sweep, a fresh lease token). The key is checked
-- once for both. The commit is durable, as a completion's must be (the claim rides along: a claim
-- lost in a crash would leave the job waiting, and the agent's next call refused).
-- Returns the claimed job (no row when nothing waits), not the completed one.
--
-- It follows the pattern of 20251201000000_definer_functions_out_of_public.sql: the privileged
-- body lives in tnm_privileged (created here too when this migration runs first), reached
-- through a SECURITY INVOKER wrapper of the same name in public.
-- Idempotent: safe to apply twice.

create schema if not exists tnm_privileged;
revoke all on schema tnm_privileged from public;
grant usage on schema tnm_privileged to authenticated, service_role;

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
begin
  -- complete_job, without its key check (done above) -------------------------------------------
  perform tnm_private.held_job(p_agent_id, p_job_id, p_lease_token);
  update public.jobs
     set status = 'completed', result = coalesce(p_result, '{}'::jsonb), error_message = null,
         error_code = null, completed_at = clock_timestamp(), lease_token = null, lease_expires_at = null
   where id = p_job_id;

  -- claim_next_job, without its key check and in this durable transaction ----------------------
  perform tnm_private.expire_leases(v_user);
  return query
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
      where c.user_id = v_user
        and c.status = 'pending'
        and c.available_at <= now()
        and (c.target_agent_id is null or c.target_agent_id = p_agent_id)
      order by c.created_at, c.seq
      for update skip locked
      limit 1
   )
  returning j.*;
end
$$;
revoke all on function tnm_privileged.complete_and_claim_next(uuid, text, uuid, uuid, jsonb, integer)
  from public, anon;
grant execute on function tnm_privileged.complete_and_claim_next(uuid, text, uuid, uuid, jsonb, integer)
  to authenticated, service_role;

create or replace function public.complete_and_claim_next(
  p_agent_id uuid, p_pairing_key text, p_job_id uuid, p_lease_token uuid, p_result jsonb,
  p_lease_seconds integer default 60
) returns setof public.jobs
language sql
set search_path = ''
as $$
  select * from tnm_privileged.complete_and_claim_next(p_agent_id, p_pairing_key, p_job_id, p_lease_token,
                                                       p_result, p_lease_seconds)
$$;
comment on function public.complete_and_claim_next(uuid, text, uuid, uuid, jsonb, integer)
  is 'Completes a job the agent holds (as complete_job) and claims the next one (as claim_next_job), in one durable transaction. Returns the claimed job, or no row when nothing waits.';
revoke all on function public.complete_and_claim_next(uuid, text, uuid, uuid, jsonb, integer) from public, anon;
grant execute on function public.complete_and_claim_next(uuid, text, uuid, uuid, jsonb, integer)
  to authenticated, service_role;
