-- Ingestion that claims the new trade for an idle agent of the same process, in its own transaction.
--
-- On a local workspace the app's receiver and its agent run in one process. An alert used to
-- reach the agent as a notification at the ingestion's commit; the agent then woke and claimed the
-- job in a round trip of its own (1.5-1.7 ms here after the quiet between alerts, a third of the
-- path from an alert to its order). When the agent is idle, the receiver now asks for the claim
-- in the ingestion call itself and hands the claimed job to the agent in memory.
--
-- The claim is the agent's own (tnm_private.claim_for): the same key check, the oldest waiting job
-- of that trader first, a pinned job only for its agent, a fresh lease. Only a call that created a
-- job claims, and only with a key that is accepted: a wrong or revoked key claims nothing and the
-- alert is logged as it always was (the agent's own claim then says what is wrong with its key).
-- The alert's commit stays durable: claim_for turns the flush off for its transaction, so the
-- setting is put back before this function returns (an alert is on disk before TradingView hears
-- "received").
-- The claim's time is the clock's, not its transaction's start: a claim made in the ingestion's
-- transaction would otherwise be stamped before the job it claims was created, and the signal's
-- detail would show the agent picking the trade up before it was queued. For a claim in a
-- transaction of its own the two differ by microseconds.
-- Idempotent: safe to apply twice.

-- 20251219000000's claim, stamped by the clock.
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

create or replace function tnm_privileged.ingest_tv_signal_and_claim(
  p_secret text,
  p_body text,
  p_received_at timestamptz,
  p_reject_reason text,
  p_agent_id uuid,
  p_pairing_key text,
  p_lease_seconds integer default 60
) returns table (signal_id uuid, status text, reason text, job_id uuid, code text, claimed public.jobs,
                 risk_state jsonb)
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_flush text := current_setting('synchronous_commit');
  v_user uuid;
begin
  select i.signal_id, i.status, i.reason, i.job_id, i.code
    into signal_id, status, reason, job_id, code
    from tnm_privileged.ingest_tv_signal(p_secret, p_body, p_received_at, p_reject_reason) i;
  if job_id is not null then
    v_user := tnm_private.verify_agent(p_agent_id, p_pairing_key);
    if v_user is not null then
      claimed := tnm_private.claim_for(p_agent_id, v_user, p_lease_seconds);
      perform set_config('synchronous_commit', v_flush, true);
      if claimed.id is null then
        claimed := null;
      elsif tnm_private.is_entry(claimed) then
        risk_state := tnm_private.risk_state_of(p_agent_id, v_user);
      end if;
    end if;
  end if;
  return next;
end
$$;
comment on function tnm_privileged.ingest_tv_signal_and_claim(text, text, timestamptz, text, uuid, text, integer)
  is 'ingest_tv_signal, then, when it created a job and the agent''s key is accepted, claims the oldest waiting job for that agent as claim_next_job_with_limits does (claimed and risk_state are null when nothing was claimed). The app''s own receiver calls it when its agent is idle.';
revoke all on function tnm_privileged.ingest_tv_signal_and_claim(text, text, timestamptz, text, uuid, text, integer)
  from public, anon, authenticated;
grant execute on function tnm_privileged.ingest_tv_signal_and_claim(text, text, timestamptz, text, uuid, text, integer)
  to tnm_ingest, service_role;

create or replace function public.ingest_tv_signal_and_claim(
  p_secret text,
  p_body text,
  p_received_at timestamptz,
  p_reject_reason text,
  p_agent_id uuid,
  p_pairing_key text,
  p_lease_seconds integer default 60
) returns table (signal_id uuid, status text, reason text, job_id uuid, code text, claimed public.jobs,
                 risk_state jsonb)
language sql
security invoker
set search_path = ''
as $$
  select * from tnm_privileged.ingest_tv_signal_and_claim(p_secret, p_body, p_received_at, p_reject_reason,
                                                           p_agent_id, p_pairing_key, p_lease_seconds)
$$;
revoke all on function public.ingest_tv_signal_and_claim(text, text, timestamptz, text, uuid, text, integer)
  from public, anon, authenticated;
grant execute on function public.ingest_tv_signal_and_claim(text, text, timestamptz, text, uuid, text, integer)
  to tnm_ingest, service_role;
