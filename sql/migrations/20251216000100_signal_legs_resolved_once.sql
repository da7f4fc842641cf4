-- Real money, part 3: a signal traded on several accounts is resolved once all its legs are final,
-- even when the last two legs finish at the same moment on two agents.
--
-- 20251215000000's tnm_private.resolve_signal counts the signal's open legs from the job trigger
-- of each leg. Two legs completed by two agents at once each ran that count before the other's
-- transaction committed, each saw the other still running, and the signal stayed pending for
-- ever, with both orders done. The function is the same, and first locks the signal's row.
-- The trigger fires at the end of the statement that finished the job (never while a statement
-- that changes several jobs still waits on one of them), so the lock cannot close a cycle.
-- Idempotent: safe to apply twice.

create or replace function tnm_private.resolve_signal(p_job public.jobs) returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_signal uuid := p_job.signal_id;
  v_legs integer;
  v_open integer;
  v_failed integer;
  v_cancelled integer;
  v_first public.jobs;
  v_message text;
begin
  if v_signal is null then
    select s.id into v_signal from public.tv_signals s where s.job_id = p_job.id;
  end if;
  if v_signal is null then
    return;
  end if;
  -- One leg at a time: the legs of one signal finish on different agents, often at the same
  -- moment. Without this lock each would count the other as still running (its change not yet
  -- committed) and neither would resolve the signal. The lock waits for the other leg's commit,
  -- and the count below (a statement of its own, so a fresh snapshot) sees it.
  perform 1 from public.tv_signals s where s.id = v_signal for update;
  select count(*), count(*) filter (where j.status not in ('completed', 'failed', 'cancelled')),
         count(*) filter (where j.status = 'failed'), count(*) filter (where j.status = 'cancelled')
    into v_legs, v_open, v_failed, v_cancelled
    from public.jobs j where j.signal_id = v_signal;
  if v_legs = 0 then
    v_legs := 1;  -- a job from before legs
    v_open := 0;
    v_failed := (p_job.status = 'failed')::int;
    v_cancelled := (p_job.status = 'cancelled')::int;
  end if;
  if v_open > 0 then
    return;
  end if;
  select j.* into v_first from public.jobs j
   where j.signal_id = v_signal order by coalesce((j.payload ->> 'leg')::int, 1), j.created_at limit 1;
  if v_first.id is null then
    v_first := p_job;
  end if;
  if v_legs = 1 then
    v_message := case when v_first.status = 'completed' then v_first.result ->> 'note' else v_first.error_message end;
  else
    select string_agg(format('%s: %s', coalesce(j.payload ->> 'connection_name', 'leg ' || (j.payload ->> 'leg')),
                             rtrim(case j.status when 'completed' then coalesce(nullif(j.result ->> 'note', ''), 'done')
                                                 when 'cancelled' then 'cancelled'
                                                 else coalesce(j.error_message, 'failed') end, '.')),
                      '; ' order by coalesce((j.payload ->> 'leg')::int, 1))
      into v_message
      from public.jobs j where j.signal_id = v_signal;
    v_message := left(format('%s of %s accounts failed — %s', v_failed, v_legs, v_message), 2000);
    if v_failed = 0 and v_cancelled = 0 then
      v_message := nullif(coalesce(v_first.result ->> 'note', ''), '');
    end if;
  end if;
  update public.tv_signals s set
    status = case when v_failed > 0 then 'failed' when v_cancelled = v_legs then 'discarded'
                  when v_cancelled > 0 and v_legs = 1 then 'discarded' else 'executed' end,
    fill_price = case when v_first.status = 'completed' then (v_first.result ->> 'price')::numeric end,
    broker_order_id = case when v_first.status = 'completed'
                           then coalesce(v_first.result ->> 'order', v_first.result ->> 'position') end,
    error_message = v_message,
    resolved_at = coalesce(p_job.completed_at, now())
  where s.id = v_signal and s.status = 'pending';
end
$$;
revoke execute on function tnm_private.resolve_signal(public.jobs) from public;
