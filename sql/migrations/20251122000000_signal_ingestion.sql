-- Signal ingestion: every TradingView webhook becomes a tv_signals row; a valid one also becomes a
-- trade job, in the same transaction.
--
-- public.ingest_tv_signal is the only way in. The webhook receiver calls it as role tnm_ingest,
-- which can do nothing else, so a compromised receiver can at most log signals for secrets it
-- knows. Parsing and validation live here, not in the receiver, so that any client (our receiver,
-- an Edge Function, a test) and any deployment (local workspace, Supabase) behave the same.
-- Formats: our JSON and PineConnector's comma syntax (README.md, "TradingView alerts").
-- The job payload is the contract of tnm_desktop/domain/trade.py (TradeInstruction.from_payload).
-- Idempotent: safe to apply twice.

-- The receiver's role ---------------------------------------------------------------------------

-- Created without a password: the local workspace reaches it over its owner-only socket; a
-- Supabase deployment sets one with `alter role tnm_ingest with login password '…'`.
do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'tnm_ingest') then
    create role tnm_ingest login noinherit;
  end if;
end
$$;
-- Well inside TradingView's 3-second limit, even if the receiver forgets its own timeout.
alter role tnm_ingest set statement_timeout = '2s';
-- Usage only, to resolve the function's name; PUBLIC may lose it on some projects.
grant usage on schema public to tnm_ingest;

-- tv_signals: stage times and the duplicate key ------------------------------------------------

-- Added without a default first, so existing rows stay NULL (unknown) instead of getting the
-- migration's time; new rows get the clock time of their insert (not the transaction's start).
alter table public.tv_signals add column if not exists logged_at timestamptz;
alter table public.tv_signals alter column logged_at set default clock_timestamp();
comment on column public.tv_signals.logged_at
  is 'Clock time the row was written; received_at → logged_at → jobs.created_at are the ingestion stages';

-- What makes two deliveries "the same alert": 'id:<alert id>' or 'body:<md5 of the content>'.
-- Set only on accepted signals: only those can make a later delivery a duplicate.
alter table public.tv_signals add column if not exists dedup_key text;
comment on column public.tv_signals.dedup_key
  is 'Duplicate-detection key of an accepted signal: id:<alert id> (24 h) or body:<md5> (60 s)';
create index if not exists tv_signals_dedup_idx
  on public.tv_signals (strategy_id, dedup_key, received_at) where dedup_key is not null;

-- broker_symbols: the symbols a broker connection offers, reported by its agent ----------------

create table if not exists public.broker_symbols (
  broker_connection_id uuid        not null,
  user_id              uuid        not null references public.profiles (id) on delete cascade,
  symbol               text        not null check (length(symbol) between 1 and 64),
  description          text        not null default '',
  digits               integer     check (digits between 0 and 12),
  point                numeric     check (point > 0),
  contract_size        numeric     check (contract_size > 0),
  volume_min           numeric     check (volume_min > 0),
  volume_max           numeric     check (volume_max > 0),
  volume_step          numeric     check (volume_step > 0),
  currency_profit      text,
  trade_allowed        boolean     not null default true,
  updated_at           timestamptz not null default now(),
  primary key (broker_connection_id, symbol),
  -- Same rule as every child table: the catalog can only hang on the same user's connection.
  constraint broker_symbols_broker_connection_fk foreign key (broker_connection_id, user_id)
    references public.broker_connections (id, user_id) on delete cascade
);
comment on table public.broker_symbols
  is 'Symbol catalog of a broker connection, replaced by its agent (record_broker_symbols); ingestion refuses symbols not in it';
create index if not exists broker_symbols_user_id_idx on public.broker_symbols (user_id);

alter table public.broker_symbols enable row level security;
drop policy if exists broker_symbols_select on public.broker_symbols;
create policy broker_symbols_select on public.broker_symbols for select to authenticated
  using ((select auth.uid()) = user_id);
-- Written only by record_broker_symbols: a user has no reason to edit what the broker offers.
revoke all on public.broker_symbols from anon, authenticated;
grant select on public.broker_symbols to authenticated;
grant all on public.broker_symbols to service_role;

