-- Alerts refused because they waited too long are one event a run, not one each.
--
-- They come in runs (a burst the terminal could not take in time, or a backlog found when the
-- agent starts): the first refusal of a run records one 'Alerts not executed' event (kind
-- signal_failed, so the same notification setting covers it); later ones add nothing while the
-- run lasts. A run ends once 120 s pass without another such refusal. Any other failed signal is
-- still an event of its own. The refusal's reason starts with the words of
-- tnm_desktop.domain.trade.STALE_REASON.
-- Replaces tnm_private.notify_signal_failed of 20251211000000 (same trigger).
-- Idempotent: safe to apply twice.

create or replace function tnm_private.notify_signal_failed() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_strategy text;
begin
  if coalesce(new.error_message, '') like 'Not executed: the alert was%' then
    if not exists (
      select 1 from public.tv_signals s
       where s.user_id = new.user_id and s.id <> new.id and s.status = 'failed'
         and s.resolved_at >= now() - interval '120 seconds'
         and s.error_message like 'Not executed: the alert was%') then
      perform tnm_private.record_notification(
        new.user_id, 'alerts_stale:' || new.id, 'signal_failed', 'Alerts not executed',
        'Alerts were too old when their turn came, so they were not executed: they came faster than the '
          || 'terminal could take them, or while the agent was not running. The signal log lists each one.');
    end if;
    return null;
  end if;
  select st.name into v_strategy from public.tv_strategies st where st.id = new.strategy_id;
  perform tnm_private.record_notification(
    new.user_id, 'signal_failed:' || new.id, 'signal_failed', 'Signal failed',
    trim(concat_ws(' ', upper(new.action), new.symbol))
      || coalesce(' (' || v_strategy || ')', '') || ': ' || coalesce(new.error_message, 'no reason given'));
  return null;
end
$$;
revoke all on function tnm_private.notify_signal_failed() from public, anon, authenticated, service_role;
