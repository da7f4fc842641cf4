-- TNM base schema: every table the later migrations (seed 000, seed 003) build on.
--
-- Conventions that hold for every table in public:
--   * RLS enabled; policies are `to authenticated` and compare `(select auth.uid())`, which
--     Postgres evaluates once per statement instead of once per row.
--   * Explicit grants: nothing for anon, only what a signed-in user may do for authenticated.
--     (Older Supabase projects grant everything to anon by default; we revoke it.)
--   * Child rows reference their parent through (parent_id, user_id), so a row can never point
--     at another user's row: foreign-key checks ignore RLS, composite keys do not.
--   * Every foreign key has an index that starts with its column.
-- Idempotent: safe to apply twice.

-- pgcrypto where it exists (Supabase has it): the schema needs none of it since
-- 20251201000100_no_pgcrypto, and the embedded PostgreSQL of the local workspace has no pgcrypto.
do $$
begin
  if exists (select 1 from pg_available_extensions where name = 'pgcrypto') then
    create extension if not exists pgcrypto with schema extensions;
  end if;
end
$$;

-- Helpers ---------------------------------------------------------------------------------------

create or replace function public.set_updated_at() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end
$$;
revoke execute on function public.set_updated_at() from public, anon, authenticated;

-- profiles: one per auth user ---------------------------------------------------------------------

create table if not exists public.profiles (
  id           uuid primary key references auth.users (id) on delete cascade,
  email        text,
  display_name text not null default '',
  created_at   timestamptz not null default now(),
  updated_at   timestamptz not null default now()
);

-- user_settings: the trader's risk limits -----------------------------------------------------

create table if not exists public.user_settings (
  user_id            uuid primary key references public.profiles (id) on delete cascade,
  -- % of balance risked per trade when a strategy has no override.
  risk_percent       numeric(5,2) not null default 1.00
                       check (risk_percent > 0 and risk_percent <= 100),
  max_lot_size       numeric(10,2) check (max_lot_size > 0),
  max_open_positions integer check (max_open_positions >= 0),
  max_daily_loss_pct numeric(5,2) check (max_daily_loss_pct > 0 and max_daily_loss_pct <= 100),
  -- Risk sizing needs a stop distance; used when an alert carries none.
  default_sl_pips    numeric(8,1) check (default_sl_pips > 0),
  -- Used when an alert has neither lots nor a stop to size from.
  default_lot_size   numeric(10,2) not null default 0.01 check (default_lot_size > 0),
  max_slippage_points integer not null default 20 check (max_slippage_points >= 0),
  trading_enabled    boolean not null default true,
  created_at         timestamptz not null default now(),
  updated_at         timestamptz not null default now()
);

-- New auth users get a profile and default settings (the usual Supabase pattern).
create or replace function public.handle_new_user() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into public.profiles (id, email, display_name)
  values (new.id, new.email,
          coalesce(new.raw_user_meta_data ->> 'display_name', split_part(new.email, '@', 1), ''))
  on conflict (id) do nothing;
  insert into public.user_settings (user_id) values (new.id) on conflict (user_id) do nothing;
  return new;
end
$$;
revoke execute on function public.handle_new_user() from public, anon, authenticated;

drop trigger if exists on_auth_user_created on auth.users;
create trigger on_auth_user_created
  after insert on auth.users
  for each row execute function public.handle_new_user();

-- mt5_agents: a paired machine running the MT5 terminal -------------------------------------
-- No password column: terminal passwords stay in the OS keyring of the agent's machine.

create table if not exists public.mt5_agents (
  id                uuid primary key default gen_random_uuid(),
  user_id           uuid not null references public.profiles (id) on delete cascade,
  name              text not null check (length(name) between 1 and 100),
  machine_name      text not null default '',
  terminal_path     text not null default '',
  mt5_login         bigint,
  mt5_server        text,
  status            text not null default 'offline'
                      check (status in ('offline', 'starting', 'running', 'paused', 'degraded', 'stopped')),
  last_heartbeat_at timestamptz,
  last_error        text,
  agent_version     text,
  revoked_at        timestamptz,
  created_at        timestamptz not null default now(),
  updated_at        timestamptz not null default now(),
  unique (id, user_id)
);
create index if not exists mt5_agents_user_id_idx on public.mt5_agents (user_id);

