-- Reads and writes of the desktop app that are more than one row of one table.
--
-- Both data adapters call these (PostgREST exposes them as RPC), so the local workspace and a
-- Supabase project answer the same way. All are SECURITY INVOKER: the caller's RLS decides what
-- they see and touch.
-- Idempotent: safe to apply twice.

-- The signal log filtered by status pages on this; the strategy filter uses tv_signals_strategy_id_idx.
create index if not exists tv_signals_user_status_idx
  on public.tv_signals (user_id, status, received_at desc, id desc);
-- For the polling fallback of live updates.
create index if not exists tv_signals_user_resolved_idx
  on public.tv_signals (user_id, resolved_at) where resolved_at is not null;
create index if not exists jobs_user_updated_idx on public.jobs (user_id, updated_at);

-- One page of the signal log, newest first, strictly after the keyset (p_after_received_at,
-- p_after_id). Built dynamically so each filter combination gets an index range scan: a page
-- deep in a million rows costs what the first page costs.
create or replace function public.signal_page(
  p_strategy_id uuid default null,
  p_status text default null,
  p_symbol text default null,
  p_since timestamptz default null,
  p_until timestamptz default null,
  p_after_received_at timestamptz default null,
  p_after_id uuid default null,
  p_limit integer default 200
) returns setof public.tv_signals
language plpgsql stable
set search_path = ''
as $$
declare
  q text := 'select s.* from public.tv_signals s where s.user_id = $1';
begin
  if p_strategy_id is not null then q := q || ' and s.strategy_id = $2'; end if;
  if p_status is not null then q := q || ' and s.status = $3'; end if;
  if p_symbol is not null then q := q || ' and s.symbol = upper($4)'; end if;
  if p_since is not null then q := q || ' and s.received_at >= $5'; end if;
  if p_until is not null then q := q || ' and s.received_at < $6'; end if;
  if p_after_received_at is not null then
    q := q || ' and (s.received_at, s.id) < ($7, coalesce($8, ''ffffffff-ffff-ffff-ffff-ffffffffffff''::uuid))';
  end if;
  q := q || ' order by s.received_at desc, s.id desc limit $9';
  return query execute q
    using (select auth.uid()), p_strategy_id, p_status, p_symbol, p_since, p_until,
          p_after_received_at, p_after_id, least(greatest(coalesce(p_limit, 200), 1), 1000);
end
$$;

create or replace function public.signal_counts(
  p_strategy_id uuid default null,
  p_symbol text default null,
  p_since timestamptz default null,
  p_until timestamptz default null
) returns table (status text, n bigint)
language sql stable
set search_path = ''
as $$
  select s.status, count(*)
    from public.tv_signals s
   where s.user_id = (select auth.uid())
     and (p_strategy_id is null or s.strategy_id = p_strategy_id)
     and (p_symbol is null or s.symbol = upper(p_symbol))
     and (p_since is null or s.received_at >= p_since)
     and (p_until is null or s.received_at < p_until)
   group by s.status
$$;

create or replace function public.strategy_stats()
returns table (strategy_id uuid, last_signal_at timestamptz, signals_today bigint)
language sql stable
set search_path = ''
as $$
  select st.id,
         (select max(s.received_at) from public.tv_signals s where s.strategy_id = st.id),
         (select count(*) from public.tv_signals s
           where s.strategy_id = st.id and s.received_at >= date_trunc('day', now()))
    from public.tv_strategies st
$$;

-- Save a version and make it the one the editor opens (seed 003's current_version_id).
create or replace function public.save_ea_version(
  p_project_id uuid,
  p_source_code text,
  p_origin text default 'manual',
  p_note text default '',
  p_parameters jsonb default null
) returns public.ea_versions
language plpgsql
set search_path = ''
as $$
declare
  v public.ea_versions;
begin
  insert into public.ea_versions (project_id, user_id, source_code, origin, note, parameters)
  values (p_project_id, (select auth.uid()), p_source_code, coalesce(p_origin, 'manual'),
          coalesce(p_note, ''), p_parameters)
  returning * into v;
  update public.ea_projects set current_version_id = v.id where id = p_project_id;
  return v;
end
$$;

create or replace function public.create_ea_project(
  p_name text,
  p_source_code text,
  p_description text default '',
  p_symbol text default null,
  p_timeframe text default null,
  p_origin text default 'manual',
  p_note text default '',
  p_parameters jsonb default null
) returns public.ea_projects
language plpgsql
set search_path = ''
as $$
declare
  p public.ea_projects;
begin
  insert into public.ea_projects (user_id, name, description, symbol, timeframe)
  values ((select auth.uid()), p_name, coalesce(p_description, ''), p_symbol, p_timeframe)
  returning * into p;
  perform public.save_ea_version(p.id, p_source_code, p_origin, p_note, p_parameters);
  select * into p from public.ea_projects where id = p.id;
  return p;
end
$$;

-- What changed since a moment, for the polling fallback of live updates (ids only; the caller
-- re-reads the rows). Callers pass a moment a few seconds back: a row's timestamp is its
-- transaction's start, which can precede its commit.
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
$$;

do $$
declare
  f text;
begin
  foreach f in array array[
    'public.signal_page(uuid, text, text, timestamptz, timestamptz, timestamptz, uuid, integer)',
    'public.signal_counts(uuid, text, timestamptz, timestamptz)',
    'public.strategy_stats()',
    'public.save_ea_version(uuid, text, text, text, jsonb)',
    'public.create_ea_project(text, text, text, text, text, text, text, jsonb)',
    'public.changes_since(timestamptz)'
  ]
  loop
    execute format('revoke execute on function %s from public, anon', f);
    execute format('grant execute on function %s to authenticated, service_role', f);
  end loop;
end
$$;
