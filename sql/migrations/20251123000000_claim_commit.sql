-- Claims commit without waiting for the log flush.
--
-- Every status change of a job NOTIFYs (live updates), and PostgreSQL serialises the commits of
-- notifying transactions under one lock that is held until the commit is flushed to disk: with
-- several agents, every claim and every completion queued behind the others' disk flushes
-- (bench.claims, issue 7: three quarters of the agents' database time waiting on that lock).
-- A claim may commit asynchronously. If the server crashes before the claim reaches the disk, the
-- claim is gone: the job waits in the queue again and the agent's next call with that lease token
-- is refused, before anything was sent — a trade records its intent first, in a durable commit,
-- and flushing that commit flushes the claim before it (the log is written in order). The other
-- calls (intent, complete, fail) stay durable.
-- Idempotent: safe to apply twice.

create or replace function public.claim_next_job(
  p_agent_id uuid,
  p_pairing_key text,
  p_lease_seconds integer default 60
) returns setof public.jobs
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid := tnm_private.require_agent(p_agent_id, p_pairing_key);
begin
  -- This transaction's commit does not wait for the log flush (see the top of this file).
  perform set_config('synchronous_commit', 'off', true);
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
