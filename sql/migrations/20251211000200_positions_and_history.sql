-- Positions & History: what is open now, what closed, how it went.
--
--   * position_snapshots: per trading account, the open positions and pending orders as the agent
--     last read them from the terminal, with the time it read them. The agent writes one after
--     every trade, close or stop change it makes and on every account sync (record_positions);
--     the app shows it live. Each position carries the job, signal and strategy that opened it,
--     found here by the token in its comment (the job's intent) or by its magic number.
--   * account_equity: the balance and equity of each snapshot, at most one point a minute (and at
--     every change of the balance), for the balance/equity curve.
--   * modify_position: a job that changes a position's stop loss / take profit. Closing one
--     position, a part of it, or every position of a symbol is the existing close_position job.
--   * closed_trades / trade_stats / daily_pnl / equity_curve: the closed-trade history from the
--     synced deals (trades), its figures, and the curve; SECURITY INVOKER, so RLS decides.
-- A closed trade is a position whose closing deals cover its opening ones; its result is the sum
-- of profit, commission and swap over all its deals, and it belongs to the day it closed.
-- Idempotent: safe to apply twice.

create schema if not exists tnm_privileged;
revoke all on schema tnm_privileged from public;
grant usage on schema tnm_privileged to authenticated, service_role;

-- The job types: add ours to whatever the constraint allows now (other migrations add theirs).
do $$
declare
  v_def text;
  v_types text[];
begin
  select pg_get_constraintdef(c.oid) into v_def from pg_constraint c
   where c.conrelid = 'public.jobs'::regclass and c.conname = 'jobs_job_type_check';
  select array_agg(distinct m[1] order by m[1]) into v_types
    from regexp_matches(coalesce(v_def, ''), '''([a-z_]+)''', 'g') as m;
  v_types := array(select distinct t from unnest(coalesce(v_types, '{}') || array['modify_position']) t order by t);
  alter table public.jobs drop constraint if exists jobs_job_type_check;
  execute format('alter table public.jobs add constraint jobs_job_type_check check (job_type = any (%L::text[]))',
                 v_types);
end
$$;

-- A position is matched to the job that opened it by the token in its comment.
create index if not exists jobs_intent_token_idx on public.jobs (user_id, (intent ->> 'token'))
  where intent is not null;
-- The history groups deals by position.
create index if not exists trades_account_position_idx on public.trades (account_id, position_id);

-- position_snapshots ---------------------------------------------------------------------------------

create table if not exists public.position_snapshots (
  id          uuid primary key default gen_random_uuid(),
  account_id  uuid not null unique,
  user_id     uuid not null references public.profiles (id) on delete cascade,
  agent_id    uuid,
  taken_at    timestamptz not null,
  currency    text not null default 'USD',
  balance     numeric(18,2),
  equity      numeric(18,2),
  margin      numeric(18,2),
  free_margin numeric(18,2),
  profit      numeric(18,2),
  -- [{ticket, symbol, side, volume, price_open, price_current, sl, tp, profit, swap, magic, comment,
  --   opened_at, job_id, signal_id, strategy_id}]
  positions   jsonb not null default '[]'::jsonb check (jsonb_typeof(positions) = 'array'),
  -- [{ticket, symbol, order_type, volume, price_open, sl, tp, magic, comment, placed_at, job_id,
  --   signal_id, strategy_id}]
  orders      jsonb not null default '[]'::jsonb check (jsonb_typeof(orders) = 'array'),
  updated_at  timestamptz not null default now(),
  constraint position_snapshots_account_fk foreign key (account_id, user_id)
    references public.trading_accounts (id, user_id) on delete cascade,
  constraint position_snapshots_agent_fk foreign key (agent_id, user_id)
    references public.mt5_agents (id, user_id) on delete set null (agent_id)
);
create index if not exists position_snapshots_user_id_idx on public.position_snapshots (user_id);
create index if not exists position_snapshots_agent_id_idx on public.position_snapshots (agent_id);

create table if not exists public.account_equity (
  account_id uuid not null,
  user_id    uuid not null references public.profiles (id) on delete cascade,
  at         timestamptz not null,
  balance    numeric(18,2) not null,
  equity     numeric(18,2) not null,
  primary key (account_id, at),
  constraint account_equity_account_fk foreign key (account_id, user_id)
    references public.trading_accounts (id, user_id) on delete cascade
);
create index if not exists account_equity_user_id_idx on public.account_equity (user_id);

alter table public.position_snapshots enable row level security;
alter table public.account_equity enable row level security;

-- Written by the agent only (record_positions); the trader reads them.
drop policy if exists position_snapshots_select on public.position_snapshots;
create policy position_snapshots_select on public.position_snapshots for select to authenticated
  using ((select auth.uid()) = user_id);
drop policy if exists account_equity_select on public.account_equity;
create policy account_equity_select on public.account_equity for select to authenticated
  using ((select auth.uid()) = user_id);

revoke all on public.position_snapshots, public.account_equity from anon, authenticated;
grant all on public.position_snapshots, public.account_equity to service_role;
grant select on public.position_snapshots, public.account_equity to authenticated;

-- Which strategy a magic number belongs to (tnm_desktop.agent.trading.magic_for).
create or replace function public.strategy_magic(p_strategy_id uuid) returns bigint
language sql immutable strict
set search_path = ''
as $$ select ('x' || left(replace(p_strategy_id::text, '-', ''), 7))::bit(28)::bigint $$;

-- Each element with the job, signal and strategy that opened it (when known).
create or replace function tnm_private.with_origins(p_user uuid, p_items jsonb) returns jsonb
language sql stable
security definer
set search_path = ''
as $$
  select coalesce(jsonb_agg(
           i.item || jsonb_build_object('job_id', o.job_id, 'signal_id', o.signal_id,
                                        'strategy_id', coalesce(o.strategy_id, m.strategy_id))
           order by i.n), '[]'::jsonb)
    from jsonb_array_elements(coalesce(p_items, '[]'::jsonb)) with ordinality as i(item, n)
    left join lateral (
      select j.id as job_id, (j.payload ->> 'strategy_id')::uuid as strategy_id,
             (select s.id from public.tv_signals s where s.job_id = j.id limit 1) as signal_id
        from public.jobs j
       where j.user_id = p_user and j.intent is not null
         and (j.intent ->> 'token') = substring(i.item ->> 'comment' from 'tnm-[0-9a-f]{16}')
       limit 1
    ) o on true
    left join lateral (
      select st.id as strategy_id from public.tv_strategies st
       where st.user_id = p_user and public.strategy_magic(st.id) = (i.item ->> 'magic')::bigint
       limit 1
    ) m on true
$$;
revoke all on function tnm_private.with_origins(uuid, jsonb) from public, anon, authenticated, service_role;

-- The agent's snapshot of one account: positions, pending orders, money; returns the snapshot id.
create or replace function tnm_privileged.record_positions(
  p_agent_id uuid, p_pairing_key text, p_taken_at timestamptz, p_account jsonb,
  p_positions jsonb, p_orders jsonb default '[]'::jsonb
) returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid := tnm_private.require_agent(p_agent_id, p_pairing_key);
  v_account uuid;
  v_id uuid;
  v_balance numeric := (p_account ->> 'balance')::numeric;
  v_equity numeric := (p_account ->> 'equity')::numeric;
  v_last record;
begin
  if p_account ->> 'login' is null or p_account ->> 'server' is null then
    raise exception 'A snapshot must name the account (login and server).' using errcode = 'TNV01';
  end if;
  if jsonb_typeof(coalesce(p_positions, '[]'::jsonb)) <> 'array'
     or jsonb_typeof(coalesce(p_orders, '[]'::jsonb)) <> 'array' then
    raise exception 'Positions and orders must be lists.' using errcode = 'TNV01';
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

  insert into public.position_snapshots as ps (account_id, user_id, agent_id, taken_at, currency, balance, equity,
                                               margin, free_margin, profit, positions, orders)
  values (v_account, v_user, p_agent_id, least(coalesce(p_taken_at, now()), now()),
          coalesce(p_account ->> 'currency', 'USD'), v_balance, v_equity,
          (p_account ->> 'margin')::numeric, (p_account ->> 'free_margin')::numeric,
          (p_account ->> 'profit')::numeric,
          tnm_private.with_origins(v_user, p_positions), tnm_private.with_origins(v_user, p_orders))
  on conflict (account_id) do update set
    agent_id = excluded.agent_id, taken_at = excluded.taken_at, currency = excluded.currency,
    balance = excluded.balance, equity = excluded.equity, margin = excluded.margin,
    free_margin = excluded.free_margin, profit = excluded.profit, positions = excluded.positions,
    orders = excluded.orders, updated_at = now()
  -- Two snapshots racing (a sync and a trade): the older reading never replaces the newer.
  where ps.taken_at <= excluded.taken_at
  returning ps.id into v_id;

  if v_balance is not null and v_equity is not null then
    select e.at, e.balance into v_last from public.account_equity e
     where e.account_id = v_account order by e.at desc limit 1;
    if v_last.at is null or v_last.balance is distinct from round(v_balance, 2)
       or v_last.at < least(coalesce(p_taken_at, now()), now()) - interval '55 seconds' then
      insert into public.account_equity (account_id, user_id, at, balance, equity)
      values (v_account, v_user, least(coalesce(p_taken_at, now()), now()), v_balance, v_equity)
      on conflict (account_id, at) do nothing;
    end if;
  end if;
  return coalesce(v_id, (select ps.id from public.position_snapshots ps where ps.account_id = v_account));
end
$$;
revoke all on function tnm_privileged.record_positions(uuid, text, timestamptz, jsonb, jsonb, jsonb) from public, anon;
grant execute on function tnm_privileged.record_positions(uuid, text, timestamptz, jsonb, jsonb, jsonb)
  to authenticated, service_role;

create or replace function public.record_positions(
  p_agent_id uuid, p_pairing_key text, p_taken_at timestamptz, p_account jsonb,
  p_positions jsonb, p_orders jsonb default '[]'::jsonb
) returns uuid
language sql
set search_path = ''
as $$ select tnm_privileged.record_positions(p_agent_id, p_pairing_key, p_taken_at, p_account, p_positions, p_orders) $$;

-- Live updates ---------------------------------------------------------------------------------------

drop trigger if exists position_snapshots_notify on public.position_snapshots;
create trigger position_snapshots_notify after insert or update on public.position_snapshots
  for each row execute function tnm_private.notify_change();

do $$
begin
  if exists (select 1 from pg_publication where pubname = 'supabase_realtime')
     and not exists (select 1 from pg_publication_tables where pubname = 'supabase_realtime'
                      and schemaname = 'public' and tablename = 'position_snapshots') then
    alter publication supabase_realtime add table public.position_snapshots;
  end if;
end
$$;

-- The polling fallback sees snapshots and notifications too.
create or replace function public.changes_since(p_since timestamptz)
returns table (table_name text, op text, id uuid)
language sql stable
set search_path = ''
as $$
  select 'tv_signals', case when s.received_at >= p_since then 'insert' else 'update' end, s.id
    from public.tv_signals s
   where s.user_id = (select auth.uid()) and (s.received_at >= p_since or s.resolved_at >= p_since)
  union all
  select 'jobs', case when j.created_at >= p_since then 'insert' else 'update' end, j.id
    from public.jobs j where j.user_id = (select auth.uid()) and j.updated_at >= p_since
  union all
  select 'sync_logs', 'insert', l.id
    from public.sync_logs l where l.user_id = (select auth.uid()) and l.created_at >= p_since
  union all
  select 'trading_accounts', 'update', a.id
    from public.trading_accounts a where a.user_id = (select auth.uid()) and a.updated_at >= p_since
  union all
  select 'mt5_agents', 'update', g.id
    from public.mt5_agents g where g.user_id = (select auth.uid()) and g.updated_at >= p_since
  union all
  select 'position_snapshots', 'update', p.id
    from public.position_snapshots p where p.user_id = (select auth.uid()) and p.updated_at >= p_since
  union all
  select 'notifications', 'insert', n.id
    from public.notifications n where n.user_id = (select auth.uid()) and n.created_at >= p_since
$$;

-- The closed-trade history -----------------------------------------------------------------------------

-- Closed positions, newest first. Filters: account, strategy, symbol (the broker's, as traded),
-- and the close time in [p_since, p_until).
create or replace function public.closed_trades(
  p_account_id uuid default null, p_strategy_id uuid default null, p_symbol text default null,
  p_since timestamptz default null, p_until timestamptz default null, p_limit integer default 1000
) returns table (account_id uuid, position_id bigint, symbol text, side text, volume numeric,
                 open_price numeric, close_price numeric, opened_at timestamptz, closed_at timestamptz,
                 profit numeric, commission numeric, swap numeric, net numeric, magic bigint,
                 strategy_id uuid, signal_id uuid, job_id uuid)
language sql stable
set search_path = ''
as $$
  with candidates as (
    select distinct t.account_id, t.position_id
      from public.trades t
     where t.user_id = (select auth.uid())
       and t.entry in ('out', 'out_by', 'inout')
       and (p_account_id is null or t.account_id = p_account_id)
       and (p_symbol is null or t.symbol = p_symbol)
       and (p_since is null or t.executed_at >= p_since)
       and t.position_id is not null
  ), positions as (
    select t.account_id, t.position_id, min(t.symbol) as symbol,
           sum(t.volume) filter (where t.entry = 'in') as in_volume,
           sum(t.volume) filter (where t.entry <> 'in') as out_volume,
           (array_agg(t.side order by t.executed_at, t.ticket) filter (where t.entry = 'in'))[1] as in_side,
           (array_agg(t.side order by t.executed_at, t.ticket) filter (where t.entry <> 'in'))[1] as out_side,
           sum(t.price * t.volume) filter (where t.entry = 'in') as in_value,
           sum(t.price * t.volume) filter (where t.entry <> 'in') as out_value,
           min(t.executed_at) filter (where t.entry = 'in') as opened_at,
           max(t.executed_at) filter (where t.entry <> 'in') as closed_at,
           sum(t.profit) as profit, sum(t.commission) as commission, sum(t.swap) as swap,
           (array_agg(t.magic order by t.entry <> 'in', t.executed_at, t.ticket))[1] as magic,
           (array_agg(t.comment order by t.executed_at, t.ticket) filter (where t.entry = 'in'))[1] as open_comment
      from public.trades t
      join candidates c on c.account_id = t.account_id and c.position_id = t.position_id
     group by t.account_id, t.position_id
  )
  select p.account_id, p.position_id, p.symbol,
         coalesce(p.in_side, case p.out_side when 'buy' then 'sell' else 'buy' end),
         coalesce(p.in_volume, p.out_volume),
         round(p.in_value / nullif(p.in_volume, 0), 6), round(p.out_value / nullif(p.out_volume, 0), 6),
         p.opened_at, p.closed_at, p.profit, p.commission, p.swap, p.profit + p.commission + p.swap,
         p.magic, coalesce(o.strategy_id, m.strategy_id), o.signal_id, o.job_id
    from positions p
    left join lateral (
      select j.id as job_id, (j.payload ->> 'strategy_id')::uuid as strategy_id,
             (select s.id from public.tv_signals s where s.job_id = j.id limit 1) as signal_id
        from public.jobs j
       where j.user_id = (select auth.uid()) and j.intent is not null
         and (j.intent ->> 'token') = substring(p.open_comment from 'tnm-[0-9a-f]{16}')
       limit 1
    ) o on true
    left join lateral (
      select st.id as strategy_id from public.tv_strategies st
       where public.strategy_magic(st.id) = p.magic
       limit 1
    ) m on true
   where p.out_volume >= coalesce(p.in_volume, 0) - 0.000001
     and (p_until is null or p.closed_at < p_until)
     and (p_strategy_id is null or coalesce(o.strategy_id, m.strategy_id) = p_strategy_id)
   order by p.closed_at desc, p.position_id desc
   limit least(greatest(coalesce(p_limit, 1000), 1), 100000)
$$;

-- Win rate, average win and loss, profit factor and average slippage: one row for everything the
-- filters select (strategy_id NULL, scope 'all'), then one per strategy (scope 'strategy'; a NULL
-- strategy_id there gathers trades no strategy opened). Slippage: executed signals received in
-- the period whose fill the agent measured (jobs.result ->> 'slippage_pips', positive = worse).
create or replace function public.trade_stats(
  p_account_id uuid default null, p_strategy_id uuid default null, p_symbol text default null,
  p_since timestamptz default null, p_until timestamptz default null
) returns table (scope text, strategy_id uuid, trades bigint, wins bigint, losses bigint, win_rate numeric,
                 gross_profit numeric, gross_loss numeric, net numeric, avg_win numeric, avg_loss numeric,
                 profit_factor numeric, avg_slippage_pips numeric, slippage_samples bigint)
language sql stable
set search_path = ''
as $$
  with closed as (
    select * from public.closed_trades(p_account_id, p_strategy_id, p_symbol, p_since, p_until, 100000)
  ), per as (
    select case when grouping(c.strategy_id) = 1 then 'all' else 'strategy' end as scope, c.strategy_id,
           count(*) as trades, count(*) filter (where c.net > 0) as wins, count(*) filter (where c.net < 0) as losses,
           coalesce(sum(c.net) filter (where c.net > 0), 0) as gross_profit,
           coalesce(sum(c.net) filter (where c.net < 0), 0) as gross_loss,
           sum(c.net) as net
      from closed c
     group by grouping sets ((), (c.strategy_id))
  ), slip as (
    select case when grouping(s.strategy_id) = 1 then 'all' else 'strategy' end as scope, s.strategy_id,
           avg((j.result ->> 'slippage_pips')::numeric) as avg_slippage_pips, count(*) as samples
      from public.tv_signals s
      join public.jobs j on j.id = s.job_id
     where s.user_id = (select auth.uid()) and s.status = 'executed' and j.result ? 'slippage_pips'
       and (p_strategy_id is null or s.strategy_id = p_strategy_id)
       and (p_symbol is null or j.payload ->> 'broker_symbol' = p_symbol)
       and (p_since is null or s.received_at >= p_since) and (p_until is null or s.received_at < p_until)
       and (p_account_id is null or exists (
             select 1 from public.trading_accounts ta
              where ta.id = p_account_id and ta.broker_connection_id = (j.payload ->> 'broker_connection_id')::uuid))
     group by grouping sets ((), (s.strategy_id))
  )
  select coalesce(p.scope, s.scope), coalesce(p.strategy_id, s.strategy_id),
         coalesce(p.trades, 0), coalesce(p.wins, 0), coalesce(p.losses, 0),
         round(100.0 * p.wins / nullif(p.trades, 0), 2),
         coalesce(p.gross_profit, 0), coalesce(p.gross_loss, 0), coalesce(p.net, 0),
         round(p.gross_profit / nullif(p.wins, 0), 2), round(p.gross_loss / nullif(p.losses, 0), 2),
         round(p.gross_profit / nullif(-p.gross_loss, 0), 2),
         round(s.avg_slippage_pips, 2), coalesce(s.samples, 0)
    from per p
    full join slip s on s.scope = p.scope
     and coalesce(s.strategy_id, '00000000-0000-0000-0000-000000000000'::uuid)
       = coalesce(p.strategy_id, '00000000-0000-0000-0000-000000000000'::uuid)
   where coalesce(p.trades, 0) > 0 or coalesce(s.samples, 0) > 0 or coalesce(p.scope, s.scope) = 'all'
   order by coalesce(p.scope, s.scope) = 'strategy', coalesce(p.net, 0) desc
$$;

-- P&L per day (the day the trade closed, in p_time_zone, e.g. 'Europe/Berlin').
create or replace function public.daily_pnl(
  p_account_id uuid default null, p_strategy_id uuid default null, p_symbol text default null,
  p_since timestamptz default null, p_until timestamptz default null, p_time_zone text default 'UTC'
) returns table (day date, trades bigint, wins bigint, net numeric)
language plpgsql stable
set search_path = ''
as $$
#variable_conflict use_column
begin
  begin
    perform now() at time zone coalesce(p_time_zone, 'UTC');
  exception when invalid_parameter_value then
    raise exception 'Unknown time zone %.', p_time_zone using errcode = 'TNV01';
  end;
  return query
  select (c.closed_at at time zone coalesce(p_time_zone, 'UTC'))::date as day, count(*),
         count(*) filter (where c.net > 0), sum(c.net)
    from public.closed_trades(p_account_id, p_strategy_id, p_symbol, p_since, p_until, 100000) c
   group by 1
   order by 1;
end
$$;

-- The balance and equity of an account over [p_since, p_until), at most p_points points (the last
-- reading of each equal slice of time).
create or replace function public.equity_curve(
  p_account_id uuid, p_since timestamptz default null, p_until timestamptz default null,
  p_points integer default 500
) returns table (at timestamptz, balance numeric, equity numeric)
language sql stable
set search_path = ''
as $$
  with span as (
    select min(e.at) as first_at, max(e.at) as last_at
      from public.account_equity e
     where e.account_id = p_account_id and e.user_id = (select auth.uid())
       and (p_since is null or e.at >= p_since) and (p_until is null or e.at < p_until)
  ), sliced as (
    select e.at, e.balance, e.equity,
           floor(extract(epoch from e.at - s.first_at)
                 / greatest(extract(epoch from s.last_at - s.first_at) / greatest(coalesce(p_points, 500), 2), 0.001)
           ) as slice
      from public.account_equity e cross join span s
     where e.account_id = p_account_id and e.user_id = (select auth.uid())
       and (p_since is null or e.at >= p_since) and (p_until is null or e.at < p_until)
  )
  select x.at, x.balance, x.equity
    from (select distinct on (sl.slice) sl.at, sl.balance, sl.equity from sliced sl order by sl.slice, sl.at desc) x
   order by x.at
$$;

do $$
declare
  f text;
begin
  foreach f in array array[
    'public.record_positions(uuid, text, timestamptz, jsonb, jsonb, jsonb)',
    'public.strategy_magic(uuid)',
    'public.changes_since(timestamptz)',
    'public.closed_trades(uuid, uuid, text, timestamptz, timestamptz, integer)',
    'public.trade_stats(uuid, uuid, text, timestamptz, timestamptz)',
    'public.daily_pnl(uuid, uuid, text, timestamptz, timestamptz, text)',
    'public.equity_curve(uuid, timestamptz, timestamptz, integer)'
  ]
  loop
    execute format('revoke execute on function %s from public, anon', f);
    execute format('grant execute on function %s to authenticated, service_role', f);
  end loop;
end
$$;
