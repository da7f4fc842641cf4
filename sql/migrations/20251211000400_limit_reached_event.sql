-- "A risk limit was reached" becomes an event the database records itself, so the notification
-- setting of that name does what it says whichever process refused the trade.
--
-- The agent refuses an entry that a risk limit forbids by failing its job with the limit's code
-- (error_code: max_positions, max_lot_size, max_positions_symbol, daily_loss, equity_floor — the
-- names of tnm_desktop's risk limits). The first such refusal of a limit in a day (UTC) records
-- one limit_reached event; later refusals that day add nothing (the failed signals are still each
-- an event of their own). The trading switch is the trader's own choice, not a limit reached.
-- Idempotent: safe to apply twice.

create or replace function tnm_private.notify_limit_reached() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform tnm_private.record_notification(
    new.user_id,
    'limit_reached:' || new.error_code || ':' || to_char(now() at time zone 'UTC', 'YYYY-MM-DD'),
    'limit_reached', 'Risk limit reached',
    coalesce(nullif(new.error_message, ''), 'A trade was refused by one of your risk limits.')
      || ' New entries that break it are refused; closes still run.');
  return null;
end
$$;
revoke all on function tnm_private.notify_limit_reached() from public, anon, authenticated, service_role;

drop trigger if exists jobs_limit_reached_notify on public.jobs;
create trigger jobs_limit_reached_notify after update of status on public.jobs
  for each row when (new.status = 'failed' and old.status is distinct from 'failed'
                     and new.error_code in ('max_positions', 'max_lot_size', 'max_positions_symbol', 'daily_loss',
                                            'equity_floor'))
  execute function tnm_private.notify_limit_reached();
