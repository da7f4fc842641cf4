-- The job lifecycle after a claim, and everything else an agent writes.
--
-- A claim (public.claim_next_job) is a lease with a fencing token. While it holds the lease the
-- agent may extend it, record what it is about to send, and complete or fail the job; every one
-- of these calls carries the agent id, its pairing key and the lease token, and is refused once
-- the lease has moved on (a stale agent cannot overwrite a re-issued job).
-- Outcomes flow on by trigger: a trade job resolves its tv_signals row, a compile job its version.
-- Idempotent: safe to apply twice.

-- Refused when the caller no longer holds the claim.
create or replace function tnm_private.held_job(
  p_agent_id uuid, p_job_id uuid, p_lease_token uuid
) returns public.jobs
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_job public.jobs;
begin
  select * into v_job from public.jobs j
   where j.id = p_job_id and j.agent_id = p_agent_id and j.lease_token = p_lease_token
     and j.status = 'running'
   for update;
  if v_job.id is null then
    raise exception 'This job is no longer held by this agent.'
      using errcode = 'TNL01', hint = 'Its lease expired and it was handed out again, or it was cancelled.';
  end if;
  return v_job;
end
$$;
revoke execute on function tnm_private.held_job(uuid, uuid, uuid) from public;

create or replace function public.extend_job_lease(
  p_agent_id uuid, p_pairing_key text, p_job_id uuid, p_lease_token uuid,
  p_lease_seconds integer default 60
) returns timestamptz
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_until timestamptz := now() + make_interval(secs => greatest(coalesce(p_lease_seconds, 60), 5));
begin
  perform tnm_private.require_agent(p_agent_id, p_pairing_key);
  perform tnm_private.held_job(p_agent_id, p_job_id, p_lease_token);
  update public.jobs set lease_expires_at = v_until where id = p_job_id;
  return v_until;
end
$$;

