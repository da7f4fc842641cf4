-- Real money, part 1: risk limits that hold, one trading switch, and "stop everything".
--
-- * user_settings gains the limits the agent now enforces before every entry (per-symbol
--   positions, an equity floor, closing everything when the daily loss is reached, a default stop
--   for fixed-lot orders) and says who turned trading off and why (trading_off_by/_reason), so a
--   refusal can say it and an alert's `eaon` cannot undo the trader's own "Stop trading".
-- * daily_loss_locks: the agent records the first time in a broker trading day that the daily
--   loss reached the limit; entries stay refused (by the agent and, earlier, by ingestion) until
--   the next trading day unless the trader raises or removes the limit.
-- * stop_trading(close_all): turn trading off at once, cancel the queued entries (their signals
--   say why), and optionally queue a close-all job (every position and pending order) for every
--   agent. Used by the app's Stop trading control, the eaoff/closealleaoff alerts and the daily
--   loss option.
-- * tv_strategies.opposite_signal, broker_connections.pip_sizes: see tnm_desktop/domain/trade.py
--   (Opposite) and tnm_desktop/domain/pips.py.
-- Entry points follow 20251201000000's pattern: SECURITY DEFINER in tnm_privileged, a SECURITY
-- INVOKER wrapper of the same name in public, helpers in tnm_private.
-- Idempotent: safe to apply twice.

create schema if not exists tnm_privileged;
revoke all on schema tnm_privileged from public;
grant usage on schema tnm_privileged to authenticated, service_role, tnm_ingest;

-- user_settings ---------------------------------------------------------------------------------

alter table public.user_settings
  add column if not exists max_positions_per_symbol integer
    constraint user_settings_max_positions_per_symbol_check check (max_positions_per_symbol >= 0),
  add column if not exists equity_floor numeric(14,2)
    constraint user_settings_equity_floor_check check (equity_floor > 0),
  add column if not exists close_all_on_daily_loss boolean not null default false,
  -- The default stop of fixed-lot orders (default_sl_pips is the one of risk-sized orders): none
  -- unless the trader sets one, so a lot-sized alert without a stop is sent without one.
  add column if not exists default_sl_pips_lots numeric(8,1)
    constraint user_settings_default_sl_pips_lots_check check (default_sl_pips_lots > 0),
  add column if not exists trading_off_by text
    constraint user_settings_trading_off_by_check check (trading_off_by in ('app', 'alert', 'daily_loss')),
  add column if not exists trading_off_reason text
    constraint user_settings_trading_off_reason_check check (length(trading_off_reason) <= 300);

comment on column public.user_settings.max_daily_loss_pct
  is 'Entries are refused once the loss since the start of the broker''s trading day (realised + floating) reaches this % of the balance at that start';
comment on column public.user_settings.trading_off_by
  is 'Who turned trading off: app (the trader), alert (eaoff/closealleaoff), daily_loss; NULL while trading is on';

grant update (max_positions_per_symbol, equity_floor, close_all_on_daily_loss, default_sl_pips_lots)
  on public.user_settings to authenticated;

-- Whoever turns the switch, the reason follows it: on clears it, off from a plain update (the
-- Settings page) is the trader's own.
create or replace function tnm_private.user_settings_switch() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new.trading_enabled then
    new.trading_off_by := null;
    new.trading_off_reason := null;
  elsif old.trading_enabled and new.trading_off_by is not distinct from old.trading_off_by then
    new.trading_off_by := 'app';
    new.trading_off_reason := 'trading is turned off in Settings';
  end if;
  return new;
end
$$;
revoke all on function tnm_private.user_settings_switch() from public;

drop trigger if exists user_settings_switch on public.user_settings;
create trigger user_settings_switch before update on public.user_settings
  for each row execute function tnm_private.user_settings_switch();

-- tv_strategies, broker_connections ------------------------------------------------------------

alter table public.tv_strategies
  add column if not exists opposite_signal text not null default 'close'
    constraint tv_strategies_opposite_signal_check check (opposite_signal in ('close', 'reverse', 'hedge'));
comment on column public.tv_strategies.opposite_signal
  is 'What a signal does to the strategy''s open positions on the other side: close (and open nothing), reverse (close, then open), hedge (open beside them)';
grant insert (opposite_signal), update (opposite_signal) on public.tv_strategies to authenticated;

alter table public.broker_connections
  add column if not exists pip_sizes jsonb not null default '{}'::jsonb
    constraint broker_connections_pip_sizes_check check (jsonb_typeof(pip_sizes) = 'object');
comment on column public.broker_connections.pip_sizes
  is 'Pip size per symbol where the broker''s convention differs from the rule (README, "Pips"), e.g. {"XAUUSD": 0.01}; keys are TradingView or broker symbols';

