-- Rollback of seed 000 (20251113000000_mt5_integration_schema_updates.sql).
--
-- Deletes sync_logs and its views and removes the five MT5 columns from trading_accounts.
-- Every other trading_accounts column keeps its data. Safe to run twice.
-- Run as the migration owner (postgres); `tnm-desktop db up` re-applies the migration afterwards.

drop view if exists public.account_sync_health;
drop view if exists public.recent_sync_failures;
drop table if exists public.sync_logs;

drop index if exists public.idx_trading_accounts_sync_status;

alter table public.trading_accounts
  drop column if exists mt5_service_account_id,
  drop column if exists last_connection_error,
  drop column if exists last_successful_sync_at,
  drop column if exists sync_failure_count,
  drop column if exists broker_server_time_offset;

-- Restore the pre-000 status list. NOT VALID: rows already 'active' keep their value instead of
-- being rewritten or blocking the rollback; new rows must use the old list.
alter table public.trading_accounts drop constraint if exists trading_accounts_connection_status_check;
alter table public.trading_accounts add constraint trading_accounts_connection_status_check
  check (connection_status in ('pending', 'connected', 'disconnected', 'syncing', 'error')) not valid;

-- Forget this migration and every later one, so the next `tnm-desktop db up` applies them again.
-- Later migrations hang triggers and functions on sync_logs; all migrations are idempotent, so
-- re-running them restores those pieces instead of leaving them silently missing.
do $$
begin
  if to_regclass('supabase_migrations.schema_migrations') is not null then
    delete from supabase_migrations.schema_migrations where version >= '20251113000000';
  end if;
end
$$;