-- Step 1 of an exactly-once trade: the agent records what it will send before sending. From now
-- on the job stays with this agent (its terminal is the only place the order can be found).
create or replace function public.record_job_intent(
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
  perform tnm_private.held_job(p_agent_id, p_job_id, p_lease_token);
  update public.jobs
     set intent = p_intent, sent_at = v_now, target_agent_id = coalesce(target_agent_id, p_agent_id)
   where id = p_job_id;
  return v_now;
end
$$;

create or replace function public.complete_job(
  p_agent_id uuid, p_pairing_key text, p_job_id uuid, p_lease_token uuid, p_result jsonb
) returns public.jobs
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_job public.jobs;
begin
  perform tnm_private.require_agent(p_agent_id, p_pairing_key);
  perform tnm_private.held_job(p_agent_id, p_job_id, p_lease_token);
  update public.jobs
     set status = 'completed', result = coalesce(p_result, '{}'::jsonb), error_message = null,
         error_code = null, completed_at = clock_timestamp(), lease_token = null, lease_expires_at = null
   where id = p_job_id
  returning * into v_job;
  return v_job;
end
$$;

-- p_retry: a transient failure; the job goes back to the queue after p_retry_delay_seconds
-- unless it has used its attempts.
create or replace function public.fail_job(
  p_agent_id uuid, p_pairing_key text, p_job_id uuid, p_lease_token uuid,
  p_error_message text, p_error_code text default null, p_result jsonb default null,
  p_retry boolean default false, p_retry_delay_seconds integer default 0
) returns public.jobs
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_job public.jobs;
  v_requeue boolean;
begin
  perform tnm_private.require_agent(p_agent_id, p_pairing_key);
  v_job := tnm_private.held_job(p_agent_id, p_job_id, p_lease_token);
  v_requeue := coalesce(p_retry, false) and v_job.attempts < v_job.max_attempts;
  update public.jobs
     set status = case when v_requeue then 'pending' else 'failed' end,
         error_message = left(coalesce(p_error_message, 'Failed.'), 2000),
         error_code = p_error_code,
         result = coalesce(p_result, result),
         available_at = case when v_requeue
                             then now() + make_interval(secs => greatest(coalesce(p_retry_delay_seconds, 0), 0))
                             else available_at end,
         completed_at = case when v_requeue then null else clock_timestamp() end,
         lease_token = null,
         lease_expires_at = null
   where id = p_job_id
  returning * into v_job;
  return v_job;
end
$$;

-- Start-up and crash recovery: hand the agent back every job its previous run held, plus trades
-- it recorded an intent for that were failed by lease expiry while it was down, so it can look
-- each one up in the terminal before anything is sent again. Fresh lease tokens fence off the
-- previous run.
create or replace function public.recover_agent_jobs(
  p_agent_id uuid, p_pairing_key text, p_lease_seconds integer default 60
) returns setof public.jobs
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform tnm_private.require_agent(p_agent_id, p_pairing_key);
  return query
  update public.jobs j
     set status = 'running',
         lease_token = gen_random_uuid(),
         lease_expires_at = now() + make_interval(secs => greatest(coalesce(p_lease_seconds, 60), 5)),
         error_code = null,
         error_message = null,
         completed_at = null
   where j.agent_id = p_agent_id
     and (j.status = 'running'
          or (j.status = 'failed' and j.error_code = 'lease_expired' and j.intent is not null
              and j.completed_at > now() - interval '7 days'))
  returning j.*;
end
$$;

create or replace function public.agent_heartbeat(
  p_agent_id uuid, p_pairing_key text, p_status text, p_last_error text default null,
  p_agent_version text default null
) returns timestamptz
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform tnm_private.require_agent(p_agent_id, p_pairing_key);
  update public.mt5_agents
     set status = p_status, last_heartbeat_at = now(), last_error = left(p_last_error, 2000),
         agent_version = coalesce(p_agent_version, agent_version)
   where id = p_agent_id;
  return now();
end
$$;

-- One account sync attempt: account state, deals (upsert by ticket), the sync_logs row and the
-- seed-000 sync columns, in one transaction. p_account needs login and server; the rest is
-- applied when the sync reached the terminal. Returns the sync_logs id.
create or replace function public.record_sync(
  p_agent_id uuid, p_pairing_key text, p_sync_type text, p_status text,
  p_started_at timestamptz, p_duration_ms integer, p_account jsonb,
  p_trades jsonb default '[]'::jsonb, p_error_message text default null
) returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid := tnm_private.require_agent(p_agent_id, p_pairing_key);
  v_account uuid;
  v_trades integer := 0;
  v_log uuid;
  v_ok boolean := p_status = 'success';
  v_reached boolean := p_status in ('success', 'partial');
begin
  if p_account ->> 'login' is null or p_account ->> 'server' is null then
    raise exception 'A sync must name the account (login and server).' using errcode = 'TNV01';
  end if;

  insert into public.trading_accounts as ta (user_id, broker_connection_id, login, server)
  values (v_user,
          (select bc.id from public.broker_connections bc
            where bc.user_id = v_user and bc.agent_id = p_agent_id
            order by (bc.login = (p_account ->> 'login')::bigint) desc nulls last, bc.created_at
            limit 1),
          (p_account ->> 'login')::bigint, p_account ->> 'server')
  on conflict (user_id, login, server) do update set last_sync_at = ta.last_sync_at
  returning ta.id into v_account;

  if v_reached then
    update public.trading_accounts ta set
      broker_name = coalesce(p_account ->> 'broker_name', ta.broker_name),
      name = coalesce(p_account ->> 'name', ta.name),
      currency = coalesce(p_account ->> 'currency', ta.currency),
      leverage = coalesce((p_account ->> 'leverage')::integer, ta.leverage),
      balance = coalesce((p_account ->> 'balance')::numeric, ta.balance),
      equity = coalesce((p_account ->> 'equity')::numeric, ta.equity),
      margin = coalesce((p_account ->> 'margin')::numeric, ta.margin),
      free_margin = coalesce((p_account ->> 'free_margin')::numeric, ta.free_margin),
      margin_level = (p_account ->> 'margin_level')::numeric,
      profit = coalesce((p_account ->> 'profit')::numeric, ta.profit),
      broker_server_time_offset = coalesce((p_account ->> 'server_time_offset')::integer,
                                           ta.broker_server_time_offset)
    where ta.id = v_account;

    with incoming as (
      select * from jsonb_to_recordset(coalesce(p_trades, '[]'::jsonb)) as t(
        ticket bigint, order_ticket bigint, position_id bigint, symbol text, side text, entry text,
        volume numeric, price numeric, profit numeric, commission numeric, swap numeric,
        magic bigint, comment text, executed_at timestamptz)
    ), upserted as (
      insert into public.trades as tr (user_id, account_id, ticket, order_ticket, position_id, symbol,
        side, entry, volume, price, profit, commission, swap, magic, comment, executed_at)
      select v_user, v_account, i.ticket, i.order_ticket, i.position_id, i.symbol, i.side, i.entry,
             i.volume, i.price, coalesce(i.profit, 0), coalesce(i.commission, 0), coalesce(i.swap, 0),
             coalesce(i.magic, 0), coalesce(i.comment, ''), i.executed_at
        from incoming i
      on conflict (account_id, ticket) do update set
        profit = excluded.profit, commission = excluded.commission, swap = excluded.swap,
        comment = excluded.comment
      where (tr.profit, tr.commission, tr.swap, tr.comment)
            is distinct from (excluded.profit, excluded.commission, excluded.swap, excluded.comment)
      returning 1
    )
    select count(*) into v_trades from upserted;
  end if;

  update public.trading_accounts ta set
    connection_status = case when v_reached then 'connected' else 'error' end,
    last_sync_at = now(),
    last_successful_sync_at = case when v_ok then now() else ta.last_successful_sync_at end,
    sync_failure_count = case when v_ok then 0 else ta.sync_failure_count + 1 end,
    last_connection_error = case when v_ok then null else left(p_error_message, 2000) end
  where ta.id = v_account;

  insert into public.sync_logs (account_id, user_id, sync_type, started_at, completed_at, status,
                                trades_synced, error_message, duration_ms)
  values (v_account, v_user, p_sync_type, p_started_at, now(), p_status, v_trades,
          left(p_error_message, 2000), greatest(p_duration_ms, 0))
  returning id into v_log;
  return v_log;
end
$$;

-- The user cancels a job that no agent has started.
create or replace function public.cancel_job(p_job_id uuid) returns public.jobs
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_job public.jobs;
begin
  update public.jobs
     set status = 'cancelled', completed_at = now(), error_message = 'Cancelled by the user.'
   where id = p_job_id and user_id = (select auth.uid()) and status = 'pending'
  returning * into v_job;
  if v_job.id is null then
    raise exception 'Only a job that has not started can be cancelled.' using errcode = 'TNV01';
  end if;
  return v_job;
end
$$;

-- For a backend's scheduler (pg_cron): expire every user's dead leases, not only at claims.
create or replace function public.requeue_expired_jobs() returns integer
language sql
security definer
set search_path = ''
as $$
  select tnm_private.expire_leases(null)
$$;

create or replace function public.rotate_strategy_secret(p_strategy_id uuid) returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_secret text;
begin
  update public.tv_strategies
     set webhook_secret = encode(extensions.gen_random_bytes(24), 'hex')
   where id = p_strategy_id and user_id = (select auth.uid())
  returning webhook_secret into v_secret;
  if v_secret is null then
    raise exception 'Strategy not found.' using errcode = 'P0002';
  end if;
  return v_secret;
end
$$;

-- Outcomes flow on ----------------------------------------------------------------------------

create or replace function tnm_private.on_job_status() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if new.job_type = 'trade' and new.status in ('completed', 'failed', 'cancelled') then
    update public.tv_signals s set
      status = case new.status when 'completed' then 'executed'
                               when 'failed' then 'failed' else 'discarded' end,
      fill_price = case when new.status = 'completed' then (new.result ->> 'price')::numeric end,
      broker_order_id = case when new.status = 'completed'
                             then coalesce(new.result ->> 'order', new.result ->> 'position') end,
      error_message = case when new.status = 'completed' then new.result ->> 'note'
                           else new.error_message end,
      resolved_at = coalesce(new.completed_at, now())
    where s.job_id = new.id and s.status = 'pending';
  elsif new.job_type = 'trade' and tg_op = 'UPDATE' and old.status = 'failed' then
    -- recovered after a lease-expiry failure: the signal waits for the reconciliation
    update public.tv_signals s set status = 'pending', error_message = null, resolved_at = null
     where s.job_id = new.id and s.status = 'failed';
  elsif new.job_type = 'compile' and new.payload ? 'version_id' then
    update public.ea_versions v set
      compile_status = case
        when new.status = 'pending' then 'queued'
        when new.status = 'running' then 'compiling'
        when new.status = 'completed' and coalesce((new.result ->> 'success')::boolean, false) then 'success'
        when new.status = 'cancelled' then 'not_compiled'
        else 'failed' end,
      compile_log = case when new.status in ('completed', 'failed')
                         then coalesce(new.result ->> 'log', new.error_message) else v.compile_log end,
      compiled_at = case when new.status in ('completed', 'failed') then now() else v.compiled_at end
    where v.id = (new.payload ->> 'version_id')::uuid and v.user_id = new.user_id;
  end if;
  return null;
end
$$;
revoke execute on function tnm_private.on_job_status() from public;

drop trigger if exists jobs_status_changed on public.jobs;
create trigger jobs_status_changed
  after update of status on public.jobs
  for each row when (old.status is distinct from new.status)
  execute function tnm_private.on_job_status();
drop trigger if exists jobs_inserted on public.jobs;
create trigger jobs_inserted
  after insert on public.jobs
  for each row when (new.job_type = 'compile')
  execute function tnm_private.on_job_status();

-- Grants --------------------------------------------------------------------------------------------

do $$
declare
  f text;
begin
  foreach f in array array[
    'public.extend_job_lease(uuid, text, uuid, uuid, integer)',
    'public.record_job_intent(uuid, text, uuid, uuid, jsonb)',
    'public.complete_job(uuid, text, uuid, uuid, jsonb)',
    'public.fail_job(uuid, text, uuid, uuid, text, text, jsonb, boolean, integer)',
    'public.recover_agent_jobs(uuid, text, integer)',
    'public.agent_heartbeat(uuid, text, text, text, text)',
    'public.record_sync(uuid, text, text, text, timestamptz, integer, jsonb, jsonb, text)',
    'public.cancel_job(uuid)',
    'public.rotate_strategy_secret(uuid)'
  ]
  loop
    execute format('revoke execute on function %s from public, anon', f);
    execute format('grant execute on function %s to authenticated, service_role', f);
  end loop;
end
$$;

revoke execute on function public.requeue_expired_jobs() from public, anon, authenticated;
grant execute on function public.requeue_expired_jobs() to service_role;
