-- A risk limit reached is told once, by its name, with what follows — through the notification
-- outbox (tray, Telegram, e-mail), whichever process sees it.
--
--   * Maximum daily loss: when an agent records the day's lock (record_daily_loss of
--     20251210000000, on its check before an entry or its look every few seconds in between), one
--     event per account and broker trading day, and again if the trader raises the limit and the
--     loss reaches the new one. It says whether trading was also turned off and everything closed.
--   * The other limits (equity floor, open positions, positions per symbol, lot size): the first
--     entry a limit refuses in a day (UTC) records one event, as 20251211000400 did; its title
--     now names the limit. A daily-loss refusal adds nothing: the lock told it already.
-- The trading switch is the trader's own choice, not a limit reached.
-- Idempotent: safe to apply twice.

create or replace function tnm_private.notify_daily_loss_locked() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_close boolean;
begin
  select us.close_all_on_daily_loss into v_close from public.user_settings us where us.user_id = new.user_id;
  perform tnm_private.record_notification(
    new.user_id,
    format('limit_reached:daily_loss:%s:%s:%s', new.agent_id, new.trading_day, trim_scale(new.limit_pct)),
    'limit_reached', 'Maximum daily loss reached',
    new.reason || '. New entries are refused until the broker''s next trading day'
      || case when coalesce(v_close, false) then '; trading is turned off and every position is being closed.'
              else '; closes still run.' end);
  return null;
end
$$;
revoke all on function tnm_private.notify_daily_loss_locked() from public, anon, authenticated, service_role;

drop trigger if exists daily_loss_locks_notify on public.daily_loss_locks;
create trigger daily_loss_locks_notify after insert or update of limit_pct on public.daily_loss_locks
  for each row execute function tnm_private.notify_daily_loss_locked();

create or replace function tnm_private.notify_limit_reached() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  -- The limits' names as Settings shows them (tnm_desktop.domain.risk.LIMIT_NAMES).
  v_name text := case new.error_code
                   when 'equity_floor' then 'Equity floor'
                   when 'max_positions' then 'Maximum open positions'
                   when 'max_positions_symbol' then 'Maximum positions per symbol'
                   when 'max_lot_size' then 'Maximum lot size'
                 end;
begin
  perform tnm_private.record_notification(
    new.user_id,
    'limit_reached:' || new.error_code || ':' || to_char(now() at time zone 'UTC', 'YYYY-MM-DD'),
    'limit_reached', coalesce(v_name || ' reached', 'Risk limit reached'),
    coalesce(nullif(regexp_replace(coalesce(new.error_message, ''), '^' || coalesce(v_name, '') || ': ', ''), ''),
             'A trade was refused by one of your risk limits.')
      || ' New entries that break it are refused; closes still run.');
  return null;
end
$$;
revoke all on function tnm_private.notify_limit_reached() from public, anon, authenticated, service_role;

drop trigger if exists jobs_limit_reached_notify on public.jobs;
create trigger jobs_limit_reached_notify after update of status on public.jobs
  for each row when (new.status = 'failed' and old.status is distinct from 'failed'
                     and new.error_code in ('max_positions', 'max_lot_size', 'max_positions_symbol', 'equity_floor'))
  execute function tnm_private.notify_limit_reached();