-- broker_connections: a broker account strategies route to, served by one agent ------------

create table if not exists public.broker_connections (
  id            uuid primary key default gen_random_uuid(),
  user_id       uuid not null references public.profiles (id) on delete cascade,
  agent_id      uuid,
  name          text not null check (length(name) between 1 and 100),
  broker_name   text not null default '',
  server        text not null default '',
  login         bigint,
  account_type  text not null default 'demo' check (account_type in ('demo', 'live')),
  -- TradingView symbol -> broker symbol, e.g. {"XAUUSD": "GOLD"}; otherwise symbol || suffix.
  symbol_suffix text not null default '' check (length(symbol_suffix) <= 16),
  symbol_map    jsonb not null default '{}'::jsonb check (jsonb_typeof(symbol_map) = 'object'),
  is_active     boolean not null default true,
  created_at    timestamptz not null default now(),
  updated_at    timestamptz not null default now(),
  unique (id, user_id),
  constraint broker_connections_agent_fk foreign key (agent_id, user_id)
    references public.mt5_agents (id, user_id) on delete set null (agent_id)
);
create index if not exists broker_connections_user_id_idx on public.broker_connections (user_id);
create index if not exists broker_connections_agent_id_idx on public.broker_connections (agent_id);

-- trading_accounts: the synced account state (seed 000 adds the sync columns) ---------------

create table if not exists public.trading_accounts (
  id                   uuid primary key default gen_random_uuid(),
  user_id              uuid not null references public.profiles (id) on delete cascade,
  broker_connection_id uuid,
  login                bigint not null,
  server               text not null,
  broker_name          text not null default '',
  name                 text not null default '',
  currency             text not null default 'USD',
  leverage             integer,
  balance              numeric(18,2) not null default 0,
  equity               numeric(18,2) not null default 0,
  margin               numeric(18,2) not null default 0,
  free_margin          numeric(18,2) not null default 0,
  margin_level         numeric(12,2),
  profit               numeric(18,2) not null default 0,
  is_active            boolean not null default true,
  connection_status    text not null default 'pending'
    constraint trading_accounts_connection_status_check
    check (connection_status in ('pending', 'connected', 'disconnected', 'syncing', 'error')),
  last_sync_at         timestamptz,
  created_at           timestamptz not null default now(),
  updated_at           timestamptz not null default now(),
  unique (id, user_id),
  unique (user_id, login, server),
  constraint trading_accounts_broker_connection_fk foreign key (broker_connection_id, user_id)
    references public.broker_connections (id, user_id) on delete set null (broker_connection_id)
);
create index if not exists trading_accounts_broker_connection_id_idx
  on public.trading_accounts (broker_connection_id);

-- trades: deals synced from the terminal ----------------------------------------------------

create table if not exists public.trades (
  id           uuid primary key default gen_random_uuid(),
  user_id      uuid not null references public.profiles (id) on delete cascade,
  account_id   uuid not null,
  ticket       bigint not null,
  order_ticket bigint,
  position_id  bigint,
  symbol       text not null,
  side         text not null check (side in ('buy', 'sell')),
  entry        text not null check (entry in ('in', 'out', 'inout', 'out_by')),
  volume       numeric(14,2) not null,
  price        numeric(18,6) not null,
  profit       numeric(18,2) not null default 0,
  commission   numeric(18,2) not null default 0,
  swap         numeric(18,2) not null default 0,
  magic        bigint not null default 0,
  comment      text not null default '',
  executed_at  timestamptz not null,
  created_at   timestamptz not null default now(),
  unique (account_id, ticket),
  constraint trades_account_fk foreign key (account_id, user_id)
    references public.trading_accounts (id, user_id) on delete cascade
);
create index if not exists trades_user_id_executed_idx on public.trades (user_id, executed_at desc);

-- ea_projects / ea_versions: MQL5 Expert Advisors with version history ----------------------

create table if not exists public.ea_projects (
  id          uuid primary key default gen_random_uuid(),
  user_id     uuid not null references public.profiles (id) on delete cascade,
  name        text not null check (length(name) between 1 and 100),
  description text not null default '',
  symbol      text,
  timeframe   text,
  created_at  timestamptz not null default now(),
  updated_at  timestamptz not null default now(),
  unique (id, user_id),
  unique (user_id, name)
);