-- tv_signals: the alert commands that are not trades ------------------------------------------

alter table public.tv_signals drop constraint if exists tv_signals_action_check;
alter table public.tv_signals add constraint tv_signals_action_check
  check (action in ('buy', 'sell', 'close', 'closeall', 'closealleaoff', 'eaoff', 'eaon'));

-- daily_loss_locks ---------------------------------------------------------------------------------

create table if not exists public.daily_loss_locks (
  agent_id     uuid        not null,
  user_id      uuid        not null references public.profiles (id) on delete cascade,
  trading_day  date        not null,  -- the broker's day, in trade-server time
  locked_until timestamptz not null,  -- when the broker's next trading day begins
  limit_pct    numeric(5,2) not null check (limit_pct > 0),
  loss_pct     numeric(9,4) not null check (loss_pct >= 0),
  reason       text        not null check (length(reason) <= 500),
  created_at   timestamptz not null default now(),
  updated_at   timestamptz not null default now(),
  primary key (agent_id, trading_day),
  constraint daily_loss_locks_agent_fk foreign key (agent_id, user_id)
    references public.mt5_agents (id, user_id) on delete cascade
);
comment on table public.daily_loss_locks
  is 'Trading days on which an agent''s account reached the daily-loss limit; written by record_daily_loss';
create index if not exists daily_loss_locks_user_id_idx on public.daily_loss_locks (user_id);

alter table public.daily_loss_locks enable row level security;
drop policy if exists daily_loss_locks_select on public.daily_loss_locks;
create policy daily_loss_locks_select on public.daily_loss_locks for select to authenticated
  using ((select auth.uid()) = user_id);
revoke all on public.daily_loss_locks from anon, authenticated;
grant select on public.daily_loss_locks to authenticated;
grant all on public.daily_loss_locks to service_role;

-- Stopping ------------------------------------------------------------------------------------------

