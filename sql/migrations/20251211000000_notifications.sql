-- Notifications that reach a trader away from the desk: an outbox every process shares.
--
-- An event (a failed signal, an agent down or back, a limit reached, a sync that keeps failing) is
-- recorded once, in public.notifications, under a key that names it (`signal_failed:<signal id>`):
-- whoever records it first creates the row, everyone after finds it there. Events the database
-- sees itself are recorded here by triggers and functions, in the transaction that causes them;
-- a client records the others through tnm_private.record_notification's public face.
-- Sending is claimed per channel: a process that can send (the app, or a headless agent with the
-- bot token or SMTP password in its keyring) calls claim_notifications() with its channels and
-- gets the events no one has claimed on them, each exactly once (the delivery row's primary key
-- decides). So a notification reaches Telegram or e-mail once, whichever process sees it first.
-- A delivery that failed is retried by any sender after a pause; one whose sender died mid-way
-- stays unsent (at most once: a duplicate alarm is worse than the tray's copy).
-- Secrets (bot token, SMTP password) are never here: they stay in each machine's keyring.
-- Idempotent: safe to apply twice.

-- Who may call the privileged entry points (tnm_privileged: the pattern of 20251201000000).
create schema if not exists tnm_privileged;
revoke all on schema tnm_privileged from public;
grant usage on schema tnm_privileged to authenticated, service_role;

-- notification_settings: where and what to send ----------------------------------------------

create table if not exists public.notification_settings (
  user_id          uuid primary key references public.profiles (id) on delete cascade,
  telegram_enabled boolean not null default false,
  telegram_chat_id text not null default '' check (length(telegram_chat_id) <= 64),
  email_enabled    boolean not null default false,
  smtp_host        text not null default '' check (length(smtp_host) <= 253),
  smtp_port        integer not null default 587 check (smtp_port between 1 and 65535),
  smtp_security    text not null default 'starttls' check (smtp_security in ('starttls', 'ssl', 'none')),
  smtp_username    text not null default '' check (length(smtp_username) <= 254),
  email_from       text not null default '' check (length(email_from) <= 254),
  email_to         text not null default '' check (length(email_to) <= 1000),
  -- The kinds of event that are sent (the tray shows every one).
  events           text[] not null default array['signal_failed', 'agent_down', 'agent_back', 'limit_reached',
                                                 'sync_failing']
                     check (events <@ array['signal_failed', 'agent_down', 'agent_back', 'limit_reached',
                                            'sync_failing']),
  created_at       timestamptz not null default now(),
  updated_at       timestamptz not null default now()
);

drop trigger if exists notification_settings_updated_at on public.notification_settings;
create trigger notification_settings_updated_at before update on public.notification_settings
  for each row execute function public.set_updated_at();

-- notifications: one row per event, whoever saw it -----------------------------------------------

create table if not exists public.notifications (
  id         uuid primary key default gen_random_uuid(),
  user_id    uuid not null references public.profiles (id) on delete cascade,
  event_key  text not null check (length(event_key) between 1 and 200),
  kind       text not null
               check (kind in ('signal_failed', 'agent_down', 'agent_back', 'limit_reached', 'sync_failing')),
  title      text not null check (length(title) between 1 and 200),
  body       text not null default '' check (length(body) <= 2000),
  created_at timestamptz not null default now(),
  unique (id, user_id),
  unique (user_id, event_key)
);
create index if not exists notifications_user_created_idx on public.notifications (user_id, created_at desc);

-- notification_deliveries: who sends a notification on which channel, and how it went ---------

create table if not exists public.notification_deliveries (
  notification_id uuid not null,
  user_id         uuid not null references public.profiles (id) on delete cascade,
  channel         text not null check (channel in ('telegram', 'email')),
  status          text not null default 'sending' check (status in ('sending', 'sent', 'failed')),
  claimed_by      text not null default '' check (length(claimed_by) <= 200),
  attempts        integer not null default 1 check (attempts >= 1),
  error           text check (length(error) <= 2000),
  claimed_at      timestamptz not null default now(),
  sent_at         timestamptz,
  primary key (notification_id, channel),
  constraint notification_deliveries_notification_fk foreign key (notification_id, user_id)
    references public.notifications (id, user_id) on delete cascade
);
create index if not exists notification_deliveries_user_id_idx on public.notification_deliveries (user_id);

-- Row-level security -------------------------------------------------------------------------------

alter table public.notification_settings enable row level security;
alter table public.notifications enable row level security;
alter table public.notification_deliveries enable row level security;

drop policy if exists notification_settings_select on public.notification_settings;
create policy notification_settings_select on public.notification_settings for select to authenticated
  using ((select auth.uid()) = user_id);
drop policy if exists notification_settings_insert on public.notification_settings;
create policy notification_settings_insert on public.notification_settings for insert to authenticated
  with check ((select auth.uid()) = user_id);
drop policy if exists notification_settings_update on public.notification_settings;
create policy notification_settings_update on public.notification_settings for update to authenticated
  using ((select auth.uid()) = user_id) with check ((select auth.uid()) = user_id);

-- Any process of the user may record an event of theirs (the agent's refusals, the app's checks).
drop policy if exists notifications_select on public.notifications;
create policy notifications_select on public.notifications for select to authenticated
  using ((select auth.uid()) = user_id);
drop policy if exists notifications_insert on public.notifications;
create policy notifications_insert on public.notifications for insert to authenticated
  with check ((select auth.uid()) = user_id);

-- Deliveries change only through claim_notifications / finish_notification (below).
drop policy if exists notification_deliveries_select on public.notification_deliveries;
create policy notification_deliveries_select on public.notification_deliveries for select to authenticated
  using ((select auth.uid()) = user_id);

revoke all on public.notification_settings, public.notifications, public.notification_deliveries
  from anon, authenticated;
grant all on public.notification_settings, public.notifications, public.notification_deliveries to service_role;
grant select,
  insert (user_id, telegram_enabled, telegram_chat_id, email_enabled, smtp_host, smtp_port, smtp_security,
          smtp_username, email_from, email_to, events),
  update (telegram_enabled, telegram_chat_id, email_enabled, smtp_host, smtp_port, smtp_security,
          smtp_username, email_from, email_to, events)
  on public.notification_settings to authenticated;
grant select, insert (user_id, event_key, kind, title, body) on public.notifications to authenticated;
grant select on public.notification_deliveries to authenticated;

-- Recording an event ----------------------------------------------------------------------------------

-- The one way an event is recorded, for SQL (triggers, the agent's functions, the limits): returns
-- true when this call recorded it, false when it was there already. Never raises for a duplicate.
create or replace function tnm_private.record_notification(
  p_user uuid, p_event_key text, p_kind text, p_title text, p_body text default ''
) returns boolean
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_id uuid;
begin
  insert into public.notifications (user_id, event_key, kind, title, body)
  values (p_user, left(p_event_key, 200), p_kind, left(p_title, 200), left(coalesce(p_body, ''), 2000))
  on conflict (user_id, event_key) do nothing
  returning id into v_id;
  return v_id is not null;
end
$$;
revoke all on function tnm_private.record_notification(uuid, text, text, text, text)
  from public, anon, authenticated, service_role;

-- The same for a signed-in client (the app, an agent acting as its user): SECURITY INVOKER, so RLS
-- files the event under the caller only.
create or replace function public.record_notification(
  p_event_key text, p_kind text, p_title text, p_body text default ''
) returns boolean
language plpgsql
set search_path = ''
as $$
declare
  v_id uuid;
begin
  insert into public.notifications (user_id, event_key, kind, title, body)
  values ((select auth.uid()), left(p_event_key, 200), p_kind, left(p_title, 200), left(coalesce(p_body, ''), 2000))
  on conflict (user_id, event_key) do nothing
  returning id into v_id;
  return v_id is not null;
end
$$;

-- Claiming and reporting deliveries ------------------------------------------------------------------

-- Hands the caller, once, each of its user's events of the last p_max_age_seconds that the user
-- wants sent and that no one has claimed yet on one of p_channels, plus failed deliveries due for
-- another try (attempts back off: 1, 2, 4… minutes, five tries in all).
create or replace function tnm_privileged.claim_notifications(
  p_channels text[], p_claimed_by text, p_max_age_seconds integer default 86400
) returns table (notification_id uuid, channel text, kind text, title text, body text, created_at timestamptz,
                 attempts integer)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_user uuid := (select auth.uid());
  v_events text[];
begin
  if v_user is null then
    raise exception 'Sign in first.' using errcode = '42501';
  end if;
  select s.events into v_events from public.notification_settings s where s.user_id = v_user;
  v_events := coalesce(v_events, array['signal_failed', 'agent_down', 'agent_back', 'limit_reached',
                                       'sync_failing']);
  return query
  with wanted as (
    select distinct n.id, c.channel
      from public.notifications n
     cross join unnest(p_channels) as c(channel)
     where n.user_id = v_user
       and c.channel in ('telegram', 'email')
       and n.kind = any(v_events)
       and n.created_at > now() - make_interval(secs => greatest(coalesce(p_max_age_seconds, 86400), 1))
  ), fresh as (
    insert into public.notification_deliveries (notification_id, user_id, channel, claimed_by)
    select w.id, v_user, w.channel, left(coalesce(p_claimed_by, ''), 200) from wanted w
    on conflict (notification_id, channel) do nothing
    returning notification_id, channel, attempts
  ), again as (
    update public.notification_deliveries d
       set status = 'sending', attempts = d.attempts + 1, claimed_at = now(), error = null,
           claimed_by = left(coalesce(p_claimed_by, ''), 200)
      from wanted w
     where d.notification_id = w.id and d.channel = w.channel and d.status = 'failed' and d.attempts < 5
       and d.claimed_at < now() - make_interval(mins => power(2, d.attempts - 1)::integer)
    returning d.notification_id, d.channel, d.attempts
  )
  select n.id, x.channel, n.kind, n.title, n.body, n.created_at, x.attempts
    from (select * from fresh union all select * from again) x
    join public.notifications n on n.id = x.notification_id
   order by n.created_at;
end
$$;
revoke all on function tnm_privileged.claim_notifications(text[], text, integer) from public, anon;
grant execute on function tnm_privileged.claim_notifications(text[], text, integer) to authenticated, service_role;

create or replace function public.claim_notifications(
  p_channels text[], p_claimed_by text, p_max_age_seconds integer default 86400
) returns table (notification_id uuid, channel text, kind text, title text, body text, created_at timestamptz,
                 attempts integer)
language sql
set search_path = ''
as $$ select * from tnm_privileged.claim_notifications(p_channels, p_claimed_by, p_max_age_seconds) $$;

-- The claimer reports how the sending went (an error is what the trader reads in Settings).
create or replace function tnm_privileged.finish_notification(
  p_notification_id uuid, p_channel text, p_error text default null
) returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  update public.notification_deliveries d
     set status = case when p_error is null then 'sent' else 'failed' end,
         sent_at = case when p_error is null then now() end,
         error = left(p_error, 2000)
   where d.notification_id = p_notification_id and d.channel = p_channel and d.status = 'sending'
     and d.user_id = (select auth.uid());
end
$$;
revoke all on function tnm_privileged.finish_notification(uuid, text, text) from public, anon;
grant execute on function tnm_privileged.finish_notification(uuid, text, text) to authenticated, service_role;

create or replace function public.finish_notification(
  p_notification_id uuid, p_channel text, p_error text default null
) returns void
language sql
set search_path = ''
as $$ select tnm_privileged.finish_notification(p_notification_id, p_channel, p_error) $$;

do $$
declare
  f text;
begin
  foreach f in array array[
    'public.record_notification(text, text, text, text)',
    'public.claim_notifications(text[], text, integer)',
    'public.finish_notification(uuid, text, text)'
  ]
  loop
    execute format('revoke execute on function %s from public, anon', f);
    execute format('grant execute on function %s to authenticated, service_role', f);
  end loop;
end
$$;

-- Events the database sees itself ---------------------------------------------------------------------

-- A signal failed (its trade job failed, or its lease ran out after the last attempt).
create or replace function tnm_private.notify_signal_failed() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_strategy text;
begin
  select st.name into v_strategy from public.tv_strategies st where st.id = new.strategy_id;
  perform tnm_private.record_notification(
    new.user_id, 'signal_failed:' || new.id, 'signal_failed', 'Signal failed',
    trim(concat_ws(' ', upper(new.action), new.symbol))
      || coalesce(' (' || v_strategy || ')', '') || ': ' || coalesce(new.error_message, 'no reason given'));
  return null;
end
$$;
revoke all on function tnm_private.notify_signal_failed() from public, anon, authenticated, service_role;

drop trigger if exists tv_signals_failed_notify on public.tv_signals;
create trigger tv_signals_failed_notify after update of status on public.tv_signals
  for each row when (new.status = 'failed' and old.status is distinct from 'failed')
  execute function tnm_private.notify_signal_failed();

-- An account's sync failed three times in a row: once per streak (a success resets the count).
create or replace function tnm_private.notify_sync_failing() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_account record;
begin
  select ta.login, ta.server, ta.sync_failure_count into v_account
    from public.trading_accounts ta where ta.id = new.account_id;
  if v_account.sync_failure_count = 3 then
    perform tnm_private.record_notification(
      new.user_id, 'sync_failing:' || new.account_id || ':' || new.id, 'sync_failing', 'Sync keeps failing',
      format('The last 3 syncs of account %s (%s) failed: %s', v_account.login, v_account.server,
             coalesce(new.error_message, 'no reason given')));
  end if;
  return null;
end
$$;
revoke all on function tnm_private.notify_sync_failing() from public, anon, authenticated, service_role;

drop trigger if exists sync_logs_failing_notify on public.sync_logs;
create trigger sync_logs_failing_notify after insert on public.sync_logs
  for each row when (new.status = 'failed')
  execute function tnm_private.notify_sync_failing();

-- Live updates: a new event wakes every sender at once ----------------------------------------------

drop trigger if exists notifications_notify on public.notifications;
create trigger notifications_notify after insert on public.notifications
  for each row execute function tnm_private.notify_change();

do $$
begin
  if exists (select 1 from pg_publication where pubname = 'supabase_realtime')
     and not exists (select 1 from pg_publication_tables where pubname = 'supabase_realtime'
                      and schemaname = 'public' and tablename = 'notifications') then
    alter publication supabase_realtime add table public.notifications;
  end if;
end
$$;
