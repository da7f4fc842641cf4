-- An accepted alert is logged with its job already linked: one statement less on every alert.
--
-- ingest_tv_signal (20251216000000) logged the signal, created its jobs, then updated the signal
-- to point at its first job: an UPDATE on the path of every alert, firing the signal's triggers a
-- second time (its foreign keys, its updated_at, and a second change notification to every
-- listener: the agent, the app's signal log). The first job's id is now chosen before the signal
-- is logged, the signal is inserted with it, and the jobs are inserted with that id for the first
-- leg. The signal's link to its job is checked at commit (the job is inserted a statement later),
-- so the foreign key becomes deferrable, initially deferred; nothing else writes that column.
-- Everything else is as in 20251216000000: the same checks, reasons, payloads and answers.
-- Idempotent: safe to apply twice.

alter table public.tv_signals alter constraint tv_signals_job_id_fkey deferrable initially deferred;

create or replace function tnm_privileged.ingest_tv_signal(
  p_secret text,
  p_body text,
  p_received_at timestamptz default now(),
  p_reject_reason text default null
) returns table (signal_id uuid, status text, reason text, job_id uuid, code text)
language plpgsql
security definer
set search_path = ''
as $$
#variable_conflict use_column
declare
  s record;
  v_bytes integer := coalesce(octet_length(p_body), 0);
  -- A receiver clock ahead of the database's must not put "received" after "logged".
  v_received timestamptz := least(coalesce(p_received_at, now()), clock_timestamp());
  v_raw jsonb;
  v_alert jsonb;
  v_order jsonb;
  v_code text;
  v_reason text;
  v_symbol text;
  v_action text;
  v_price numeric;
  v_key text;
  v_signal uuid := gen_random_uuid();
  v_job uuid;
  v_legs jsonb;
  v_usable integer;
  v_entry boolean;
  v_stopped jsonb;
  v_note text;
begin
  -- The one lookup, through the unique index; nothing before it depends on the secret.
  select st.id, st.user_id, st.name, st.is_enabled, st.risk_override_pct, st.allowed_pairs, st.broker_connection_id,
         st.opposite_signal, st.target_type, st.entry_type, st.account_filter, st.trading_window,
         us.risk_percent, us.max_lot_size, us.default_sl_pips, us.default_sl_pips_lots, us.default_lot_size,
         us.max_slippage_points, us.max_open_positions, us.max_positions_per_symbol, us.max_daily_loss_pct,
         us.equity_floor, us.trading_enabled, us.trading_off_by, us.trading_off_reason
    into s
    from public.tv_strategies st
    left join public.user_settings us on us.user_id = st.user_id
   where st.webhook_secret = p_secret;
  if not found then
    -- Unknown and wrong secrets share this answer and leave no trace under any user.
    return query select null::uuid, 'not_found'::text, 'not found'::text, null::uuid, 'not_found'::text;
    return;
  end if;

  begin
    if v_bytes > 10000 then
      -- Kept, but bounded: the log must not become the place to store megabytes.
      v_raw := to_jsonb(left(p_body, 2000) || format(' … [truncated: %s bytes received]', v_bytes));
    else
      begin
        v_raw := p_body::jsonb;
      exception when others then
        v_reason := sqlerrm;
      end;
      if v_raw is not null then
        if jsonb_typeof(v_raw) = 'object' then
          v_alert := v_raw;
        else
          v_code := 'malformed';
          v_reason := 'the alert must be a JSON object, like {"action": "buy", "symbol": "EURUSD"}';
        end if;
      else
        v_raw := to_jsonb(coalesce(p_body, ''));
        if btrim(coalesce(p_body, ''), E' \t\r\n') = '' then
          v_code := 'malformed';
          v_reason := 'the alert is empty';
        elsif ltrim(p_body, E' \t\r\n') ~ '^[\[{"]' then
          v_code := 'malformed';
          v_reason := left('the alert is not valid JSON: ' || v_reason, 300);
        elsif array_length(string_to_array(p_body, ','), 1) >= 3 then
          select pa.alert, pa.error into v_alert, v_reason
            from tnm_private.pine_alert(p_body, s.target_type, s.entry_type) pa;
          v_code := case when v_reason is not null then 'invalid' end;
        else
          v_code := 'malformed';
          v_reason := 'the alert is neither JSON nor PineConnector syntax (LicenseID,buy,EURUSD,risk=1)';
        end if;
      end if;
    end if;

    if v_alert is not null and v_code is null then
      begin
        v_order := tnm_private.alert_order(v_alert);
      exception when sqlstate 'TNI01' then
        v_code := 'invalid';
        v_reason := sqlerrm;
      end;
    end if;
    -- What the signal log shows, even for a refused alert.
    if v_order is not null then
      v_symbol := v_order ->> 'symbol';
      v_action := v_order ->> 'action';
      v_price := (v_order ->> 'price')::numeric;
    elsif v_alert is not null then
      v_action := case when jsonb_typeof(v_alert -> 'action') = 'string'
                       then tnm_private.alert_action(v_alert ->> 'action') end;
      v_symbol := case when jsonb_typeof(v_alert -> 'symbol') = 'string'
                        and v_action is distinct from 'eaoff' and v_action is distinct from 'eaon'
                       then tnm_private.alert_symbol(v_alert ->> 'symbol') end;
    end if;
    v_entry := v_action in ('buy', 'sell');

    -- The strategy's connections, each with what stops it from trading (NULL: nothing).
    if v_code is null then
      select coalesce(jsonb_agg(jsonb_build_object(
               'bc_id', bc.id, 'name', bc.name, 'agent_id', bc.agent_id,
               'broker_symbol', tnm_private.broker_symbol(v_symbol, bc.symbol_map, bc.symbol_suffix),
               'multiplier', trim_scale(sc.volume_multiplier), 'risk_pct', trim_scale(sc.risk_pct),
               'blocked', case
                 when v_symbol is not null
                      and exists (select 1 from public.broker_symbols b where b.broker_connection_id = bc.id)
                      and not exists (select 1 from public.broker_symbols b
                                       where b.broker_connection_id = bc.id
                                         and b.symbol = tnm_private.broker_symbol(v_symbol, bc.symbol_map,
                                                                                  bc.symbol_suffix))
                   then 'unknown symbol ' || tnm_private.broker_symbol(v_symbol, bc.symbol_map, bc.symbol_suffix)
                        || ' for this broker'
                 when not bc.is_active then format('broker connection %s is inactive', bc.name)
                 -- Any agent could claim an untargeted job, and another agent's terminal is another account.
                 when bc.agent_id is null then format('no MT5 agent serves broker connection %s', bc.name)
                 -- The daily loss this account reached today (recorded by its agent): entries wait for
                 -- the broker's next trading day; closes, and a reversal's close, still run.
                 when v_entry and v_order ->> 'close_first' is null and s.max_daily_loss_pct is not null then (
                   select 'Maximum daily loss: ' || dl.reason
                          || '. New entries are refused until the broker''s next trading day; closes still run.'
                     from public.daily_loss_locks dl
                    where dl.agent_id = bc.agent_id and dl.locked_until > now()
                      and s.max_daily_loss_pct <= dl.limit_pct
                    order by dl.trading_day desc limit 1)
               end,
               'blocked_error', case when v_entry and s.max_daily_loss_pct is not null and exists (
                   select 1 from public.daily_loss_locks dl
                    where dl.agent_id = bc.agent_id and dl.locked_until > now() and s.max_daily_loss_pct <= dl.limit_pct)
                 then 'daily_loss' end,
               -- The connection's pip size for the symbol, by broker symbol first, then TradingView symbol.
               'pip_size', case when v_entry and bc.pip_sizes <> '{}'::jsonb then (
                 select (e.value #>> '{}')::numeric from jsonb_each(bc.pip_sizes) e
                  where upper(btrim(e.key)) in (upper(tnm_private.broker_symbol(v_symbol, bc.symbol_map,
                                                                                bc.symbol_suffix)), v_symbol)
                    and jsonb_typeof(e.value) = 'number' and (e.value #>> '{}')::numeric > 0
                  order by upper(btrim(e.key)) = upper(tnm_private.broker_symbol(v_symbol, bc.symbol_map,
                                                                                 bc.symbol_suffix)) desc
                  limit 1) end,
               'blocked_code', case
                 when v_symbol is not null
                      and exists (select 1 from public.broker_symbols b where b.broker_connection_id = bc.id)
                      and not exists (select 1 from public.broker_symbols b
                                       where b.broker_connection_id = bc.id
                                         and b.symbol = tnm_private.broker_symbol(v_symbol, bc.symbol_map,
                                                                                  bc.symbol_suffix))
                   then 'invalid' else 'disabled' end,
               'cancel_job', case when v_order ->> 'cancel_id' is not null then (
                 select j.id from public.tv_signals d join public.jobs j on j.signal_id = d.id
                  where d.strategy_id = s.id and d.dedup_key = 'id:' || (v_order ->> 'cancel_id')
                    and j.payload ->> 'broker_connection_id' = bc.id::text
                  order by d.received_at desc limit 1) end)
             order by sc.position, sc.created_at), '[]'::jsonb)
        into v_legs
        from public.strategy_connections sc
        join public.broker_connections bc on bc.id = sc.broker_connection_id and bc.user_id = sc.user_id
       where sc.strategy_id = s.id;
      v_usable := (select count(*) from jsonb_array_elements(v_legs) l where l ->> 'blocked' is null);
    end if;

    -- Which reason wins when several apply: the receiver's, the size, the strategy's state, then
    -- the alert's own problems, then what this strategy and its brokers accept.
    if p_reject_reason is not null then
      v_code := 'rejected';
      v_reason := left(p_reject_reason, 300);
    elsif v_bytes > 10000 then
      v_code := 'too_large';
      v_reason := format('the alert is too large (%s bytes; the limit is 10000)', v_bytes);
    elsif not s.is_enabled then
      v_code := 'disabled';
      v_reason := 'strategy is disabled';
    elsif v_code is null and v_action in ('eaoff', 'eaon') then
      null;  -- the switch needs no symbol, connection or agent
    elsif v_code is null then
      if v_symbol is not null and s.allowed_pairs is not null and not v_symbol = any (
           array(select tnm_private.alert_symbol(p) from unnest(s.allowed_pairs) p)) then
        v_code := 'invalid';
        v_reason := format('pair %s is not allowed for this strategy', v_symbol);
      elsif jsonb_array_length(v_legs) = 0 then
        v_code := 'disabled';
        v_reason := 'the strategy trades on no broker connection';
      elsif v_usable = 0 and (v_legs -> 0 ->> 'blocked_code') = 'invalid' then
        -- Only a connection whose agent reported its catalog can know a symbol is unknown.
        v_code := 'invalid';
        v_reason := v_legs -> 0 ->> 'blocked';
      -- Closes always pass: the switch and the limits hold back entries only (a reversal's close
      -- runs, and the agent refuses its entry with the same reason).
      elsif v_entry and v_order ->> 'close_first' is null and not coalesce(s.trading_enabled, true) then
        v_code := 'disabled';
        v_reason := 'Trading switch: ' || coalesce(s.trading_off_reason, 'trading is turned off in Settings')
                    || '. New entries are refused until trading is turned on again; closes still run.';
      elsif v_usable = 0 then
        v_code := 'disabled';
        v_reason := v_legs -> 0 ->> 'blocked';
      elsif v_entry and v_order ->> 'close_first' is null and not tnm_private.window_open(s.trading_window, v_received) then
        -- Entries only: closes, cancels and new stops always pass (a reversal's close too).
        v_code := 'disabled';
        v_reason := format('outside the strategy''s trading window (%s)', tnm_private.window_text(s.trading_window));
      elsif v_order ->> 'cancel_id' is not null
            and not exists (select 1 from jsonb_array_elements(v_legs) l where l ->> 'cancel_job' is not null) then
        v_code := 'invalid';
        v_reason := format('no alert with id %s placed an order for this strategy',
                           tnm_private.alert_shown(v_order -> 'cancel_id'));
      end if;
    end if;

    if v_code is null then
      v_key := case
        when v_order ->> 'id' is not null then 'id:' || (v_order ->> 'id')
        when jsonb_typeof(v_raw) = 'string' then 'body:' || md5(btrim(v_raw #>> '{}', E' \t\r\n'))
        else 'body:' || md5(v_raw::text) end;
      -- Racing deliveries of one alert queue here until the first one commits; the next
      -- statement's snapshot then sees its row.
      perform pg_advisory_xact_lock(hashtextextended(s.id::text || ' ' || v_key, 0));
      if exists (
        select 1 from public.tv_signals d
         where d.strategy_id = s.id and d.dedup_key = v_key and d.status <> 'discarded'
           and d.received_at between
               v_received - case when v_key like 'id:%' then interval '24 hours' else interval '60 seconds' end
           and v_received + case when v_key like 'id:%' then interval '24 hours' else interval '60 seconds' end) then
        v_code := 'duplicate';
        v_reason := 'duplicate';
      elsif v_action = 'eaon' and not coalesce(s.trading_enabled, true)
            and coalesce(s.trading_off_by, 'alert') <> 'alert' then
        -- The trader's own stop (or the daily loss) is not an alert's to undo.
        v_code := 'disabled';
        v_reason := 'Trading switch: ' || coalesce(s.trading_off_reason, 'trading is turned off')
                    || '; an eaon alert turns on only what an alert turned off. Use Start trading in the app.';
      end if;
    end if;
  exception when others then
    -- A request is never lost to a bug in the checks: it is logged with the error.
    v_code := 'invalid';
    v_reason := left('the alert could not be processed: ' || sqlerrm, 300);
    v_price := null;
  end;

  if v_code is not null then
    insert into public.tv_signals as t (id, strategy_id, user_id, symbol, action, price, raw_payload,
                                        status, error_message, received_at, resolved_at)
    values (v_signal, s.id, s.user_id, v_symbol, v_action, round(v_price, 5), v_raw, 'discarded',
            v_reason, v_received, clock_timestamp());
    return query select v_signal, 'discarded'::text, v_reason, null::uuid, v_code;
    return;
  end if;

  -- The switch: done here, at once, whatever the agent is doing.
  if v_action in ('eaoff', 'eaon', 'closealleaoff') then
    if v_action = 'eaon' then
      update public.user_settings us set trading_enabled = true where us.user_id = s.user_id;
      v_note := case when coalesce(s.trading_enabled, true) then 'Trading was on already.'
                     else 'Trading is on again.' end;
    else
      v_stopped := tnm_private.stop_trading(
        s.user_id, 'alert', format('trading was turned off by an %s alert of strategy “%s”', v_action, s.name));
      v_note := 'Trading is off: new entries are refused until an eaon alert or Start trading in the app'
                || case when (v_stopped ->> 'cancelled')::integer > 0
                        then format('; %s queued entries were cancelled', v_stopped ->> 'cancelled') else '' end
                || '.';
    end if;
    if v_action <> 'closealleaoff' then
      insert into public.tv_signals as t (id, strategy_id, user_id, symbol, action, price, raw_payload,
                                          status, error_message, received_at, resolved_at, dedup_key)
      values (v_signal, s.id, s.user_id, null, v_action, round(v_price, 5), v_raw, 'executed', v_note,
              v_received, clock_timestamp(), v_key);
      return query select v_signal, 'executed'::text, v_note, null::uuid, 'accepted'::text;
      return;
    end if;
  end if;

  -- Logged first, so logged_at precedes the jobs' created_at, and already linked to its first
  -- job (whose id is chosen here; the link is checked at commit).
  v_job := gen_random_uuid();
  insert into public.tv_signals as t (id, strategy_id, user_id, symbol, action, price, raw_payload,
                                      status, received_at, dedup_key, job_id)
  values (v_signal, s.id, s.user_id, v_symbol, v_action, round(v_price, 5), v_raw, 'pending',
          v_received, v_key, v_job);
  -- One statement for every leg: a leg that is failed from the start resolves the signal only
  -- once all its legs exist (the row triggers fire at the statement's end).
  with legs as (
    select l, n::int as leg, row_number() over (order by n) = 1 as is_first
      from jsonb_array_elements(v_legs) with ordinality x(l, n)
     where v_order ->> 'cancel_id' is null or l ->> 'cancel_job' is not null
  )
  insert into public.jobs as j (id, user_id, job_type, payload, target_agent_id, created_at, signal_id, status,
                                error_message, error_code, completed_at)
    select case when is_first then v_job else gen_random_uuid() end,
      s.user_id, case when v_action = 'modify' then 'modify_position' else 'trade' end,
      jsonb_build_object(
        'signal_id', v_signal, 'strategy_id', s.id, 'broker_connection_id', (l ->> 'bc_id')::uuid,
        'connection_name', l ->> 'name', 'leg', leg, 'legs', (select count(*) from legs),
        'action', case when v_action in ('closeall', 'closealleaoff') then 'close' else v_action end, 'command', v_order ->> 'command', 'symbol', v_symbol,
        'broker_symbol', l ->> 'broker_symbol',
        -- Sizing: the alert's lots, else risk % from the connection, the alert, the strategy, the
        -- settings; the connection's multiplier scales the lots, or the risk when it has none of its own.
        'sizing', case
          when not v_entry then null
          when jsonb_typeof(v_order -> 'lots') = 'number'
            then jsonb_build_object('mode', 'lots', 'lots',
                                    trim_scale(round((v_order ->> 'lots')::numeric * (l ->> 'multiplier')::numeric, 8)))
          else jsonb_build_object('mode', 'risk', 'risk_pct', trim_scale(least(100, coalesce(
            (l ->> 'risk_pct')::numeric,
            round(coalesce((v_order ->> 'risk')::numeric, trim_scale(s.risk_override_pct), trim_scale(s.risk_percent), 1)
                  * (l ->> 'multiplier')::numeric, 4)))))
          end,
        'sl', case when v_action in ('buy', 'sell', 'modify') then v_order -> 'sl' end,
        'tp', case when v_action in ('buy', 'sell', 'modify') then v_order -> 'tp' end,
        'close', case when v_action in ('closeall', 'closealleaoff') then '{"side": "all", "scope": "account"}'::jsonb
                      when v_action = 'close' then v_order -> 'close' || jsonb_build_object(
                   'volume', trim_scale(round((v_order #>> '{close,volume}')::numeric * (l ->> 'multiplier')::numeric, 8)))
                 end,
        'side', v_order -> 'side',
        'ticket', null,
        'cancel', case when v_action = 'cancel' then jsonb_build_object(
                    'side', v_order -> 'side', 'job_id', l -> 'cancel_job') end,
        'order', v_order -> 'order',
        'close_first', v_order -> 'close_first',
        'manage', case when v_entry then v_order -> 'manage' end,
        'filters', case when v_entry and v_order -> 'filters' is not null then jsonb_build_object(
                     'max_spread_points', v_order #> '{filters,max_spread_points}',
                     'account', case when v_order #>> '{filters,account_above}' is not null then jsonb_build_object(
                                  'basis', s.account_filter, 'above', v_order #> '{filters,account_above}') end) end,
        'window', case when v_entry then s.trading_window end,
        'opposite', s.opposite_signal,
        'pip_size', case when v_entry then l -> 'pip_size' end,
        'alert_price', v_order -> 'price',
        'comment', v_order -> 'comment',
        'allowed_pairs', case when s.allowed_pairs is not null then to_jsonb(array(
          select x from (select tnm_private.alert_symbol(p) as x, k
                           from unnest(s.allowed_pairs) with ordinality u(p, k)) q
           where x is not null order by k)) end,
        'limits', jsonb_build_object(
          'max_lot_size', trim_scale(s.max_lot_size),
          'default_sl_pips', trim_scale(s.default_sl_pips),
          'default_sl_pips_lots', trim_scale(s.default_sl_pips_lots),
          'default_lot_size', coalesce(trim_scale(s.default_lot_size), 0.01),
          'max_slippage_points', coalesce(s.max_slippage_points, 20),
          'max_open_positions', s.max_open_positions,
          'max_positions_per_symbol', s.max_positions_per_symbol,
          'max_daily_loss_pct', trim_scale(s.max_daily_loss_pct),
          'equity_floor', trim_scale(s.equity_floor),
          'trading_enabled', coalesce(s.trading_enabled, true))),
      (l ->> 'agent_id')::uuid, clock_timestamp(), v_signal,
      case when l ->> 'blocked' is null then 'pending' else 'failed' end,
      l ->> 'blocked', case when l ->> 'blocked' is not null then coalesce(l ->> 'blocked_error', 'connection_unavailable') end,
      case when l ->> 'blocked' is not null then clock_timestamp() end
      from legs;
  return query select v_signal, 'pending'::text, v_note, v_job, 'accepted'::text;
end
$$;

comment on function tnm_privileged.ingest_tv_signal(text, text, timestamptz, text)
  is 'Logs one TradingView webhook request in tv_signals and, when valid and new, creates its trade job (or turns trading off or on) in the same transaction. Unknown secrets log nothing. Called by the webhook receiver (role tnm_ingest) through public.ingest_tv_signal.';
revoke all on function tnm_privileged.ingest_tv_signal(text, text, timestamptz, text) from public, anon, authenticated;
grant execute on function tnm_privileged.ingest_tv_signal(text, text, timestamptz, text) to tnm_ingest, service_role;