-- The agent replaces the catalog of a connection it serves (or an unassigned one of its owner):
-- it must not overwrite what another agent, logged in to another broker, reported.
create or replace function public.record_broker_symbols(
  p_agent_id uuid, p_pairing_key text, p_broker_connection_id uuid, p_symbols jsonb
) returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid := tnm_private.require_agent(p_agent_id, p_pairing_key);
  v_count integer;
begin
  -- The row lock serialises two uploads for one connection.
  perform 1 from public.broker_connections bc
   where bc.id = p_broker_connection_id and bc.user_id = v_user
     and (bc.agent_id = p_agent_id or bc.agent_id is null)
   for update;
  if not found then
    raise exception 'This agent does not serve that broker connection.' using errcode = 'TNV01';
  end if;
  if p_symbols is null or jsonb_typeof(p_symbols) <> 'array' then
    raise exception 'The symbol catalog must be a JSON array.' using errcode = 'TNV01';
  end if;
  if jsonb_array_length(p_symbols) > 50000 then
    raise exception 'The symbol catalog has more than 50000 symbols.' using errcode = 'TNV01';
  end if;
  if exists (select 1 from jsonb_array_elements(p_symbols) e
              where not coalesce(
                (jsonb_typeof(e) = 'string' and length(e #>> '{}') between 1 and 64)
                or (jsonb_typeof(e) = 'object' and jsonb_typeof(e -> 'symbol') = 'string'
                    and length(e ->> 'symbol') between 1 and 64), false)) then
    raise exception 'Each symbol needs a name of 1 to 64 characters.' using errcode = 'TNV01';
  end if;

  -- One statement: the delete and the upsert see the same snapshot and touch disjoint rows.
  with incoming as (
    select distinct on (r.symbol) r.*
      from jsonb_array_elements(p_symbols) e,
           jsonb_to_record(case when jsonb_typeof(e) = 'string' then jsonb_build_object('symbol', e) else e end)
             as r(symbol text, description text, digits integer, point numeric, contract_size numeric,
                  volume_min numeric, volume_max numeric, volume_step numeric, currency_profit text,
                  trade_allowed boolean)
     order by r.symbol
  ), gone as (
    delete from public.broker_symbols b
     where b.broker_connection_id = p_broker_connection_id
       and not exists (select 1 from incoming i where i.symbol = b.symbol)
  )
  insert into public.broker_symbols as b (broker_connection_id, user_id, symbol, description, digits,
    point, contract_size, volume_min, volume_max, volume_step, currency_profit, trade_allowed, updated_at)
  select p_broker_connection_id, v_user, i.symbol, coalesce(i.description, ''), i.digits, i.point,
         i.contract_size, i.volume_min, i.volume_max, i.volume_step, i.currency_profit,
         coalesce(i.trade_allowed, true), now()
    from incoming i
  on conflict (broker_connection_id, symbol) do update set
    description = excluded.description, digits = excluded.digits, point = excluded.point,
    contract_size = excluded.contract_size, volume_min = excluded.volume_min,
    volume_max = excluded.volume_max, volume_step = excluded.volume_step,
    currency_profit = excluded.currency_profit, trade_allowed = excluded.trade_allowed,
    updated_at = excluded.updated_at;
  get diagnostics v_count = row_count;
  return v_count;
end
$$;
revoke execute on function public.record_broker_symbols(uuid, text, uuid, jsonb) from public, anon;
grant execute on function public.record_broker_symbols(uuid, text, uuid, jsonb) to authenticated, service_role;

-- Parsing helpers (pure; raise SQLSTATE TNI01 with the reason a trader reads) -------------------

-- The TradingView ticker without its exchange prefix ("OANDA:EURUSD" → "EURUSD"), upper case;
-- NULL when it is not a symbol.
create or replace function tnm_private.alert_symbol(p_raw text) returns text
language sql immutable
set search_path = ''
as $$
  select s from (select regexp_replace(upper(btrim(p_raw)), '^[A-Z0-9_]{1,32}:', '') as s) t
   where s ~ '^[A-Z0-9][A-Z0-9._!/-]{0,31}$'
$$;

-- buy | sell | close, from our words, TradingView's ({{strategy.order.action}} gives buy/sell,
-- {{strategy.market_position}} long/short/flat) and PineConnector's close commands.
create or replace function tnm_private.alert_action(p_raw text) returns text
language sql immutable
set search_path = ''
as $$
  select case
    when v in ('buy', 'long') then 'buy'
    when v in ('sell', 'short') then 'sell'
    when v in ('close', 'flat', 'closeall', 'close_all', 'closelong', 'close_long', 'closeshort',
               'close_short') then 'close'
  end from (select lower(btrim(p_raw)) as v) t
$$;

-- A value as the trader sees it in a reason, cut at 40 characters.
create or replace function tnm_private.alert_shown(p_value jsonb) returns text
language sql immutable
set search_path = ''
as $$
  select case when length(p_value::text) > 40 then left(p_value::text, 39) || '…' else p_value::text end
$$;

-- A positive number from a JSON number or a numeric string (TradingView users often quote
-- placeholders), rounded to 8 decimals; NULL when the key is absent.
create or replace function tnm_private.alert_number(p_alert jsonb, p_key text, p_max numeric)
returns numeric
language plpgsql immutable
set search_path = ''
as $$
declare
  v jsonb := p_alert -> p_key;
  n numeric;
begin
  if v is null or jsonb_typeof(v) = 'null' then
    return null;
  end if;
  if jsonb_typeof(v) = 'number' then
    n := (v #>> '{}')::numeric;
  elsif jsonb_typeof(v) = 'string'
        and btrim(v #>> '{}') ~ '^[+-]?([0-9]{1,40}(\.[0-9]{0,40})?|\.[0-9]{1,40})([eE][+-]?[0-9]{1,3})?$' then
    n := btrim(v #>> '{}')::numeric;
  else
    raise exception using errcode = 'TNI01',
      message = format('%s must be a number (got %s)', p_key, tnm_private.alert_shown(v));
  end if;
  n := round(n, 8);
  if n <= 0 then
    raise exception using errcode = 'TNI01', message = format('%s must be more than 0 (got %s)', p_key, tnm_private.alert_shown(v));
  end if;
  if n > p_max then
    raise exception using errcode = 'TNI01',
      message = format('%s must be at most %s (got %s)', p_key, p_max, tnm_private.alert_shown(v));
  end if;
  return trim_scale(n);
end
$$;

-- PineConnector's `LicenseID,command,SYMBOL,key=value,...` as the same alert object our JSON
-- gives. Never raises for bad input: `error` says what is wrong, `alert` keeps what was readable
-- (for the signal log). The license id is ignored: the webhook secret identifies the strategy.
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
    -- PineConnector's closeall closes every symbol; we close both sides of the alert's symbol.
    when cmd in ('closelongshort', 'closeall') then alert := alert || '{"action": "close", "close": "all"}';
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
  if v_sl is not null and v_sl_pips is not null then
    raise exception using errcode = 'TNI01', message = 'give sl (a price) or sl_pips, not both';
  end if;
  if v_tp is not null and v_tp_pips is not null then
    raise exception using errcode = 'TNI01', message = 'give tp (a price) or tp_pips, not both';
  end if;

  -- close: "all" | "long" | "short"; the close* action words carry their side.
  v_side := case when a in ('closelong', 'close_long') then 'long'
                 when a in ('closeshort', 'close_short') then 'short'
                 when a in ('closeall', 'close_all') then 'all' end;
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

revoke execute on function tnm_private.alert_symbol(text), tnm_private.alert_action(text),
  tnm_private.alert_shown(jsonb),
  tnm_private.alert_number(jsonb, text, numeric), tnm_private.pine_alert(text),
  tnm_private.alert_order(jsonb) from public;

-- The ingestion function -----------------------------------------------------------------------

-- Answers one webhook request. code: accepted | duplicate | disabled | malformed | invalid |
-- too_large | rejected | not_found, for the receiver's HTTP status; reason is what the trader
-- reads in the signal log (tv_signals.error_message).
create or replace function public.ingest_tv_signal(
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
begin
  -- The one lookup, through the unique index; nothing before it depends on the secret.
  select st.id, st.user_id, st.is_enabled, st.risk_override_pct, st.allowed_pairs,
         bc.id as bc_id, bc.name as bc_name, bc.agent_id, bc.symbol_suffix, bc.symbol_map,
         bc.is_active, us.risk_percent, us.max_lot_size, us.default_sl_pips, us.default_lot_size,
         us.max_slippage_points, us.max_open_positions, us.trading_enabled
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
      v_symbol := case when jsonb_typeof(v_alert -> 'symbol') = 'string'
                       then tnm_private.alert_symbol(v_alert ->> 'symbol') end;
      v_action := case when jsonb_typeof(v_alert -> 'action') = 'string'
                       then tnm_private.alert_action(v_alert ->> 'action') end;
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
    elsif v_code is null then
      v_broker_symbol := coalesce(
        (select m.value from jsonb_each_text(s.symbol_map) m
          where tnm_private.alert_symbol(m.key) = v_symbol order by m.key limit 1),
        v_symbol || s.symbol_suffix);
      if s.allowed_pairs is not null and not v_symbol = any (
           array(select tnm_private.alert_symbol(p) from unnest(s.allowed_pairs) p)) then
        v_code := 'invalid';
        v_reason := format('pair %s is not allowed for this strategy', v_symbol);
      -- Only a connection whose agent reported its catalog can know a symbol is unknown.
      elsif exists (select 1 from public.broker_symbols b where b.broker_connection_id = s.bc_id)
            and not exists (select 1 from public.broker_symbols b
                             where b.broker_connection_id = s.bc_id and b.symbol = v_broker_symbol) then
        v_code := 'invalid';
        v_reason := format('unknown symbol %s for this broker', v_broker_symbol);
      elsif not coalesce(s.trading_enabled, true) then
        v_code := 'disabled';
        v_reason := 'trading is turned off in your settings';
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

  -- Logged first, so logged_at precedes the job's created_at; linked once the job exists.
  insert into public.tv_signals as t (id, strategy_id, user_id, symbol, action, price, raw_payload,
                                      status, received_at, dedup_key)
  values (v_signal, s.id, s.user_id, v_symbol, v_action, round(v_price, 5), v_raw, 'pending',
          v_received, v_key);
  insert into public.jobs as j (user_id, job_type, payload, target_agent_id, created_at)
  values (s.user_id, 'trade', jsonb_build_object(
            'signal_id', v_signal, 'strategy_id', s.id, 'broker_connection_id', s.bc_id,
            'action', v_action, 'symbol', v_symbol, 'broker_symbol', v_broker_symbol,
            -- Sizing: the alert's lots, else risk % from the alert, the strategy, the settings.
            'sizing', case
              when v_action = 'close' then null
              when jsonb_typeof(v_order -> 'lots') = 'number'
                then jsonb_build_object('mode', 'lots', 'lots', v_order -> 'lots')
              else jsonb_build_object('mode', 'risk', 'risk_pct', coalesce(
                (v_order ->> 'risk')::numeric, trim_scale(s.risk_override_pct), trim_scale(s.risk_percent), 1))
              end,
            'sl', case when v_action <> 'close' then v_order -> 'sl' end,
            'tp', case when v_action <> 'close' then v_order -> 'tp' end,
            'close', v_order -> 'close',
            'alert_price', v_order -> 'price',
            'comment', v_order -> 'comment',
            'allowed_pairs', case when s.allowed_pairs is not null then to_jsonb(array(
              select x from (select tnm_private.alert_symbol(p) as x, n
                               from unnest(s.allowed_pairs) with ordinality u(p, n)) q
               where x is not null order by n)) end,
            'limits', jsonb_build_object(
              'max_lot_size', trim_scale(s.max_lot_size),
              'default_sl_pips', trim_scale(s.default_sl_pips),
              'default_lot_size', coalesce(trim_scale(s.default_lot_size), 0.01),
              'max_slippage_points', coalesce(s.max_slippage_points, 20),
              'max_open_positions', s.max_open_positions,
              'trading_enabled', coalesce(s.trading_enabled, true))),
          s.agent_id, clock_timestamp())
  returning j.id into v_job;
  update public.tv_signals t set job_id = v_job where t.id = v_signal;
  return query select v_signal, 'pending'::text, null::text, v_job, 'accepted'::text;
end
$$;

comment on function public.ingest_tv_signal(text, text, timestamptz, text)
  is 'Logs one TradingView webhook request in tv_signals and, when valid and new, creates its trade job in the same transaction. Unknown secrets log nothing. Called by the webhook receiver (role tnm_ingest).';

-- Only the receiver's role and a backend may call it; tnm_ingest may call nothing else.
revoke execute on function public.ingest_tv_signal(text, text, timestamptz, text) from public, anon, authenticated;
grant execute on function public.ingest_tv_signal(text, text, timestamptz, text) to tnm_ingest, service_role;