create table if not exists public.ea_versions (
  id             uuid primary key default gen_random_uuid(),
  project_id     uuid not null,
  user_id        uuid not null references public.profiles (id) on delete cascade,
  version_number integer not null,
  source_code    text not null,
  -- How the version was made: typed in the editor, generated from a template, or imported.
  origin         text not null default 'manual' check (origin in ('manual', 'generated', 'imported')),
  note           text not null default '',
  parameters     jsonb,
  compile_status text not null default 'not_compiled'
                   check (compile_status in ('not_compiled', 'queued', 'compiling', 'success', 'failed')),
  compile_log    text,
  compiled_at    timestamptz,
  created_at     timestamptz not null default now(),
  unique (project_id, version_number),
  -- Target of ea_projects' same-project check on current_version_id (seed 003).
  unique (id, project_id),
  constraint ea_versions_project_fk foreign key (project_id, user_id)
    references public.ea_projects (id, user_id) on delete cascade
);
create index if not exists ea_versions_user_id_idx on public.ea_versions (user_id);

-- Number versions 1, 2, 3… per project; the project row lock serialises concurrent saves.
create or replace function public.ea_versions_number() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if (select auth.uid()) is not null and new.user_id is distinct from (select auth.uid()) then
    return new;  -- RLS refuses this row (42501); reveal nothing about the project first
  end if;
  perform 1 from public.ea_projects p
   where p.id = new.project_id and p.user_id = new.user_id
   for update;
  if not found then
    raise exception 'EA project % not found.', new.project_id using errcode = 'foreign_key_violation';
  end if;
  select coalesce(max(v.version_number), 0) + 1 into new.version_number
    from public.ea_versions v where v.project_id = new.project_id;
  return new;
end
$$;
revoke execute on function public.ea_versions_number() from public, anon, authenticated;

drop trigger if exists ea_versions_number on public.ea_versions;
create trigger ea_versions_number
  before insert on public.ea_versions
  for each row execute function public.ea_versions_number();

-- jobs: the agent queue (seed 003 adds agent_id, claimed_at and the trade job types) ---------

create table if not exists public.jobs (
  id            uuid primary key default gen_random_uuid(),
  user_id       uuid not null references public.profiles (id) on delete cascade,
  job_type      text not null constraint jobs_job_type_check
                  check (job_type in ('compile', 'deploy', 'run', 'stop', 'test')),
  payload       jsonb not null default '{}'::jsonb check (jsonb_typeof(payload) = 'object'),
  status        text not null default 'pending'
                  check (status in ('pending', 'running', 'completed', 'failed', 'cancelled')),
  result        jsonb,
  error_message text,
  ea_project_id uuid,
  created_at    timestamptz not null default now(),
  started_at    timestamptz,
  completed_at  timestamptz,
  updated_at    timestamptz not null default now(),
  unique (id, user_id),
  constraint jobs_ea_project_fk foreign key (ea_project_id, user_id)
    references public.ea_projects (id, user_id) on delete set null (ea_project_id)
);
create index if not exists jobs_user_id_created_idx on public.jobs (user_id, created_at desc);
create index if not exists jobs_ea_project_id_idx on public.jobs (ea_project_id);

-- updated_at triggers ----------------------------------------------------------------------------

do $$
declare
  t text;
begin
  foreach t in array array['profiles', 'user_settings', 'mt5_agents', 'broker_connections',
                           'trading_accounts', 'ea_projects', 'jobs']
  loop
    execute format('drop trigger if exists %I on public.%I', t || '_updated_at', t);
    execute format('create trigger %I before update on public.%I '
                   'for each row execute function public.set_updated_at()', t || '_updated_at', t);
  end loop;
end
$$;

-- Row-level security --------------------------------------------------------------------------

alter table public.profiles enable row level security;
alter table public.user_settings enable row level security;
alter table public.mt5_agents enable row level security;
alter table public.broker_connections enable row level security;
alter table public.trading_accounts enable row level security;
alter table public.trades enable row level security;
alter table public.ea_projects enable row level security;
alter table public.ea_versions enable row level security;
alter table public.jobs enable row level security;

drop policy if exists profiles_select on public.profiles;
create policy profiles_select on public.profiles for select to authenticated
  using ((select auth.uid()) = id);
drop policy if exists profiles_update on public.profiles;
create policy profiles_update on public.profiles for update to authenticated
  using ((select auth.uid()) = id) with check ((select auth.uid()) = id);

