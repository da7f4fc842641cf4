-- Order management (issue 12), part 1: what a strategy decides for its alerts, the broker
-- connections it trades on, and jobs that know their signal.
--
--   * tv_strategies gets the settings PineConnector leaves to its EA: how sl=/tp= are read
--     (target_type: pips, price or percent), how price= places a pending order (entry_type), what
--     accfilter= compares with (account_filter), and a trading window (days and hours in a time
--     zone) outside which entries are refused and closes still pass.
--   * strategy_connections: one strategy may route to several broker connections, each with a
--     volume multiplier and its own risk. Every strategy gets the row of its own connection, and
--     a trigger keeps that row when an older client changes tv_strategies.broker_connection_id.
--   * jobs.signal_id: the signal a job executes, so one signal can have one job per connection
--     (its legs) and is resolved when all of them are.
--   * modify_position joins the job types (new stops for open positions: newsltp alerts and the
--     app's Positions page share it).
-- Idempotent: safe to apply twice.

-- The strategy's settings ----------------------------------------------------------------------

alter table public.tv_strategies add column if not exists target_type text not null default 'pips';
alter table public.tv_strategies add column if not exists entry_type text not null default 'pips';
alter table public.tv_strategies add column if not exists account_filter text not null default 'balance';
alter table public.tv_strategies add column if not exists trading_window jsonb;
alter table public.tv_strategies drop constraint if exists tv_strategies_target_type_check;
alter table public.tv_strategies add constraint tv_strategies_target_type_check
  check (target_type in ('pips', 'price', 'percent'));
alter table public.tv_strategies drop constraint if exists tv_strategies_entry_type_check;
alter table public.tv_strategies add constraint tv_strategies_entry_type_check
  check (entry_type in ('pips', 'price', 'percent'));
alter table public.tv_strategies drop constraint if exists tv_strategies_account_filter_check;
alter table public.tv_strategies add constraint tv_strategies_account_filter_check
  check (account_filter in ('balance', 'equity', 'free_margin', 'margin_level'));
comment on column public.tv_strategies.target_type
  is 'How PineConnector sl=, tp= and tp1..tp3= are read: pips from the entry, a price, or percent of the price';
comment on column public.tv_strategies.entry_type
  is 'How PineConnector price= (and stoplimit=) place a pending order: pips from the market, a price, or percent';
comment on column public.tv_strategies.account_filter
  is 'What accfilter= is compared with: balance, equity, free_margin or margin_level (percent)';
comment on column public.tv_strategies.trading_window
  is 'NULL: always. {"days": [1..7 ISO weekdays], "start": "HH:MM", "end": "HH:MM", "time_zone": "Europe/London"}; end before start spans midnight';

-- A window the ingestion and the agent can both read; the message is what the trader sees.
create or replace function tnm_private.check_trading_window() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  w jsonb := new.trading_window;
begin
  if w is null then
    return new;
  end if;
  if jsonb_typeof(w) <> 'object' or jsonb_typeof(w -> 'days') <> 'array' or jsonb_array_length(w -> 'days') = 0
     or exists (select 1 from jsonb_array_elements(w -> 'days') d
                 where jsonb_typeof(d) <> 'number' or (d #>> '{}') !~ '^[1-7]$') then
    raise exception 'The trading window needs at least one weekday.' using errcode = 'TNV01';
  end if;
  if coalesce(w ->> 'start', '') !~ '^([01][0-9]|2[0-3]):[0-5][0-9]$'
     or coalesce(w ->> 'end', '') !~ '^([01][0-9]|2[0-3]):[0-5][0-9]$' then
    raise exception 'The trading window''s hours must be written HH:MM (00:00 to 23:59).' using errcode = 'TNV01';
  end if;
  if w ->> 'start' = w ->> 'end' then
    raise exception 'The trading window starts and ends at the same time: leave it off to trade at any hour.'
      using errcode = 'TNV01';
  end if;
  if not exists (select 1 from pg_catalog.pg_timezone_names z where z.name = w ->> 'time_zone') then
    raise exception 'Unknown time zone "%" for the trading window (for example Europe/London or America/New_York).',
      left(coalesce(w ->> 'time_zone', ''), 60) using errcode = 'TNV01';
  end if;
  return new;
end
$$;
revoke execute on function tnm_private.check_trading_window() from public;

drop trigger if exists tv_strategies_window_check on public.tv_strategies;
create trigger tv_strategies_window_check before insert or update of trading_window on public.tv_strategies
  for each row execute function tnm_private.check_trading_window();

-- Whether a moment is inside a window (NULL window: always); the reason names the window.
create or replace function tnm_private.window_open(p_window jsonb, p_at timestamptz) returns boolean
language sql stable
set search_path = ''
as $$
  select p_window is null or (
    with local as (select p_at at time zone (p_window ->> 'time_zone') as t),
         parts as (select extract(isodow from l.t)::int as dow,
                          l.t::time as tod,
                          (l.t - interval '1 day') as yesterday,
                          (p_window ->> 'start')::time as s, (p_window ->> 'end')::time as e
                     from local l)
    select case
      when p.s < p.e then p.tod >= p.s and p.tod < p.e
                          and (p_window -> 'days') @> to_jsonb(p.dow)
      -- Spanning midnight: the evening part belongs to today, the morning part to yesterday.
      when p.tod >= p.s then (p_window -> 'days') @> to_jsonb(p.dow)
      when p.tod < p.e then (p_window -> 'days') @> to_jsonb(extract(isodow from p.yesterday)::int)
      else false end
      from parts p)
$$;
revoke execute on function tnm_private.window_open(jsonb, timestamptz) from public;

create or replace function tnm_private.window_text(p_window jsonb) returns text
language sql immutable
set search_path = ''
as $$
  select format('%s %s–%s %s',
    coalesce((select string_agg((array['Mon','Tue','Wed','Thu','Fri','Sat','Sun'])[(d #>> '{}')::int], ' '
                                order by (d #>> '{}')::int)
                from jsonb_array_elements(p_window -> 'days') d), ''),
    p_window ->> 'start', p_window ->> 'end', p_window ->> 'time_zone')
$$;
revoke execute on function tnm_private.window_text(jsonb) from public;

grant insert (target_type, entry_type, account_filter, trading_window),
      update (target_type, entry_type, account_filter, trading_window)
  on public.tv_strategies to authenticated;

-- Several broker connections per strategy ---------------------------------------------------------

create table if not exists public.strategy_connections (
  strategy_id          uuid        not null,
  broker_connection_id uuid        not null,
  user_id              uuid        not null references public.profiles (id) on delete cascade,
  volume_multiplier    numeric(8,4) not null default 1,
  risk_pct             numeric(5,2),
  position             smallint    not null default 1,
  created_at           timestamptz not null default now(),
  primary key (strategy_id, broker_connection_id),
  constraint strategy_connections_multiplier_check check (volume_multiplier > 0 and volume_multiplier <= 100),
  constraint strategy_connections_risk_check check (risk_pct > 0 and risk_pct <= 100),
  constraint strategy_connections_strategy_fk foreign key (strategy_id, user_id)
    references public.tv_strategies (id, user_id) on delete cascade,
  -- Like tv_strategies': a connection that strategies trade on cannot be deleted.
  constraint strategy_connections_broker_connection_fk foreign key (broker_connection_id, user_id)
    references public.broker_connections (id, user_id) on delete restrict
);
comment on table public.strategy_connections
  is 'The broker connections a strategy trades on (one job per connection for each alert), each with a volume multiplier and an optional risk percent of its own';
create index if not exists strategy_connections_user_id_idx on public.strategy_connections (user_id);
create index if not exists strategy_connections_broker_connection_id_idx
  on public.strategy_connections (broker_connection_id);

alter table public.strategy_connections enable row level security;
drop policy if exists strategy_connections_select on public.strategy_connections;
create policy strategy_connections_select on public.strategy_connections for select to authenticated
  using ((select auth.uid()) = user_id);
drop policy if exists strategy_connections_insert on public.strategy_connections;
create policy strategy_connections_insert on public.strategy_connections for insert to authenticated
  with check ((select auth.uid()) = user_id);
drop policy if exists strategy_connections_update on public.strategy_connections;
create policy strategy_connections_update on public.strategy_connections for update to authenticated
  using ((select auth.uid()) = user_id) with check ((select auth.uid()) = user_id);
drop policy if exists strategy_connections_delete on public.strategy_connections;
create policy strategy_connections_delete on public.strategy_connections for delete to authenticated
  using ((select auth.uid()) = user_id);
revoke all on public.strategy_connections from anon, authenticated;
grant select, insert, update, delete on public.strategy_connections to authenticated;
grant all on public.strategy_connections to service_role;

-- The strategy's own connection is always one of its connections (first, unless the trader orders
-- them otherwise); changing it from an older client moves that row along.
create or replace function tnm_private.keep_primary_connection() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if tg_op = 'UPDATE' and old.broker_connection_id is distinct from new.broker_connection_id then
    delete from public.strategy_connections sc
     where sc.strategy_id = new.id and sc.broker_connection_id = old.broker_connection_id;
  end if;
  insert into public.strategy_connections (strategy_id, broker_connection_id, user_id, position)
  values (new.id, new.broker_connection_id, new.user_id,
          coalesce((select min(sc.position) - 1 from public.strategy_connections sc where sc.strategy_id = new.id), 1))
  on conflict (strategy_id, broker_connection_id) do nothing;
  return null;
end
$$;
revoke execute on function tnm_private.keep_primary_connection() from public;

drop trigger if exists tv_strategies_primary_connection on public.tv_strategies;
create trigger tv_strategies_primary_connection after insert or update of broker_connection_id on public.tv_strategies
  for each row execute function tnm_private.keep_primary_connection();

insert into public.strategy_connections (strategy_id, broker_connection_id, user_id)
select st.id, st.broker_connection_id, st.user_id from public.tv_strategies st
on conflict (strategy_id, broker_connection_id) do nothing;

-- Replace a strategy's connections in one call (the app's strategy dialog). The first one becomes
-- the strategy's own connection. SECURITY INVOKER: RLS decides, as for any edit.
create or replace function public.set_strategy_connections(p_strategy_id uuid, p_connections jsonb)
returns setof public.strategy_connections
language plpgsql
set search_path = ''
as $$
declare
  v_user uuid := (select auth.uid());
  v_first uuid;
begin
  if p_connections is null or jsonb_typeof(p_connections) <> 'array' or jsonb_array_length(p_connections) = 0 then
    raise exception 'Choose at least one broker connection for the strategy.' using errcode = 'TNV01';
  end if;
  if jsonb_array_length(p_connections) > 20 then
    raise exception 'A strategy can trade on at most 20 broker connections.' using errcode = 'TNV01';
  end if;
  if (select count(distinct c ->> 'broker_connection_id') from jsonb_array_elements(p_connections) c)
     <> jsonb_array_length(p_connections) then
    raise exception 'Each broker connection can be listed once.' using errcode = 'TNV01';
  end if;
  perform 1 from public.tv_strategies st where st.id = p_strategy_id for update;
  if not found then
    raise exception 'Strategy not found.' using errcode = 'P0002';
  end if;
  v_first := (p_connections -> 0 ->> 'broker_connection_id')::uuid;
  update public.tv_strategies st set broker_connection_id = v_first
   where st.id = p_strategy_id and st.broker_connection_id is distinct from v_first;
  delete from public.strategy_connections sc
   where sc.strategy_id = p_strategy_id
     and not exists (select 1 from jsonb_array_elements(p_connections) c
                      where (c ->> 'broker_connection_id')::uuid = sc.broker_connection_id);
  return query
  insert into public.strategy_connections as sc (strategy_id, broker_connection_id, user_id, volume_multiplier,
                                                 risk_pct, position)
  select p_strategy_id, (c ->> 'broker_connection_id')::uuid, v_user, coalesce((c ->> 'volume_multiplier')::numeric, 1),
         (c ->> 'risk_pct')::numeric, n::smallint
    from jsonb_array_elements(p_connections) with ordinality as x(c, n)
  on conflict (strategy_id, broker_connection_id) do update set
    volume_multiplier = excluded.volume_multiplier, risk_pct = excluded.risk_pct, position = excluded.position
  returning sc.*;
end
$$;
revoke execute on function public.set_strategy_connections(uuid, jsonb) from public, anon;
grant execute on function public.set_strategy_connections(uuid, jsonb) to authenticated, service_role;

-- Jobs know their signal --------------------------------------------------------------------------

alter table public.jobs add column if not exists signal_id uuid;
do $$
begin
  if not exists (select 1 from pg_constraint where conname = 'jobs_signal_fk') then
    alter table public.jobs add constraint jobs_signal_fk foreign key (signal_id)
      references public.tv_signals (id) on delete set null;
  end if;
end
$$;
create index if not exists jobs_signal_id_idx on public.jobs (signal_id) where signal_id is not null;
comment on column public.jobs.signal_id is 'The alert this job executes (one job per broker connection of the strategy: its legs)';
update public.jobs j set signal_id = s.id
  from public.tv_signals s where s.job_id = j.id and j.signal_id is null;

-- The job types and signal actions: add ours to whatever the constraints allow now (other
-- migrations add theirs the same way).
do $$
declare
  v_def text;
  v_values text[];
begin
  select pg_get_constraintdef(c.oid) into v_def from pg_constraint c
   where c.conrelid = 'public.jobs'::regclass and c.conname = 'jobs_job_type_check';
  select array_agg(distinct m[1]) into v_values from regexp_matches(coalesce(v_def, ''), '''([a-z_]+)''', 'g') as m;
  v_values := array(select distinct t from unnest(coalesce(v_values, '{}') || array['modify_position']) t order by t);
  alter table public.jobs drop constraint if exists jobs_job_type_check;
  execute format('alter table public.jobs add constraint jobs_job_type_check check (job_type = any (%L::text[]))',
                 v_values);

  select pg_get_constraintdef(c.oid), c.conname into v_def from pg_constraint c
   where c.conrelid = 'public.tv_signals'::regclass and c.contype = 'c' and pg_get_constraintdef(c.oid) like '%action%';
  select array_agg(distinct m[1]) into v_values from regexp_matches(coalesce(v_def, ''), '''([a-z_]+)''', 'g') as m;
  v_values := array(select distinct t from unnest(coalesce(v_values, '{}') || array['buy', 'sell', 'close', 'cancel',
                                                                                    'modify']) t order by t);
  alter table public.tv_signals drop constraint if exists tv_signals_action_check;
  execute format('alter table public.tv_signals add constraint tv_signals_action_check check (action = any (%L::text[]))',
                 v_values);
end
$$;

-- A signal is resolved by its legs ----------------------------------------------------------------

-- One leg: the job's signal is resolved when every leg is final — executed when all were, failed
-- when any failed (the message names each leg), discarded when all were cancelled. A job from
-- before legs (no signal_id) resolves the signal that points at it, as it always did.
create or replace function tnm_private.resolve_signal(p_job public.jobs) returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_signal uuid := p_job.signal_id;
  v_legs integer;
  v_open integer;
  v_failed integer;
  v_cancelled integer;
  v_first public.jobs;
  v_message text;
begin
  if v_signal is null then
    select s.id into v_signal from public.tv_signals s where s.job_id = p_job.id;
  end if;
  if v_signal is null then
    return;
  end if;
  select count(*), count(*) filter (where j.status not in ('completed', 'failed', 'cancelled')),
         count(*) filter (where j.status = 'failed'), count(*) filter (where j.status = 'cancelled')
    into v_legs, v_open, v_failed, v_cancelled
    from public.jobs j where j.signal_id = v_signal;
  if v_legs = 0 then
    v_legs := 1;  -- a job from before legs
    v_open := 0;
    v_failed := (p_job.status = 'failed')::int;
    v_cancelled := (p_job.status = 'cancelled')::int;
  end if;
  if v_open > 0 then
    return;
  end if;
  select j.* into v_first from public.jobs j
   where j.signal_id = v_signal order by coalesce((j.payload ->> 'leg')::int, 1), j.created_at limit 1;
  if v_first.id is null then
    v_first := p_job;
  end if;
  if v_legs = 1 then
    v_message := case when v_first.status = 'completed' then v_first.result ->> 'note' else v_first.error_message end;
  else
    select string_agg(format('%s: %s', coalesce(j.payload ->> 'connection_name', 'leg ' || (j.payload ->> 'leg')),
                             rtrim(case j.status when 'completed' then coalesce(nullif(j.result ->> 'note', ''), 'done')
                                                 when 'cancelled' then 'cancelled'
                                                 else coalesce(j.error_message, 'failed') end, '.')),
                      '; ' order by coalesce((j.payload ->> 'leg')::int, 1))
      into v_message
      from public.jobs j where j.signal_id = v_signal;
    v_message := left(format('%s of %s accounts failed — %s', v_failed, v_legs, v_message), 2000);
    if v_failed = 0 and v_cancelled = 0 then
      v_message := nullif(coalesce(v_first.result ->> 'note', ''), '');
    end if;
  end if;
  update public.tv_signals s set
    status = case when v_failed > 0 then 'failed' when v_cancelled = v_legs then 'discarded'
                  when v_cancelled > 0 and v_legs = 1 then 'discarded' else 'executed' end,
    fill_price = case when v_first.status = 'completed' then (v_first.result ->> 'price')::numeric end,
    broker_order_id = case when v_first.status = 'completed'
                           then coalesce(v_first.result ->> 'order', v_first.result ->> 'position') end,
    error_message = v_message,
    resolved_at = coalesce(p_job.completed_at, now())
  where s.id = v_signal and s.status = 'pending';
end
$$;
revoke execute on function tnm_private.resolve_signal(public.jobs) from public;

create or replace function tnm_private.on_job_status() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if new.job_type in ('trade', 'modify_position') and new.status in ('completed', 'failed', 'cancelled') then
    perform tnm_private.resolve_signal(new);
  elsif new.job_type in ('trade', 'modify_position') and tg_op = 'UPDATE' and old.status = 'failed' then
    -- recovered after a lease-expiry failure: the signal waits for the reconciliation
    update public.tv_signals s set status = 'pending', error_message = null, resolved_at = null
     where s.status = 'failed' and (s.id = new.signal_id or s.job_id = new.id);
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

-- A leg that could not be sent at all (its connection is inactive, or no agent serves it) is
-- written as a failed job at once; it resolves its signal like any other leg.
drop trigger if exists jobs_inserted on public.jobs;
create trigger jobs_inserted
  after insert on public.jobs
  for each row when (new.job_type = 'compile' or new.status = 'failed')
  execute function tnm_private.on_job_status();
