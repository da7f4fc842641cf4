-- Real money, part 2: what an alert can ask, and what ingestion refuses early — on top of the
-- order-management alerts of 20251215000100 (pending orders, cancels, new stops, reversals, one
-- job per broker connection of the strategy), whose parser and ingestion function this replaces
-- with the same ones plus what follows. It sorts after them on purpose: both redefine the same
-- functions, and the later file is the one that holds.
--
-- * Commands that are not trades, in our JSON ("action": "eaoff") and PineConnector's syntax
--   (LicenseID,eaoff,eaoff): eaoff turns trading off (the one trading switch, as Stop trading in
--   the app does) and cancels the queued entries; eaon turns it back on, but only when an alert
--   turned it off; closeall closes every position and deletes every pending order of each of the
--   strategy's accounts, whatever the symbol (PineConnector's meaning; it used to close the
--   alert's symbol only); closealleaoff does both.
-- * TradingView's market position ({{strategy.market_position}}, with the position sizes) in an
--   alert says what a market order did: "flat" closes the symbol's positions, an order against
--   the position is a (partial) exit, never an entry the other way.
-- * Trading off and a daily-loss limit reached (as each account's agent recorded it) refuse
--   entries only — market, pending, and a reversal's entry (its close runs; the agent refuses the
--   entry with the same reason): closes always pass. The refusal names the limit.
-- * Each job carries the strategy's opposite-signal setting and its connection's pip size for the
--   symbol (tnm_desktop/domain/trade.py), and the limits added by 20251210000000.
-- The receiver's entry point is SECURITY DEFINER in tnm_privileged, reached through the SECURITY
-- INVOKER wrapper of the same name in public (20251201000000's pattern).
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
    when v in ('buy', 'long', 'buylimit', 'buystop', 'buystoplimit', 'closeshortbuy', 'closelongbuy') then 'buy'
    when v in ('sell', 'short', 'selllimit', 'sellstop', 'sellstoplimit', 'closelongsell', 'closeshortsell')
      then 'sell'
    when v in ('close', 'flat', 'closelong', 'close_long', 'closeshort', 'close_short') then 'close'
    -- Every position and pending order of the account, and the trading switch.
    when v in ('closeall', 'close_all') then 'closeall'
    when v in ('closealleaoff', 'eaoff', 'eaon') then v
    when v in ('cancel', 'cancellong', 'cancelshort', 'cancelall') then 'cancel'
    when v in ('newsltp', 'newsltplong', 'newsltpshort') then 'modify'
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

create or replace function tnm_private.pine_alert(p_body text, p_target text, p_entry text,
                                                  out alert jsonb, out error text)
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
  target_suffix text := case p_target when 'price' then '' when 'percent' then '_percent' else '_pips' end;
  entry_suffix text := case p_entry when 'price' then '' when 'percent' then '_percent' else '_pips' end;
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
    when cmd in ('buylimit', 'selllimit', 'buystop', 'sellstop', 'buystoplimit', 'sellstoplimit') then
      alert := alert || jsonb_build_object('action', cmd);
      if not 'price' = any (keys) then
        error := format('%s needs price=<where the order waits>', cmd);
        return;
      end if;
      if cmd like '%stoplimit' and not 'stoplimit' = any (keys) then
        error := format('%s needs stoplimit=<the price of the limit order it places>', cmd);
        return;
      end if;
    when cmd in ('closelongbuy', 'closeshortsell', 'closelongsell', 'closeshortbuy',
                 'cancellong', 'cancelshort', 'newsltplong', 'newsltpshort') then
      alert := alert || jsonb_build_object('action', cmd);
      if cmd like 'newsltp%' and not ('sl' = any (keys) or 'tp' = any (keys) or 'sl_pips' = any (keys)
                                      or 'tp_pips' = any (keys) or 'sl_price' = any (keys) or 'tp_price' = any (keys)) then
        error := format('%s needs sl= or tp=', cmd);
        return;
      end if;
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
      -- sl=, tp= and the targets as the strategy's target type says (PineConnector's default: pips)
      when k in ('sl', 'tp', 'tp1', 'tp2', 'tp3') then k || target_suffix
      when k in ('sl_pips', 'tp_pips') then k
      when k = 'sl_price' then 'sl'
      when k = 'tp_price' then 'tp'
      when k in ('tp1pct', 'tp2pct', 'tp3pct') then left(k, 3) || '_close'
      -- price= and stoplimit= as the strategy's pending-entry type says
      when k = 'price' then 'entry' || entry_suffix
      when k = 'stoplimit' then 'stoplimit' || entry_suffix
      when k in ('expiry', 'betrigger', 'beoffset', 'trailtrig', 'traildist', 'trailstep', 'be_after_tp1',
                 'spread', 'accfilter', 'comment') then k
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
  v_kind text;
  v_close_first text;
  v_price numeric := tnm_private.alert_number(p_alert, 'price', 9999999);
  v_risk numeric := tnm_private.alert_number(p_alert, 'risk', 100);
  v_lots numeric := tnm_private.alert_number(p_alert, 'lots', 10000);
  v_sl jsonb := tnm_private.alert_level(p_alert, 'sl');
  v_tp jsonb := tnm_private.alert_level(p_alert, 'tp');
  v_percent numeric := tnm_private.alert_number(p_alert, 'percent', 100);
  v_entry jsonb := tnm_private.alert_level(p_alert, 'entry');
  v_stoplimit jsonb := tnm_private.alert_level(p_alert, 'stoplimit');
  v_expiry numeric := tnm_private.alert_number(p_alert, 'expiry', 525600);
  v_be_trigger numeric := tnm_private.alert_number(p_alert, 'betrigger', 100000);
  v_be_offset numeric := tnm_private.alert_number0(p_alert, 'beoffset', 100000);
  v_trail_trigger numeric := tnm_private.alert_number(p_alert, 'trailtrig', 100000);
  v_trail_distance numeric := tnm_private.alert_number(p_alert, 'traildist', 100000);
  v_trail_step numeric := tnm_private.alert_number0(p_alert, 'trailstep', 100000);
  v_be_after_tp1 boolean := tnm_private.alert_flag(p_alert, 'be_after_tp1');
  v_spread numeric := tnm_private.alert_number(p_alert, 'spread', 1000000);
  v_accfilter numeric := tnm_private.alert_number0(p_alert, 'accfilter', 1000000000);
  v_targets jsonb := '[]';
  v_level jsonb;
  v_share numeric;
  v_shares numeric := 0;
  v_unshared integer := 0;
  v_manage jsonb;
  v_entering boolean;
