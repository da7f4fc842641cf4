-- Live updates for the desktop app and the agent.
--
-- Supabase: the tables join the supabase_realtime publication; Realtime applies RLS to what it
-- sends to each subscriber.
-- Local workspace: triggers NOTIFY a per-user channel with ids only (table, operation, id). The
-- listener re-reads the row under the user's RLS, so a notification never carries row data.
-- Idempotent: safe to apply twice.

do $$
declare
  t text;
begin
  if exists (select 1 from pg_publication where pubname = 'supabase_realtime') then
    foreach t in array array['tv_signals', 'jobs', 'sync_logs', 'trading_accounts', 'mt5_agents']
    loop
      if not exists (select 1 from pg_publication_tables
                      where pubname = 'supabase_realtime' and schemaname = 'public' and tablename = t) then
        execute format('alter publication supabase_realtime add table public.%I', t);
      end if;
    end loop;
  end if;
end
$$;

-- Channel per user: 'tnm_' and the user id without dashes (36 characters, under the 63 limit).
create or replace function tnm_private.notify_change() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform pg_notify('tnm_' || replace(new.user_id::text, '-', ''),
                    json_build_object('table', tg_table_name, 'op', lower(tg_op), 'id', new.id)::text);
  return null;
end
$$;
revoke execute on function tnm_private.notify_change() from public;

drop trigger if exists tv_signals_notify on public.tv_signals;
create trigger tv_signals_notify after insert or update on public.tv_signals
  for each row execute function tnm_private.notify_change();

-- Jobs: on creation and on every state change; not on lease extensions.
drop trigger if exists jobs_notify_insert on public.jobs;
create trigger jobs_notify_insert after insert on public.jobs
  for each row execute function tnm_private.notify_change();
drop trigger if exists jobs_notify_update on public.jobs;
create trigger jobs_notify_update after update of status on public.jobs
  for each row when (old.status is distinct from new.status)
  execute function tnm_private.notify_change();

drop trigger if exists sync_logs_notify on public.sync_logs;
create trigger sync_logs_notify after insert on public.sync_logs
  for each row execute function tnm_private.notify_change();

drop trigger if exists trading_accounts_notify on public.trading_accounts;
create trigger trading_accounts_notify after insert or update on public.trading_accounts
  for each row execute function tnm_private.notify_change();

drop trigger if exists mt5_agents_notify on public.mt5_agents;
create trigger mt5_agents_notify after insert or update on public.mt5_agents
  for each row execute function tnm_private.notify_change();