-- Turns trading off for p_user (unless it is off already for a reason that outranks p_by: the
-- trader's own stop outranks the daily loss, which outranks an alert), cancels the queued
-- entries — their signals are discarded with the reason — and queues a close-all job for each
-- of p_close_agents. Closes already queued run on. Returns {"cancelled": n, "close_jobs": [ids]}.
create or replace function tnm_private.stop_trading(
  p_user uuid, p_by text, p_reason text, p_close_agents uuid[] default '{}'
) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_cancelled integer;
  v_jobs uuid[] := '{}';
  v_job uuid;
  v_agent uuid;
begin
  update public.user_settings us
     set trading_enabled = false, trading_off_by = p_by, trading_off_reason = left(p_reason, 300)
   where us.user_id = p_user
     and (us.trading_enabled
          or array_position(array['alert', 'daily_loss', 'app'], p_by)
             > coalesce(array_position(array['alert', 'daily_loss', 'app'], us.trading_off_by), 0));
  -- Entries waiting in the queue would trade after the stop; closes would not, so they stay.
  update public.jobs j
     set status = 'cancelled', completed_at = now(), error_code = 'trading_disabled',
         error_message = left('Not executed: ' || p_reason || '.', 500)
   where j.user_id = p_user and j.status = 'pending' and j.job_type = 'trade'
     and j.payload ->> 'action' in ('buy', 'sell');
  get diagnostics v_cancelled = row_count;
  foreach v_agent in array coalesce(p_close_agents, '{}') loop
    insert into public.jobs (user_id, job_type, payload, target_agent_id, max_attempts)
    values (p_user, 'close_position', jsonb_build_object('scope', 'account', 'reason', left(p_reason, 300)),
            v_agent, 5)
    returning id into v_job;
    v_jobs := v_jobs || v_job;
  end loop;
  return jsonb_build_object('cancelled', v_cancelled, 'close_jobs', to_jsonb(v_jobs));
end
$$;
revoke all on function tnm_private.stop_trading(uuid, text, text, uuid[]) from public;

-- The agents that can close positions: paired and not revoked.
create or replace function tnm_private.live_agents(p_user uuid) returns uuid[]
language sql stable
set search_path = ''
as $$
  select coalesce(array_agg(a.id order by a.created_at), '{}') from public.mt5_agents a
   where a.user_id = p_user and a.revoked_at is null and a.pairing_key_hash is not null
$$;
revoke all on function tnm_private.live_agents(uuid) from public;

-- The app's "Stop trading": off at once; with p_close_all, every position and pending order of
-- every account is closed too.
create or replace function tnm_privileged.stop_trading(p_close_all boolean default false) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid := (select auth.uid());
begin
  if v_user is null then
    raise exception 'Sign in first.' using errcode = '42501';
  end if;
  return tnm_private.stop_trading(
    v_user, 'app',
    case when p_close_all then 'trading was stopped, and everything closed, with Stop trading in the app'
         else 'trading was stopped with Stop trading in the app' end,
    case when p_close_all then tnm_private.live_agents(v_user) else '{}' end);
end
$$;
revoke all on function tnm_privileged.stop_trading(boolean) from public, anon;
grant execute on function tnm_privileged.stop_trading(boolean) to authenticated, service_role;

create or replace function public.stop_trading(p_close_all boolean default false) returns jsonb
language sql
set search_path = ''
as $$ select tnm_privileged.stop_trading(p_close_all) $$;
revoke all on function public.stop_trading(boolean) from public, anon;
grant execute on function public.stop_trading(boolean) to authenticated, service_role;

-- What the agent checks before an entry ---------------------------------------------------------------

-- The trader's limits now and this agent's daily-loss lock that still runs, in one round trip.
-- Not STABLE: checking the key may store its fast hash (tnm_private.verify_agent), and PostgREST
-- runs a stable function in a read-only transaction.
create or replace function tnm_privileged.agent_risk_state(p_agent_id uuid, p_pairing_key text) returns jsonb
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid := tnm_private.require_agent(p_agent_id, p_pairing_key);
begin
  return (
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
      from public.user_settings us where us.user_id = v_user);
end
$$;
revoke all on function tnm_privileged.agent_risk_state(uuid, text) from public, anon;
grant execute on function tnm_privileged.agent_risk_state(uuid, text) to authenticated, service_role;

create or replace function public.agent_risk_state(p_agent_id uuid, p_pairing_key text) returns jsonb
language sql
set search_path = ''
as $$ select tnm_privileged.agent_risk_state(p_agent_id, p_pairing_key) $$;
revoke all on function public.agent_risk_state(uuid, text) from public, anon;
grant execute on function public.agent_risk_state(uuid, text) to authenticated, service_role;

-- The agent saw the daily loss reach the limit. Returns true when this call recorded it (the
-- first time that day, or at a limit raised since): only then is the trader told, and, when
-- they asked for it in Settings, trading turned off and a close-all job queued for this agent.
create or replace function tnm_privileged.record_daily_loss(
  p_agent_id uuid, p_pairing_key text, p_trading_day date, p_locked_until timestamptz, p_limit_pct numeric,
  p_loss_pct numeric, p_reason text
) returns boolean
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid := tnm_private.require_agent(p_agent_id, p_pairing_key);
  v_new boolean;
  v_close boolean;
begin
  if p_locked_until <= now() or p_locked_until > now() + interval '2 days' then
    raise exception 'The end of the trading day must be within the next two days.' using errcode = 'TNV01';
  end if;
  insert into public.daily_loss_locks as l (agent_id, user_id, trading_day, locked_until, limit_pct, loss_pct,
                                            reason)
  values (p_agent_id, v_user, p_trading_day, p_locked_until, p_limit_pct, greatest(p_loss_pct, 0),
          left(p_reason, 500))
  on conflict (agent_id, trading_day) do update
     set limit_pct = excluded.limit_pct, loss_pct = excluded.loss_pct, reason = excluded.reason,
         locked_until = excluded.locked_until, updated_at = now()
   where excluded.limit_pct > l.limit_pct
  returning true into v_new;
  if not coalesce(v_new, false) then
    return false;
  end if;
  select us.close_all_on_daily_loss into v_close from public.user_settings us where us.user_id = v_user;
  if coalesce(v_close, false) then
    perform tnm_private.stop_trading(
      v_user, 'daily_loss', format('trading was turned off when the daily loss reached the %s %% limit',
                                   trim_scale(p_limit_pct)), array[p_agent_id]);
  end if;
  return true;
end
$$;
revoke all on function tnm_privileged.record_daily_loss(uuid, text, date, timestamptz, numeric, numeric, text)
  from public, anon;
grant execute on function tnm_privileged.record_daily_loss(uuid, text, date, timestamptz, numeric, numeric, text)
  to authenticated, service_role;

create or replace function public.record_daily_loss(
  p_agent_id uuid, p_pairing_key text, p_trading_day date, p_locked_until timestamptz, p_limit_pct numeric,
  p_loss_pct numeric, p_reason text
) returns boolean
language sql
set search_path = ''
as $$ select tnm_privileged.record_daily_loss(p_agent_id, p_pairing_key, p_trading_day, p_locked_until,
                                              p_limit_pct, p_loss_pct, p_reason) $$;
revoke all on function public.record_daily_loss(uuid, text, date, timestamptz, numeric, numeric, text)
  from public, anon;
grant execute on function public.record_daily_loss(uuid, text, date, timestamptz, numeric, numeric, text)
  to authenticated, service_role;
