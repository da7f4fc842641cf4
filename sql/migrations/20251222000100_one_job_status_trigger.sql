-- One trigger on a job's status change instead of five, and one on a new job instead of two.
--
-- A job's status change fired five AFTER triggers (live update, compile and trade effects, a
-- limit's notification, an EA's deployed version, a trade's position rule), four of them with a
-- WHEN condition. PostgreSQL reads a WHEN condition back from its stored text and compiles it
-- again for every statement that changes a row: each claim and each completion compiled four, a
-- tenth of the server's time in bench.claims at 8 agents (perf, 2026-12-07). A new job did the
-- same with two triggers. Now one function per event makes the same checks in plain PL/pgSQL,
-- whose expressions are compiled once per session, and does the same work in the same order
-- (the old triggers fired in name order: deployed version, limit notification, live update,
-- position rule, signal and compile effects; on insert, effects then live update).
-- The work itself moves, unchanged, into functions that take the job's row.
-- Idempotent: safe to apply twice.

-- Signal and compile effects (was the body of on_job_status). p_old_status is null for a new job.
create or replace function tnm_private.job_status_effects(p_job public.jobs, p_old_status text) returns void
language plpgsql
set search_path = ''
as $$
begin
  if p_job.job_type in ('trade', 'modify_position') and p_job.status in ('completed', 'failed', 'cancelled') then
    perform tnm_private.resolve_signal(p_job);
  elsif p_job.job_type in ('trade', 'modify_position') and p_old_status = 'failed' then
    -- recovered after a lease-expiry failure: the signal waits for the reconciliation
    update public.tv_signals s set status = 'pending', error_message = null, resolved_at = null
     where s.status = 'failed' and (s.id = p_job.signal_id or s.job_id = p_job.id);
  elsif p_job.job_type = 'compile' and p_job.payload ? 'version_id' then
    update public.ea_versions v set
      compile_status = case
        when p_job.status = 'pending' then 'queued'
        when p_job.status = 'running' then 'compiling'
        when p_job.status = 'completed' and coalesce((p_job.result ->> 'success')::boolean, false) then 'success'
        when p_job.status = 'cancelled' then 'not_compiled'
        else 'failed' end,
      compile_log = case when p_job.status in ('completed', 'failed')
                         then coalesce(p_job.result ->> 'log', p_job.error_message) else v.compile_log end,
      compiled_at = case when p_job.status in ('completed', 'failed') then now() else v.compiled_at end
    where v.id = (p_job.payload ->> 'version_id')::uuid and v.user_id = p_job.user_id;
  end if;
end
$$;
revoke all on function tnm_private.job_status_effects(public.jobs, text) from public, anon, authenticated, service_role;

-- The version an EA job deployed (was on_ea_job_completed).
create or replace function tnm_private.record_deployed_version(p_job public.jobs) returns void
language plpgsql
set search_path = ''
as $$
declare
  v_version uuid;
begin
  if p_job.result ->> 'deployed_version_id' !~ '^[0-9a-f-]{36}$' then
    return;
  end if;
  v_version := (p_job.result ->> 'deployed_version_id')::uuid;
  update public.ea_projects p
     set deployed_version_id = v_version, deployed_at = coalesce(p_job.completed_at, now())
   where p.id = p_job.ea_project_id and p.user_id = p_job.user_id
     and exists (select 1 from public.ea_versions v where v.id = v_version and v.project_id = p.id);
end
$$;
revoke all on function tnm_private.record_deployed_version(public.jobs) from public, anon, authenticated, service_role;

-- The notification that a risk limit refused a trade (was notify_limit_reached).
create or replace function tnm_private.record_limit_reached(p_job public.jobs) returns void
language plpgsql
set search_path = ''
as $$
declare
  -- The limits' names as Settings shows them (tnm_desktop.domain.risk.LIMIT_NAMES).
  v_name text := case p_job.error_code
                   when 'equity_floor' then 'Equity floor'
                   when 'max_positions' then 'Maximum open positions'
                   when 'max_positions_symbol' then 'Maximum positions per symbol'
                   when 'max_lot_size' then 'Maximum lot size'
                 end;