begin
  if jsonb_typeof(p_alert -> 'action') is distinct from 'string' then
    raise exception using errcode = 'TNI01', message = case when p_alert ? 'action'
      then 'action must be text: "buy", "sell" or "close"' else 'action is missing' end;
  end if;
  a := lower(btrim(p_alert ->> 'action'));
  v_action := tnm_private.alert_action(a);
  if v_action is null then
    raise exception using errcode = 'TNI01',
      message = format('action must be "buy", "sell", "close", a pending order, "cancel" or "newsltp" (got %s)',
                       tnm_private.alert_shown(p_alert -> 'action'));
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
  v_kind := case when a in ('buylimit', 'selllimit') then 'limit' when a in ('buystop', 'sellstop') then 'stop'
                 when a in ('buystoplimit', 'sellstoplimit') then 'stop_limit' end;
  v_close_first := case when a in ('closelongbuy', 'closelongsell') then 'long'
                        when a in ('closeshortsell', 'closeshortbuy') then 'short' end;
  v_entering := v_action in ('buy', 'sell');

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
    if v_entering and v_kind is null and v_close_first is null
       and (v_position = 'flat' or (v_action = 'buy') <> (v_position = 'long')) then
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

  -- close / cancel / modify: which side; the action words carry it.
  v_side := case when a in ('closelong', 'close_long', 'cancellong', 'newsltplong') then 'long'
                 when a in ('closeshort', 'close_short', 'cancelshort', 'newsltpshort') then 'short'
                 when a in ('closeall', 'close_all', 'cancelall') then 'all' end;
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
  if p_alert ? 'side' and jsonb_typeof(p_alert -> 'side') <> 'null' then
    if v_action not in ('cancel', 'modify') then
      raise exception using errcode = 'TNI01', message = 'side applies only to "cancel" and "newsltp"';
    end if;
    if jsonb_typeof(p_alert -> 'side') <> 'string' or lower(p_alert ->> 'side') not in ('all', 'long', 'short') then
      raise exception using errcode = 'TNI01', message = format('side must be "all", "long" or "short" (got %s)',
                                                               tnm_private.alert_shown(p_alert -> 'side'));
    end if;
    if v_side is not null and v_side <> lower(p_alert ->> 'side') then
      raise exception using errcode = 'TNI01',
        message = format('action %s contradicts side "%s"', a, lower(p_alert ->> 'side'));
    end if;
    v_side := lower(p_alert ->> 'side');
  end if;
  if p_alert ? 'cancel_id' and jsonb_typeof(p_alert -> 'cancel_id') <> 'null' then
    if v_action <> 'cancel' then
      raise exception using errcode = 'TNI01', message = 'cancel_id applies only to action "cancel"';
    end if;
    if jsonb_typeof(p_alert -> 'cancel_id') not in ('string', 'number') or btrim(p_alert ->> 'cancel_id') = '' then
      raise exception using errcode = 'TNI01', message = 'cancel_id must be the id of the alert that placed the order';
    end if;
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
  if v_action = 'modify' and v_sl is null and v_tp is null then
    raise exception using errcode = 'TNI01', message = format('%s needs a new sl or tp', a);
  end if;

  -- Pending orders: where they wait, and how long.
  if v_kind is not null then
    if v_entry is null then
      raise exception using errcode = 'TNI01', message = format('%s needs entry, entry_pips or entry_percent', a);
    end if;
    if v_kind = 'stop_limit' and v_stoplimit is null then
      raise exception using errcode = 'TNI01',
        message = format('%s needs stoplimit, stoplimit_pips or stoplimit_percent (the limit order''s price)', a);
    end if;
  else
    if v_entry is not null then
      raise exception using errcode = 'TNI01', message = 'entry applies only to pending orders (buylimit, sellstop, …)';
    end if;
    if v_expiry is not null then
      raise exception using errcode = 'TNI01', message = 'expiry applies only to pending orders (buylimit, sellstop, …)';
    end if;
  end if;
  if v_stoplimit is not null and v_kind is distinct from 'stop_limit' then
    raise exception using errcode = 'TNI01', message = 'stoplimit applies only to buystoplimit and sellstoplimit';
  end if;

  -- Take-profit targets: tp1..tp3 with the share of the volume each closes (an even split when
  -- not given); when they close the whole position the last one is the position's take profit.
  for i in 1 .. 3 loop
    v_level := tnm_private.alert_level(p_alert, 'tp' || i);
    v_share := tnm_private.alert_number(p_alert, 'tp' || i || '_close', 100);
    if v_level is null and v_share is not null then
      raise exception using errcode = 'TNI01', message = format('tp%s_close needs tp%s', i, i);
    end if;
    continue when v_level is null;
    if jsonb_array_length(v_targets) < i - 1 then
      raise exception using errcode = 'TNI01', message = format('tp%s needs tp%s first', i, i - 1);
    end if;
    v_targets := v_targets || jsonb_build_array(jsonb_build_object('tp', v_level, 'close_pct', v_share));
    v_shares := v_shares + coalesce(v_share, 0);
    v_unshared := v_unshared + (v_share is null)::int;
  end loop;
  if jsonb_array_length(v_targets) > 0 then
    if v_tp is not null then
      raise exception using errcode = 'TNI01', message = 'give tp or the targets tp1…tp3, not both';
    end if;
    if v_shares > 100 or (v_unshared = 0 and v_shares > 100) then
      raise exception using errcode = 'TNI01',
        message = format('the targets close %s%% of the volume; at most 100%% can be closed', v_shares);
    end if;
    if v_unshared > 0 and v_shares >= 100 then
      raise exception using errcode = 'TNI01', message = 'the targets with a share already close the whole volume';
    end if;
    -- Targets without a share split what the others leave, evenly (the last takes the rounding).
    if v_unshared > 0 then
    v_targets := (select jsonb_agg(t || jsonb_build_object('close_pct', coalesce(
                     (t ->> 'close_pct')::numeric,
                     case when n = (select max(m) from jsonb_array_elements(v_targets) with ordinality u(x, m)
                                     where x ->> 'close_pct' is null)
                          then (100 - v_shares) - trunc((100 - v_shares) / v_unshared, 2) * (v_unshared - 1)
                          else trunc((100 - v_shares) / v_unshared, 2) end)) order by n)
                    from jsonb_array_elements(v_targets) with ordinality e(t, n));
    end if;
    v_shares := (select sum((t ->> 'close_pct')::numeric) from jsonb_array_elements(v_targets) t);
  elsif v_be_after_tp1 then
    raise exception using errcode = 'TNI01', message = 'be_after_tp1 needs tp1';
  end if;

  -- Breakeven and trailing stop, in pips.
  if v_be_offset is not null and v_be_trigger is null then
    raise exception using errcode = 'TNI01', message = 'beoffset needs betrigger';
  end if;
  if v_be_trigger is not null and coalesce(v_be_offset, 0) >= v_be_trigger then
    raise exception using errcode = 'TNI01',
      message = format('beoffset (%s) must be less than betrigger (%s)', coalesce(v_be_offset, 0), v_be_trigger);
  end if;
  if (v_trail_trigger is null) <> (v_trail_distance is null) then
    raise exception using errcode = 'TNI01', message = 'a trailing stop needs trailtrig and traildist';
  end if;
  if v_trail_step is not null and v_trail_distance is null then
    raise exception using errcode = 'TNI01', message = 'trailstep needs trailtrig and traildist';
  end if;
  if v_be_trigger is not null or v_trail_trigger is not null or jsonb_array_length(v_targets) > 0 then
    v_manage := jsonb_build_object(
      'breakeven', case when v_be_trigger is not null then jsonb_build_object(
                     'trigger_pips', v_be_trigger, 'offset_pips', coalesce(v_be_offset, 0)) end,
      'trailing', case when v_trail_trigger is not null then jsonb_build_object(
                    'trigger_pips', v_trail_trigger, 'distance_pips', v_trail_distance,
                    'step_pips', coalesce(v_trail_step, 0)) end,
      'targets', v_targets,
      'be_after_tp1', coalesce(v_be_after_tp1, false));
  end if;

  if not v_entering then
    if v_manage is not null or v_spread is not null or v_accfilter is not null then
      raise exception using errcode = 'TNI01', message = format(
        '%s only to buy and sell alerts',
        case when v_manage is not null then 'breakeven, trailing and tp1…tp3 apply'
             when v_spread is not null then 'spread applies' else 'accfilter applies' end);
    end if;
    if v_action = 'cancel' and v_sl is not null then
      raise exception using errcode = 'TNI01', message = 'a cancel takes no sl or tp';
    end if;
  end if;
  if v_action = 'modify' and v_tp is not null and jsonb_array_length(v_targets) > 0 then
    raise exception using errcode = 'TNI01', message = 'newsltp sets one take profit';
  end if;

  return jsonb_build_object(
    'id', v_id, 'action', v_action, 'symbol', v_symbol,
    -- The order's kind as the alert named it (both syntaxes use the same words).
    'command', case when v_kind is not null or v_close_first is not null then a else v_action end, 'price', v_price, 'risk', v_risk,
    'lots', v_lots, 'sl', v_sl,
    -- The last target is the position's take profit when the targets close all of it.
    'tp', coalesce(v_tp, case when jsonb_array_length(v_targets) > 0 and v_shares >= 100
                              then v_targets -> (jsonb_array_length(v_targets) - 1) -> 'tp' end),
    'close', case when v_action = 'close' then jsonb_build_object(
               'side', coalesce(v_side, 'all'), 'fraction', trim_scale(v_percent / 100),
               'volume', v_lots) end,
    'side', case when v_action in ('cancel', 'modify') then coalesce(v_side, 'all') end,
    'cancel_id', case when v_action = 'cancel' then nullif(btrim(p_alert ->> 'cancel_id'), '') end,
    'order', case when v_kind is not null then jsonb_build_object(
               'kind', v_kind, 'entry', v_entry, 'stoplimit', v_stoplimit, 'expiry_minutes', v_expiry) end,
    'close_first', v_close_first,
    'manage', v_manage,
    'filters', case when v_spread is not null or v_accfilter is not null then jsonb_build_object(
                 'max_spread_points', v_spread, 'account_above', v_accfilter) end,
    'comment', left(coalesce(p_alert ->> 'comment', ''), 64));