drop policy if exists user_settings_select on public.user_settings;
create policy user_settings_select on public.user_settings for select to authenticated
  using ((select auth.uid()) = user_id);
drop policy if exists user_settings_update on public.user_settings;
create policy user_settings_update on public.user_settings for update to authenticated
  using ((select auth.uid()) = user_id) with check ((select auth.uid()) = user_id);

-- Tables the user fully owns: select, insert, update and delete their own rows.
do $$
declare
  t text;
begin
  foreach t in array array['mt5_agents', 'broker_connections', 'trading_accounts', 'ea_projects']
  loop
    execute format('drop policy if exists %I on public.%I', t || '_select', t);
    execute format('create policy %I on public.%I for select to authenticated '
                   'using ((select auth.uid()) = user_id)', t || '_select', t);
    execute format('drop policy if exists %I on public.%I', t || '_insert', t);
    execute format('create policy %I on public.%I for insert to authenticated '
                   'with check ((select auth.uid()) = user_id)', t || '_insert', t);
    execute format('drop policy if exists %I on public.%I', t || '_update', t);
    execute format('create policy %I on public.%I for update to authenticated '
                   'using ((select auth.uid()) = user_id) with check ((select auth.uid()) = user_id)',
                   t || '_update', t);
    execute format('drop policy if exists %I on public.%I', t || '_delete', t);
    execute format('create policy %I on public.%I for delete to authenticated '
                   'using ((select auth.uid()) = user_id)', t || '_delete', t);
  end loop;
end
$$;

-- trades are written by the agent's sync function only.
drop policy if exists trades_select on public.trades;
create policy trades_select on public.trades for select to authenticated
  using ((select auth.uid()) = user_id);

-- Versions are history: created and deleted, never edited (compile state is set by the agent).
drop policy if exists ea_versions_select on public.ea_versions;
create policy ea_versions_select on public.ea_versions for select to authenticated
  using ((select auth.uid()) = user_id);
drop policy if exists ea_versions_insert on public.ea_versions;
create policy ea_versions_insert on public.ea_versions for insert to authenticated
  with check ((select auth.uid()) = user_id);
drop policy if exists ea_versions_delete on public.ea_versions;
create policy ea_versions_delete on public.ea_versions for delete to authenticated
  using ((select auth.uid()) = user_id);

-- Jobs are enqueued by the user; their state changes only through the lifecycle functions.
drop policy if exists jobs_select on public.jobs;
create policy jobs_select on public.jobs for select to authenticated
  using ((select auth.uid()) = user_id);
drop policy if exists jobs_insert on public.jobs;
create policy jobs_insert on public.jobs for insert to authenticated
  with check ((select auth.uid()) = user_id and status = 'pending');

-- Grants ----------------------------------------------------------------------------------------

revoke all on public.profiles, public.user_settings, public.mt5_agents, public.broker_connections,
  public.trading_accounts, public.trades, public.ea_projects, public.ea_versions, public.jobs
  from anon, authenticated;
grant all on public.profiles, public.user_settings, public.mt5_agents, public.broker_connections,
  public.trading_accounts, public.trades, public.ea_projects, public.ea_versions, public.jobs
  to service_role;

grant select, update (display_name) on public.profiles to authenticated;
grant select, update (risk_percent, max_lot_size, max_open_positions, max_daily_loss_pct,
  default_sl_pips, default_lot_size, max_slippage_points, trading_enabled)
  on public.user_settings to authenticated;
grant select, delete, insert (id, user_id, name, machine_name, terminal_path, mt5_login, mt5_server),
  update (name, machine_name, terminal_path, mt5_login, mt5_server)
  on public.mt5_agents to authenticated;
grant select, insert, update, delete on public.broker_connections to authenticated;
grant select, delete,
  insert (id, user_id, broker_connection_id, login, server, broker_name, name, currency, is_active),
  update (broker_connection_id, name, is_active)
  on public.trading_accounts to authenticated;
grant select on public.trades to authenticated;
grant select, insert, update, delete on public.ea_projects to authenticated;
grant select, delete,
  insert (id, project_id, user_id, source_code, origin, note, parameters)
  on public.ea_versions to authenticated;
grant select, insert (id, user_id, job_type, payload, ea_project_id) on public.jobs to authenticated;
