-- Seed 000 — Story 4-3: database schema updates for MT5 integration.
-- trading_accounts sync columns, sync_logs, and the two monitoring views.
-- Rollback: sql/rollback/20251113000001_mt5_integration_schema_rollback.sql
--
-- Corrections to the seed, each marked FIX below:
--   * timestamps are timestamptz (the seed used TIMESTAMP): agents and brokers live in other zones.
--   * sync_logs carries user_id so its policy is the plain, index-friendly owner check.
--   * no "service role can insert" policy: service_role bypasses RLS, so that policy did nothing;
--     the agent writes sync results through public.record_sync (job lifecycle migration).
--   * both views are security_invoker: as the seed wrote them they ran with the owner's rights
--     and showed every user's accounts.
-- Idempotent: safe to apply twice.

-- trading_accounts extensions ------------------------------------------------------------------

alter table public.trading_accounts
  add column if not exists mt5_service_account_id varchar(255),
  add column if not exists last_connection_error text,
  add column if not exists last_successful_sync_at timestamptz,  -- FIX: timestamptz
  add column if not exists sync_failure_count integer not null default 0,
  add column if not exists broker_server_time_offset integer not null default 0;

comment on column public.trading_accounts.sync_failure_count
  is 'Consecutive failed syncs; reset to 0 by a successful one';
comment on column public.trading_accounts.broker_server_time_offset
  is 'Trade-server time minus UTC, in seconds';

alter table public.trading_accounts drop constraint if exists trading_accounts_connection_status_check;
alter table public.trading_accounts add constraint trading_accounts_connection_status_check
  check (connection_status in ('pending', 'connected', 'disconnected', 'syncing', 'error', 'active'));

create index if not exists idx_trading_accounts_sync_status
  on public.trading_accounts (is_active, connection_status, last_sync_at);

-- sync_logs ----------------------------------------------------------------------------------------

create table if not exists public.sync_logs (
  id            uuid primary key default gen_random_uuid(),
  account_id    uuid not null,
  user_id       uuid not null references public.profiles (id) on delete cascade,  -- FIX: owner column
  sync_type     varchar(50) not null check (sync_type in ('scheduled', 'manual', 'realtime')),
  started_at    timestamptz not null,                                            -- FIX: timestamptz
  completed_at  timestamptz,
  status        varchar(50) not null check (status in ('success', 'failed', 'partial')),
  trades_synced integer not null default 0 check (trades_synced >= 0),
  error_message text,
  duration_ms   integer check (duration_ms >= 0),
  created_at    timestamptz not null default now(),
  -- FIX: reference (account, owner) so a log can never be filed under another user's account.
  constraint sync_logs_account_fk foreign key (account_id, user_id)
    references public.trading_accounts (id, user_id) on delete cascade
);

create index if not exists idx_sync_logs_account on public.sync_logs (account_id, started_at desc);
create index if not exists idx_sync_logs_started_at on public.sync_logs (started_at desc);
create index if not exists idx_sync_logs_user_id on public.sync_logs (user_id, started_at desc);  -- FIX: FK index

alter table public.sync_logs enable row level security;

drop policy if exists "Users can view sync logs for their accounts" on public.sync_logs;
create policy "Users can view sync logs for their accounts" on public.sync_logs
  for select to authenticated
  using ((select auth.uid()) = user_id);  -- FIX: evaluated once per statement, not per row
drop policy if exists "Service role can insert sync logs" on public.sync_logs;  -- FIX: see header

revoke all on public.sync_logs from anon, authenticated;
grant select on public.sync_logs to authenticated;
grant all on public.sync_logs to service_role;

-- Views --------------------------------------------------------------------------------------------

create or replace view public.recent_sync_failures
with (security_invoker = true)  -- FIX: apply the caller's RLS, not the owner's
as
select
  sl.id,
  sl.account_id,
  ta.login,
  ta.server,
  ta.broker_name,
  sl.sync_type,
  sl.status,
  sl.started_at,
  sl.completed_at,
  sl.duration_ms,
  sl.trades_synced,
  sl.error_message
from public.sync_logs sl
join public.trading_accounts ta on ta.id = sl.account_id
where sl.status in ('failed', 'partial')
  and sl.started_at > now() - interval '24 hours'
order by sl.started_at desc;

create or replace view public.account_sync_health
with (security_invoker = true)  -- FIX: apply the caller's RLS, not the owner's
as
select
  ta.id as account_id,
  ta.login,
  ta.server,
  ta.broker_name,
  ta.currency,
  ta.balance,
  ta.equity,
  ta.is_active,
  ta.connection_status,
  ta.last_sync_at,
  ta.last_successful_sync_at,
  ta.sync_failure_count,
  ta.last_connection_error,
  coalesce(s.total_syncs_24h, 0) as total_syncs_24h,
  coalesce(s.successful_syncs_24h, 0) as successful_syncs_24h,
  coalesce(s.failed_syncs_24h, 0) as failed_syncs_24h,
  case when coalesce(s.total_syncs_24h, 0) = 0 then null
       else round(s.successful_syncs_24h::numeric * 100 / s.total_syncs_24h, 2)
  end as success_rate_pct,
  s.avg_duration_ms,
  (ta.is_active and (ta.last_successful_sync_at is null
                     or ta.last_successful_sync_at < now() - interval '15 minutes')) as is_stale
from public.trading_accounts ta
left join lateral (
  select
    count(*) as total_syncs_24h,
    count(*) filter (where sl.status = 'success') as successful_syncs_24h,
    count(*) filter (where sl.status in ('failed', 'partial')) as failed_syncs_24h,
    round(avg(sl.duration_ms))::integer as avg_duration_ms
  from public.sync_logs sl
  where sl.account_id = ta.id
    and sl.started_at > now() - interval '24 hours'
) s on true;

revoke all on public.recent_sync_failures, public.account_sync_health from anon, authenticated;
grant select on public.recent_sync_failures, public.account_sync_health to authenticated, service_role;