begin
  perform tnm_private.record_notification(
    p_job.user_id,
    'limit_reached:' || p_job.error_code || ':' || to_char(now() at time zone 'UTC', 'YYYY-MM-DD'),
    'limit_reached', coalesce(v_name || ' reached', 'Risk limit reached'),
    coalesce(nullif(regexp_replace(coalesce(p_job.error_message, ''), '^' || coalesce(v_name, '') || ': ', ''), ''),
             'A trade was refused by one of your risk limits.')
      || ' New entries that break it are refused; closes still run.');
end
$$;
revoke all on function tnm_private.record_limit_reached(public.jobs) from public, anon, authenticated, service_role;

-- The rule that manages a filled trade's position (was make_position_rule).
create or replace function tnm_private.record_position_rule(p_job public.jobs) returns void
language plpgsql
set search_path = ''
as $$
declare
  v_ticket bigint := coalesce((p_job.result ->> 'position')::bigint, (p_job.result ->> 'order')::bigint);
begin
  if v_ticket is null or v_ticket = 0 or p_job.agent_id is null then
    return;
  end if;
  insert into public.position_rules (user_id, job_id, signal_id, strategy_id, broker_connection_id, agent_id,
                                     symbol, side, ticket, volume, entry_price, manage, state)
  values (p_job.user_id, p_job.id, p_job.signal_id,
          (select st.id from public.tv_strategies st
            where st.id = (p_job.payload ->> 'strategy_id')::uuid and st.user_id = p_job.user_id),
          (select bc.id from public.broker_connections bc
            where bc.id = (p_job.payload ->> 'broker_connection_id')::uuid and bc.user_id = p_job.user_id),
          p_job.agent_id, p_job.payload ->> 'broker_symbol', p_job.payload ->> 'action', v_ticket,
          (p_job.result ->> 'volume')::numeric,
          case when coalesce((p_job.result ->> 'pending')::boolean, false) then null
               else (p_job.result ->> 'price')::numeric end,
          p_job.payload -> 'manage',
          case when coalesce((p_job.result ->> 'pending')::boolean, false) then 'waiting' else 'active' end)
  on conflict (job_id) do nothing;
end
$$;
revoke all on function tnm_private.record_position_rule(public.jobs) from public, anon, authenticated, service_role;

-- A job's status changed: the five triggers' checks and work, in their order.
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

-- A job was created: a compile job queues its version, a job written as failed resolves its
-- signal (the two jobs_inserted cases), then the live update.
create or replace function tnm_private.on_job_created() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if new.job_type = 'compile' or new.status = 'failed' then
    perform tnm_private.job_status_effects(new, null);
  end if;
  perform pg_notify('tnm_' || replace(new.user_id::text, '-', ''),
                    json_build_object('table', tg_table_name, 'op', 'insert', 'id', new.id)::text);
  return null;
end
$$;
revoke all on function tnm_private.on_job_created() from public, anon, authenticated, service_role;

drop trigger if exists jobs_ea_deployed on public.jobs;
drop trigger if exists jobs_limit_reached_notify on public.jobs;
drop trigger if exists jobs_notify_update on public.jobs;
drop trigger if exists jobs_position_rule on public.jobs;
drop trigger if exists jobs_status_changed on public.jobs;
drop trigger if exists jobs_status_change on public.jobs;
create trigger jobs_status_change after update of status on public.jobs
  for each row execute function tnm_private.on_job_status_change();

drop trigger if exists jobs_inserted on public.jobs;
drop trigger if exists jobs_notify_insert on public.jobs;
drop trigger if exists jobs_created on public.jobs;
create trigger jobs_created after insert on public.jobs
  for each row execute function tnm_private.on_job_created();

drop function if exists tnm_private.on_ea_job_completed();
drop function if exists tnm_private.notify_limit_reached();
drop function if exists tnm_private.make_position_rule();
drop function if exists tnm_private.on_job_status();
