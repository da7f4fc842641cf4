-- Real money, part 2: what an alert can ask, and what ingestion refuses early.
--
-- * Commands that are not trades, in our JSON ("action": "eaoff") and PineConnector's syntax
--   (LicenseID,eaoff,eaoff): eaoff turns trading off (the one trading switch, as Stop trading in
--   the app does) and cancels the queued entries; eaon turns it back on, but only when an alert
--   turned it off; closeall closes every position and deletes every pending order of the
--   strategy's account, whatever the symbol (PineConnector's meaning; it used to close the
--   alert's symbol only); closealleaoff does both.
-- * TradingView's market position ({{strategy.market_position}}, with the position sizes) in an
--   alert says what an order did: "flat" closes the symbol's positions, an order against the
--   position is a (partial) exit, never an entry the other way.
-- * Trading off and a daily-loss limit reached (as the agent recorded it) refuse entries only:
--   closes always pass. The refusal names the limit.
-- * The job carries the strategy's opposite-signal setting and the connection's pip size for the
--   symbol (tnm_desktop/domain/trade.py), and the limits added by 20251210000000.
-- The receiver's entry point moves to tnm_privileged (20251201000000's pattern); public keeps the
-- SECURITY INVOKER wrapper of the same name.
-- Idempotent: safe to apply twice.

-- Parsing -------------------------------------------------------------------------------------------

-- buy | sell | close | closeall | closealleaoff | eaoff | eaon, from our words, TradingView's
-- ({{strategy.order.action}}: buy/sell; {{strategy.market_position}}: long/short/flat) and
-- PineConnector's commands.
create or replace function tnm_private.alert_action(p_raw text) returns text
language sql immutable
set search_path = ''
as $$
  select case
    when v in ('buy', 'long') then 'buy'
    when v in ('sell', 'short') then 'sell'
    when v in ('close', 'flat', 'closelong', 'close_long', 'closeshort', 'close_short') then 'close'
    when v in ('closeall', 'close_all') then 'closeall'
    when v in ('closealleaoff', 'eaoff', 'eaon') then v
  end from (select lower(btrim(p_raw)) as v) t
$$;

-- A size of a position from TradingView (0 when flat): a number or numeric text, at least 0.
create or replace function tnm_private.alert_size(p_alert jsonb, p_key text) returns numeric
language plpgsql immutable
set search_path = ''
as $$
declare
  v jsonb := p_alert -> p_key;
