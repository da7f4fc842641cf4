-- A channel of its own for the agent: announced only when a job starts to wait for an agent.
--
-- The agent listened on its trader's channel ('tnm_' and the user id), where every change of the
-- trader's rows is announced: an alert's signal, its job, the claim, the intent, the completion,
-- the positions after each trade. It only needs to hear of a job it could claim, so each of
-- those woke its listening connection and its thread for nothing, at the moment the trade it was
-- woken by was on its way (bench.alert_to_order: 0.14-0.45 ms of an alert's hand-over,
-- docs/benchmarks.md). Now a job is announced on 'tnm_jobs_' and the user id when it is created
-- waiting, and when it goes back to waiting (a lease that expired, a failure to be tried again).
-- The payload is the live updates' (table, op 'waiting', id); the trader's channel keeps every
-- change for the windows.
--
-- A job the app's receiver claims for its idle agent in the ingestion's own call is handed to the
-- agent in memory: announcing it would wake that agent for a job it already has. While that call
-- runs, the jobs it creates are noted (the transaction's setting tnm.jobs_created) rather than
-- announced; after its claim, those still waiting (another account's leg, or the new job when an
-- older one was claimed first) are announced.
-- Idempotent: safe to apply twice.

-- The channel of a trader's waiting jobs (tnm_desktop.data.local.live.waiting_jobs_channel_of).
create or replace function tnm_private.announce_waiting_job(p_user uuid, p_job uuid) returns void
language sql
set search_path = ''
as $$
  select pg_notify('tnm_jobs_' || replace(p_user::text, '-', ''),
                   '{"table": "jobs", "op": "waiting", "id": "' || p_job::text || '"}')
$$;
revoke all on function tnm_private.announce_waiting_job(uuid, uuid) from public, anon, authenticated, service_role;

-- 20251222000100's trigger, announcing a job that goes back to waiting.
create or replace function tnm_private.on_job_status_change() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if old.status is not distinct from new.status then
    return null;  -- a lease extension or a rewrite of the same status: nothing happened
  end if;
  if new.status = 'completed' and new.job_type in ('deploy', 'run', 'test') and new.ea_project_id is not null then
    perform tnm_private.record_deployed_version(new);
  end if;
  if new.status = 'failed'
     and new.error_code in ('max_positions', 'max_lot_size', 'max_positions_symbol', 'equity_floor') then
    perform tnm_private.record_limit_reached(new);
  end if;
  -- The live update, as tnm_private.notify_change sends it.
  perform pg_notify('tnm_' || replace(new.user_id::text, '-', ''),
                    json_build_object('table', tg_table_name, 'op', 'update', 'id', new.id)::text);
  if new.status = 'pending' then
    perform tnm_private.announce_waiting_job(new.user_id, new.id);
  end if;
  if new.status = 'completed' and new.job_type = 'trade' and jsonb_typeof(new.payload -> 'manage') = 'object' then
    perform tnm_private.record_position_rule(new);
  end if;
  if new.job_type = 'compile'
     or (new.job_type in ('trade', 'modify_position')
         and (new.status in ('completed', 'failed', 'cancelled') or old.status = 'failed')) then
    perform tnm_private.job_status_effects(new, old.status);
  end if;
  return null;
end
$$;
revoke all on function tnm_private.on_job_status_change() from public, anon, authenticated, service_role;

-- 20251222000100's trigger, announcing a job created waiting (or noting it during a hand-over).
create or replace function tnm_private.on_job_created() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_noted text;
begin
  if new.job_type = 'compile' or new.status = 'failed' then
    perform tnm_private.job_status_effects(new, null);
  end if;
  perform pg_notify('tnm_' || replace(new.user_id::text, '-', ''),
                    json_build_object('table', tg_table_name, 'op', 'insert', 'id', new.id)::text);
  if new.status = 'pending' then
    v_noted := current_setting('tnm.jobs_created', true);
    if v_noted is null or v_noted = '' then
      perform tnm_private.announce_waiting_job(new.user_id, new.id);
    else
      v_noted := set_config('tnm.jobs_created', v_noted || new.id::text || ' ', true);
    end if;
  end if;
  return null;
end
$$;
revoke all on function tnm_private.on_job_created() from public, anon, authenticated, service_role;

-- 20251221000000's hand-over, announcing after its claim the jobs it created that still wait.
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
  v_created text;
  v_waiting record;
begin
  v_created := set_config('tnm.jobs_created', ' ', true);  -- not empty: note, do not announce
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
  v_created := btrim(current_setting('tnm.jobs_created'));
  perform set_config('tnm.jobs_created', '', true);
  if v_created <> '' and v_created is distinct from claimed.id::text then
    for v_waiting in
      select j.user_id, j.id from public.jobs j
       where j.id = any(string_to_array(v_created, ' ')::uuid[]) and j.status = 'pending'
         and j.id is distinct from claimed.id
       order by j.created_at, j.seq
    loop
      perform tnm_private.announce_waiting_job(v_waiting.user_id, v_waiting.id);
    end loop;
  end if;
  return next;
end
$$;
comment on function tnm_privileged.ingest_tv_signal_and_claim(text, text, timestamptz, text, uuid, text, integer)
  is 'ingest_tv_signal, then, when it created a job and the agent''s key is accepted, claims the oldest waiting job for that agent as claim_next_job_with_limits does (claimed and risk_state are null when nothing was claimed). The app''s own receiver calls it when its agent is idle. The jobs it creates are announced as waiting only if they still wait after the claim.';