end
$$;

revoke execute on function tnm_private.alert_action(text), tnm_private.alert_size(jsonb, text),
  tnm_private.pine_alert(text, text, text), tnm_private.alert_order(jsonb) from public;

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

  -- Logged first, so logged_at precedes the jobs' created_at; linked once the jobs exist.
  insert into public.tv_signals as t (id, strategy_id, user_id, symbol, action, price, raw_payload,
                                      status, received_at, dedup_key)
  values (v_signal, s.id, s.user_id, v_symbol, v_action, round(v_price, 5), v_raw, 'pending',
          v_received, v_key);
  -- One statement for every leg: a leg that is failed from the start resolves the signal only
  -- once all its legs exist (the row triggers fire at the statement's end).
  with legs as (
    select l, n::int as leg from jsonb_array_elements(v_legs) with ordinality x(l, n)
     where v_order ->> 'cancel_id' is null or l ->> 'cancel_job' is not null
  ), made as (
    insert into public.jobs as j (user_id, job_type, payload, target_agent_id, created_at, signal_id, status,
                                  error_message, error_code, completed_at)
    select s.user_id, case when v_action = 'modify' then 'modify_position' else 'trade' end,
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
      from legs
    returning j.id, (j.payload ->> 'leg')::int as leg
  )
  select m.id into v_job from made m order by m.leg limit 1;
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