begin
  if v is null or jsonb_typeof(v) = 'null' then
    return null;
  end if;
  if jsonb_typeof(v) = 'number' or (jsonb_typeof(v) = 'string' and btrim(v #>> '{}') ~ '^[+]?[0-9]{1,20}(\.[0-9]{0,12})?$') then
    if btrim(v #>> '{}')::numeric >= 0 then
      return btrim(v #>> '{}')::numeric;
    end if;
  end if;
  raise exception using errcode = 'TNI01',
    message = format('%s must be a number of at least 0 (got %s)', p_key, tnm_private.alert_shown(v));
end
$$;

create or replace function tnm_private.pine_alert(p_body text, out alert jsonb, out error text)
language plpgsql immutable
set search_path = ''
as $$
declare
  parts text[] := array(select btrim(x, E' \t\r\n') from unnest(string_to_array(btrim(p_body, E' \t\r\n'), ',')) x);
  cmd text := lower(parts[2]);
  kv text;
  k text;
  v text;
  target text;
  keys text[] := '{}';  -- in the alert's order, so the first problem is the one reported
  vals text[] := '{}';
begin
  alert := jsonb_build_object('symbol', parts[3]);
  if tnm_private.alert_action(parts[1]) is not null or lower(parts[1]) like 'close%' then
    error := 'PineConnector syntax starts with the license ID: LicenseID,buy,EURUSD,risk=1';
    return;
  end if;
  for i in 4 .. coalesce(array_length(parts, 1), 0) loop
    kv := parts[i];
    continue when kv = '';
    if position('=' in kv) = 0 then
      error := format('PineConnector parameter "%s" has no value (write key=value)', left(kv, 40));
      return;
    end if;
    k := lower(btrim(split_part(kv, '=', 1)));
    v := btrim(substr(kv, position('=' in kv) + 1));
    if k = any (keys) then
      error := format('PineConnector parameter %s is given twice', left(k, 40));
      return;
    end if;
    keys := keys || k;
    vals := vals || v;
  end loop;

  case
    when cmd in ('buy', 'long', 'bull', 'bullish') then alert := alert || '{"action": "buy"}';
    when cmd in ('sell', 'short', 'bear', 'bearish') then alert := alert || '{"action": "sell"}';
    when cmd = 'closelong' then alert := alert || '{"action": "close", "close": "long"}';
    when cmd = 'closeshort' then alert := alert || '{"action": "close", "close": "short"}';
    when cmd = 'closelongshort' then alert := alert || '{"action": "close", "close": "all"}';
    -- Every position and pending order of the account, whatever the symbol (PineConnector's closeall).
    when cmd in ('closeall', 'closealleaoff', 'eaoff', 'eaon') then alert := alert || jsonb_build_object('action', cmd);
    when cmd in ('closelongpct', 'closeshortpct', 'closelongvol', 'closeshortvol') then
      alert := alert || jsonb_build_object('action', 'close', 'close', case when cmd like 'closelong%' then 'long' else 'short' end);
      if not 'risk' = any (keys) then
        error := format('%s needs risk=<%s to close>', cmd, case when cmd like '%pct' then 'percent' else 'lots' end);
        return;
      end if;
    else
      error := format('unsupported PineConnector command %s', left(parts[2], 40));
      return;
  end case;

  for i in 1 .. coalesce(array_length(keys, 1), 0) loop
    k := keys[i];
    v := vals[i];
    target := case
      when k = 'risk' and cmd like '%pct' then 'percent'
      when k = 'risk' and cmd like '%vol' then 'lots'
      when k in ('risk', 'vol_pct_bal_loss') then 'risk'
      when k = 'vol_lots' then 'lots'
      when k in ('sl', 'sl_pips') then 'sl_pips'   -- PineConnector's default target type: pips
      when k = 'sl_price' then 'sl'
      when k in ('tp', 'tp_pips') then 'tp_pips'
      when k = 'tp_price' then 'tp'
      when k = 'comment' then 'comment'
      when k = 'secret' then null  -- PineConnector's own check; our webhook URL is the secret
      else '?'
    end;
    continue when target is null;
    if target = '?' then
      error := format('unsupported PineConnector parameter %s', left(k, 40));
      return;
    end if;
    if alert ? target then
      error := format('PineConnector parameter %s repeats another one that sets %s', k, target);
      return;
    end if;
    alert := alert || jsonb_build_object(target, case when target = 'comment' then btrim(v, '"''') else v end);
  end loop;
end
$$;

-- The alert object (from either format) as an order: normalized action, symbol, numbers, levels
-- and close instruction. Raises TNI01 with the first problem found.
create or replace function tnm_private.alert_order(p_alert jsonb) returns jsonb
language plpgsql immutable
set search_path = ''
as $$
declare
  a text;
  v_action text;
  v_side text;
  v_symbol text;
  v_id text;
  v_position text;
  v_size numeric;
  v_prev numeric;
  v_price numeric := tnm_private.alert_number(p_alert, 'price', 9999999);
  v_risk numeric := tnm_private.alert_number(p_alert, 'risk', 100);
  v_lots numeric := tnm_private.alert_number(p_alert, 'lots', 10000);
  v_sl numeric := tnm_private.alert_number(p_alert, 'sl', 9999999);
  v_tp numeric := tnm_private.alert_number(p_alert, 'tp', 9999999);
  v_sl_pips numeric := tnm_private.alert_number(p_alert, 'sl_pips', 100000);
  v_tp_pips numeric := tnm_private.alert_number(p_alert, 'tp_pips', 100000);
  v_percent numeric := tnm_private.alert_number(p_alert, 'percent', 100);
begin
  if jsonb_typeof(p_alert -> 'action') is distinct from 'string' then
    raise exception using errcode = 'TNI01', message = case when p_alert ? 'action'
      then 'action must be text: "buy", "sell" or "close"' else 'action is missing' end;
  end if;
  a := lower(btrim(p_alert ->> 'action'));
  v_action := tnm_private.alert_action(a);
  if v_action is null then
    raise exception using errcode = 'TNI01',
      message = format('action must be "buy", "sell" or "close" (got %s)', tnm_private.alert_shown(p_alert -> 'action'));
  end if;

  if jsonb_typeof(p_alert -> 'id') in ('string', 'number') then
    v_id := nullif(btrim(p_alert ->> 'id'), '');
    if length(v_id) > 200 then
      raise exception using errcode = 'TNI01', message = 'id is longer than 200 characters';
    end if;
  elsif jsonb_typeof(p_alert -> 'id') is distinct from 'null' and p_alert ? 'id' then
    raise exception using errcode = 'TNI01', message = 'id must be text or a number';
  end if;
  if p_alert ? 'comment' and jsonb_typeof(p_alert -> 'comment') not in ('string', 'null') then
    raise exception using errcode = 'TNI01', message = 'comment must be text';
  end if;

  -- The switch and the whole account: no symbol, no size, no stops.
  if v_action in ('closeall', 'closealleaoff', 'eaoff', 'eaon') then
    return jsonb_build_object('id', v_id, 'action', v_action, 'symbol', null, 'price', v_price,
                              'comment', left(coalesce(p_alert ->> 'comment', ''), 64));
  end if;

  if p_alert -> 'symbol' is null or jsonb_typeof(p_alert -> 'symbol') = 'null'
     or btrim(coalesce(p_alert ->> 'symbol', '')) = '' then
    raise exception using errcode = 'TNI01', message = 'symbol is missing';
  end if;
  v_symbol := case when jsonb_typeof(p_alert -> 'symbol') = 'string'
                   then tnm_private.alert_symbol(p_alert ->> 'symbol') end;
  if v_symbol is null then
    raise exception using errcode = 'TNI01',
      message = format('symbol %s is not a valid symbol', tnm_private.alert_shown(p_alert -> 'symbol'));
  end if;
  if v_sl is not null and v_sl_pips is not null then
    raise exception using errcode = 'TNI01', message = 'give sl (a price) or sl_pips, not both';
  end if;
  if v_tp is not null and v_tp_pips is not null then
    raise exception using errcode = 'TNI01', message = 'give tp (a price) or tp_pips, not both';
  end if;

  -- The strategy's position after the order: an order that leaves it flat, or that goes against
  -- it, is an exit (whole or partial), never an entry the other way.
  if p_alert ? 'position' and jsonb_typeof(p_alert -> 'position') <> 'null' then
    if jsonb_typeof(p_alert -> 'position') <> 'string'
       or lower(btrim(p_alert ->> 'position')) not in ('long', 'short', 'flat') then
      raise exception using errcode = 'TNI01', message = format(
        'position must be "long", "short" or "flat", as {{strategy.market_position}} gives (got %s)',
        tnm_private.alert_shown(p_alert -> 'position'));
    end if;
    v_position := lower(btrim(p_alert ->> 'position'));
    v_size := tnm_private.alert_size(p_alert, 'position_size');
    v_prev := tnm_private.alert_size(p_alert, 'prev_position_size');
    if v_action in ('buy', 'sell') and (v_position = 'flat' or (v_action = 'buy') <> (v_position = 'long')) then
      v_action := 'close';
      v_side := case when v_position = 'flat' then 'all' else v_position end;
      v_lots := null;
      v_risk := null;
      v_percent := case when v_position <> 'flat' and v_prev > 0 and v_size is not null and v_size < v_prev
                        then round((v_prev - v_size) / v_prev * 100, 4) end;
      return jsonb_build_object(
        'id', v_id, 'action', 'close', 'symbol', v_symbol, 'price', v_price, 'risk', null, 'lots', null,
        'sl', null, 'tp', null,
        'close', jsonb_build_object('side', v_side, 'fraction', trim_scale(v_percent / 100), 'volume', null),
        'comment', left(coalesce(p_alert ->> 'comment', ''), 64));
    end if;
  end if;

  -- close: "all" | "long" | "short"; the close* action words carry their side.
  v_side := case when a in ('closelong', 'close_long') then 'long'
                 when a in ('closeshort', 'close_short') then 'short' end;
  if p_alert ? 'close' and jsonb_typeof(p_alert -> 'close') <> 'null' then
    if jsonb_typeof(p_alert -> 'close') <> 'string' or lower(p_alert ->> 'close') not in ('all', 'long', 'short') then
      raise exception using errcode = 'TNI01', message = format(
        'close must be "all", "long" or "short" (got %s; the alert price goes in "price")',
        tnm_private.alert_shown(p_alert -> 'close'));
    end if;
    if v_action <> 'close' then
      raise exception using errcode = 'TNI01', message = 'close applies only to action "close"';
    end if;
    if v_side is not null and v_side <> lower(p_alert ->> 'close') then
      raise exception using errcode = 'TNI01',
        message = format('action %s contradicts close "%s"', a, lower(p_alert ->> 'close'));
    end if;
    v_side := lower(p_alert ->> 'close');
  end if;

  if v_action = 'close' then
    if v_percent is not null and v_lots is not null then
      raise exception using errcode = 'TNI01', message = 'give percent or lots to close, not both';
    end if;
  else
    if v_percent is not null then
      raise exception using errcode = 'TNI01', message = 'percent applies only to action "close"';
    end if;
    if v_lots is not null and v_risk is not null then
      raise exception using errcode = 'TNI01', message = 'give lots or risk, not both';
    end if;
  end if;

  return jsonb_build_object(
    'id', v_id, 'action', v_action, 'symbol', v_symbol, 'price', v_price, 'risk', v_risk,
    'lots', v_lots,
    'sl', case when v_sl is not null then jsonb_build_object('price', v_sl)
               when v_sl_pips is not null then jsonb_build_object('pips', v_sl_pips) end,
    'tp', case when v_tp is not null then jsonb_build_object('price', v_tp)
               when v_tp_pips is not null then jsonb_build_object('pips', v_tp_pips) end,
    'close', case when v_action = 'close' then jsonb_build_object(
               'side', coalesce(v_side, 'all'), 'fraction', trim_scale(v_percent / 100),
               'volume', v_lots) end,
    'comment', left(coalesce(p_alert ->> 'comment', ''), 64));
end
$$;

revoke execute on function tnm_private.alert_action(text), tnm_private.alert_size(jsonb, text),
  tnm_private.pine_alert(text), tnm_private.alert_order(jsonb) from public;

-- The ingestion function -----------------------------------------------------------------------

-- Answers one webhook request. code: accepted | duplicate | disabled | malformed | invalid |
-- too_large | rejected | not_found, for the receiver's HTTP status; status: pending (a job is
-- queued), executed (a command done here: eaoff, eaon), discarded; reason is what the trader
-- reads in the signal log (tv_signals.error_message).
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
  v_broker_symbol text;
  v_key text;
  v_signal uuid := gen_random_uuid();
  v_job uuid;
  v_lock text;
  v_stopped jsonb;
  v_note text;
begin
  -- The one lookup, through the unique index; nothing before it depends on the secret.
  select st.id, st.user_id, st.name, st.is_enabled, st.risk_override_pct, st.allowed_pairs, st.opposite_signal,
         bc.id as bc_id, bc.name as bc_name, bc.agent_id, bc.symbol_suffix, bc.symbol_map, bc.pip_sizes,
         bc.is_active, us.risk_percent, us.max_lot_size, us.default_sl_pips, us.default_sl_pips_lots,
         us.default_lot_size, us.max_slippage_points, us.max_open_positions, us.max_positions_per_symbol,
         us.max_daily_loss_pct, us.equity_floor, us.trading_enabled, us.trading_off_by, us.trading_off_reason
    into s
    from public.tv_strategies st
    join public.broker_connections bc on bc.id = st.broker_connection_id and bc.user_id = st.user_id
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
          select pa.alert, pa.error into v_alert, v_reason from tnm_private.pine_alert(p_body) pa;
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

    -- Which reason wins when several apply: the receiver's, the size, the strategy's state, then
    -- the alert's own problems, then what this strategy and broker accept.
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
      if v_symbol is not null then
        v_broker_symbol := coalesce(
          (select m.value from jsonb_each_text(s.symbol_map) m
            where tnm_private.alert_symbol(m.key) = v_symbol order by m.key limit 1),
          v_symbol || s.symbol_suffix);
      end if;
      if v_action in ('buy', 'sell') then
        select l.reason into v_lock from public.daily_loss_locks l
         where l.agent_id = s.agent_id and l.locked_until > now()
           and s.max_daily_loss_pct is not null and s.max_daily_loss_pct <= l.limit_pct
         order by l.trading_day desc limit 1;
      end if;
      if v_symbol is not null and s.allowed_pairs is not null and not v_symbol = any (
           array(select tnm_private.alert_symbol(p) from unnest(s.allowed_pairs) p)) then
        v_code := 'invalid';
        v_reason := format('pair %s is not allowed for this strategy', v_symbol);
      -- Only a connection whose agent reported its catalog can know a symbol is unknown.
      elsif v_symbol is not null
            and exists (select 1 from public.broker_symbols b where b.broker_connection_id = s.bc_id)
            and not exists (select 1 from public.broker_symbols b
                             where b.broker_connection_id = s.bc_id and b.symbol = v_broker_symbol) then
        v_code := 'invalid';
        v_reason := format('unknown symbol %s for this broker', v_broker_symbol);
      -- Closes always pass: the switch and the limits hold back entries only.
      elsif v_action in ('buy', 'sell') and not coalesce(s.trading_enabled, true) then
        v_code := 'disabled';
        v_reason := 'Trading switch: ' || coalesce(s.trading_off_reason, 'trading is turned off in Settings')
                    || '. New entries are refused until trading is turned on again; closes still run.';
      elsif v_action in ('buy', 'sell') and v_lock is not null then
        v_code := 'disabled';
        v_reason := 'Maximum daily loss: ' || v_lock
                    || '. New entries are refused until the broker''s next trading day; closes still run.';
      elsif not s.is_active then
        v_code := 'disabled';
        v_reason := format('broker connection %s is inactive', s.bc_name);
      elsif s.agent_id is null then
        -- Any agent could claim an untargeted job, and another agent's terminal is another account.
        v_code := 'disabled';
        v_reason := format('no MT5 agent serves broker connection %s', s.bc_name);
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

  -- Logged first, so logged_at precedes the job's created_at; linked once the job exists.
  insert into public.tv_signals as t (id, strategy_id, user_id, symbol, action, price, raw_payload,
                                      status, received_at, dedup_key)
  values (v_signal, s.id, s.user_id, v_symbol, v_action, round(v_price, 5), v_raw, 'pending',
          v_received, v_key);
  insert into public.jobs as j (user_id, job_type, payload, target_agent_id, created_at)
  values (s.user_id, 'trade', jsonb_build_object(
            'signal_id', v_signal, 'strategy_id', s.id, 'broker_connection_id', s.bc_id,
            'action', case when v_action in ('closeall', 'closealleaoff') then 'close' else v_action end,
            'symbol', v_symbol, 'broker_symbol', v_broker_symbol,
            -- Sizing: the alert's lots, else risk % from the alert, the strategy, the settings.
            'sizing', case
              when v_action not in ('buy', 'sell') then null
              when jsonb_typeof(v_order -> 'lots') = 'number'
                then jsonb_build_object('mode', 'lots', 'lots', v_order -> 'lots')
              else jsonb_build_object('mode', 'risk', 'risk_pct', coalesce(
                (v_order ->> 'risk')::numeric, trim_scale(s.risk_override_pct), trim_scale(s.risk_percent), 1))
              end,
            'sl', case when v_action in ('buy', 'sell') then v_order -> 'sl' end,
            'tp', case when v_action in ('buy', 'sell') then v_order -> 'tp' end,
            'close', case when v_action in ('closeall', 'closealleaoff')
                          then '{"side": "all", "scope": "account"}'::jsonb else v_order -> 'close' end,
            'opposite', s.opposite_signal,
            -- The connection's pip size for the symbol, by broker symbol first, then TradingView symbol.
            'pip_size', case when v_action in ('buy', 'sell') and s.pip_sizes <> '{}'::jsonb then (
              select (e.value #>> '{}')::numeric from jsonb_each(s.pip_sizes) e
               where upper(btrim(e.key)) in (upper(v_broker_symbol), v_symbol) and jsonb_typeof(e.value) = 'number'
                 and (e.value #>> '{}')::numeric > 0
               order by upper(btrim(e.key)) = upper(v_broker_symbol) desc limit 1) end,
            'alert_price', v_order -> 'price',
            'comment', v_order -> 'comment',
            'allowed_pairs', case when s.allowed_pairs is not null then to_jsonb(array(
              select x from (select tnm_private.alert_symbol(p) as x, n
                               from unnest(s.allowed_pairs) with ordinality u(p, n)) q
               where x is not null order by n)) end,
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
          s.agent_id, clock_timestamp())
  returning j.id into v_job;
  update public.tv_signals t set job_id = v_job where t.id = v_signal;
  return query select v_signal, 'pending'::text, v_note, v_job, 'accepted'::text;
end
$$;

comment on function tnm_privileged.ingest_tv_signal(text, text, timestamptz, text)
  is 'Logs one TradingView webhook request in tv_signals and, when valid and new, creates its trade job (or turns trading off or on) in the same transaction. Unknown secrets log nothing. Called by the webhook receiver (role tnm_ingest) through public.ingest_tv_signal.';
revoke all on function tnm_privileged.ingest_tv_signal(text, text, timestamptz, text) from public, anon, authenticated;
grant execute on function tnm_privileged.ingest_tv_signal(text, text, timestamptz, text) to tnm_ingest, service_role;

-- The receiver's entry point in public: the same name, arguments and result, with its caller's rights.
create or replace function public.ingest_tv_signal(
  p_secret text,
  p_body text,
  p_received_at timestamptz default now(),
  p_reject_reason text default null
) returns table (signal_id uuid, status text, reason text, job_id uuid, code text)
language sql
security invoker
set search_path = ''
as $$ select * from tnm_privileged.ingest_tv_signal(p_secret, p_body, p_received_at, p_reject_reason) $$;
revoke all on function public.ingest_tv_signal(text, text, timestamptz, text) from public, anon, authenticated;
grant execute on function public.ingest_tv_signal(text, text, timestamptz, text) to tnm_ingest, service_role;
