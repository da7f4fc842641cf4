-- Order management (issue 12), part 3: breakeven, trailing stops and take-profit targets that the
-- agent manages, kept here so that a restarted agent — or one on another machine — carries on.
--
--   * position_rules: one row per position (or pending order, until it fills) whose alert asked
--     for breakeven, a trailing stop or several targets. It is written when the job that opened
--     the position completes, in the same transaction, so a completed job always has its rule.
--   * Each change the agent makes is recorded exactly once: it writes the change it is about to
--     send (`pending`, with a sequence number) before sending, and confirms it after; a change
--     found pending after a crash is looked up in the terminal and confirmed or sent again.
--   * position_rule_events: the confirmed changes, one per sequence number, for the signal log.
-- The agent's calls are SECURITY DEFINER in tnm_privileged behind SECURITY INVOKER wrappers in
-- public (20251201000000's pattern); a trader only reads.
-- Idempotent: safe to apply twice.

create schema if not exists tnm_privileged;
revoke all on schema tnm_privileged from public;
grant usage on schema tnm_privileged to authenticated, service_role;

create table if not exists public.position_rules (
  id                   uuid        primary key default gen_random_uuid(),
  user_id              uuid        not null references public.profiles (id) on delete cascade,
  job_id               uuid        not null unique,
  signal_id            uuid        references public.tv_signals (id) on delete set null,
  strategy_id          uuid,
  broker_connection_id uuid,
  agent_id             uuid        not null,
  symbol               text        not null,
  side                 text        not null check (side in ('buy', 'sell')),
  ticket               bigint      not null,
  volume               numeric,
  entry_price          numeric,
  manage               jsonb       not null check (jsonb_typeof(manage) = 'object'),
  state                text        not null default 'active' check (state in ('waiting', 'active', 'done')),
  stop                 numeric,
  trail_stop           numeric,
  be_done              boolean     not null default false,
  targets_done         smallint    not null default 0,
  changes              integer     not null default 0,
  pending              jsonb,
  last_error           text,
  ended_reason         text,
  created_at           timestamptz not null default now(),
  updated_at           timestamptz not null default now(),
  unique (id, user_id),
  constraint position_rules_job_fk foreign key (job_id, user_id)
    references public.jobs (id, user_id) on delete cascade,
  constraint position_rules_agent_fk foreign key (agent_id, user_id)
    references public.mt5_agents (id, user_id) on delete cascade,
  constraint position_rules_strategy_fk foreign key (strategy_id, user_id)
    references public.tv_strategies (id, user_id) on delete set null (strategy_id),
  constraint position_rules_broker_connection_fk foreign key (broker_connection_id, user_id)
    references public.broker_connections (id, user_id) on delete set null (broker_connection_id)
);
comment on table public.position_rules
  is 'Breakeven, trailing stop and take-profit targets the agent manages on one position (written when the opening job completes)';
comment on column public.position_rules.pending
  is 'The change being sent: {"seq", "kind", "sl", "tp", "volume", "target", "token", "price"}; confirmed or looked up after a crash';
create index if not exists position_rules_user_id_idx on public.position_rules (user_id);
create index if not exists position_rules_agent_idx on public.position_rules (agent_id) where state <> 'done';
create index if not exists position_rules_signal_id_idx on public.position_rules (signal_id);
create index if not exists position_rules_strategy_id_idx on public.position_rules (strategy_id);
create index if not exists position_rules_broker_connection_id_idx on public.position_rules (broker_connection_id);

create table if not exists public.position_rule_events (
  rule_id uuid        not null,
  seq     integer     not null,
  user_id uuid        not null references public.profiles (id) on delete cascade,
  at      timestamptz not null default now(),
  kind    text        not null check (kind in ('breakeven', 'trailing', 'target', 'take_profit', 'refused', 'ended')),
  sl      numeric,
  tp      numeric,
  volume  numeric,
  price   numeric,
  note    text        not null default '',
  primary key (rule_id, seq),
  constraint position_rule_events_rule_fk foreign key (rule_id, user_id)
    references public.position_rules (id, user_id) on delete cascade
);
comment on table public.position_rule_events
  is 'Each change a position rule made (or could not make), once per sequence number: what the signal log shows under the alert';
create index if not exists position_rule_events_user_id_idx on public.position_rule_events (user_id);

drop trigger if exists position_rules_updated_at on public.position_rules;
create trigger position_rules_updated_at before update on public.position_rules
  for each row execute function public.set_updated_at();

alter table public.position_rules enable row level security;
alter table public.position_rule_events enable row level security;
drop policy if exists position_rules_select on public.position_rules;
create policy position_rules_select on public.position_rules for select to authenticated
  using ((select auth.uid()) = user_id);
drop policy if exists position_rule_events_select on public.position_rule_events;
create policy position_rule_events_select on public.position_rule_events for select to authenticated
  using ((select auth.uid()) = user_id);
-- Written by the agent's calls below only.
revoke all on public.position_rules, public.position_rule_events from anon, authenticated;
grant select on public.position_rules, public.position_rule_events to authenticated;
grant all on public.position_rules, public.position_rule_events to service_role;

-- A rule is born with its position ----------------------------------------------------------------

create or replace function tnm_private.make_position_rule() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_ticket bigint := coalesce((new.result ->> 'position')::bigint, (new.result ->> 'order')::bigint);
begin
  if v_ticket is null or v_ticket = 0 or new.agent_id is null then
    return null;
  end if;
  insert into public.position_rules (user_id, job_id, signal_id, strategy_id, broker_connection_id, agent_id,
                                     symbol, side, ticket, volume, entry_price, manage, state)
  values (new.user_id, new.id, new.signal_id,
          (select st.id from public.tv_strategies st
            where st.id = (new.payload ->> 'strategy_id')::uuid and st.user_id = new.user_id),
          (select bc.id from public.broker_connections bc
            where bc.id = (new.payload ->> 'broker_connection_id')::uuid and bc.user_id = new.user_id),
          new.agent_id, new.payload ->> 'broker_symbol', new.payload ->> 'action', v_ticket,
          (new.result ->> 'volume')::numeric,
          case when coalesce((new.result ->> 'pending')::boolean, false) then null
               else (new.result ->> 'price')::numeric end,
          new.payload -> 'manage',
          case when coalesce((new.result ->> 'pending')::boolean, false) then 'waiting' else 'active' end)
  on conflict (job_id) do nothing;
  return null;
end
$$;
revoke execute on function tnm_private.make_position_rule() from public;

drop trigger if exists jobs_position_rule on public.jobs;
create trigger jobs_position_rule
  after update of status on public.jobs
  for each row when (new.status = 'completed' and old.status is distinct from 'completed' and new.job_type = 'trade'
                     and jsonb_typeof(new.payload -> 'manage') = 'object')
  execute function tnm_private.make_position_rule();

-- The agent's calls -----------------------------------------------------------------------------------

-- The rules this agent manages (waiting for their order to fill, or active).
create or replace function tnm_privileged.agent_position_rules(p_agent_id uuid, p_pairing_key text)
returns setof public.position_rules
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform tnm_private.require_agent(p_agent_id, p_pairing_key);
  return query select r.* from public.position_rules r
                where r.agent_id = p_agent_id and r.state <> 'done' order by r.created_at;
end
$$;

-- One step of a rule's life, by the agent that manages it:
--   activate {entry_price, volume}  the pending order filled (or the position was found): watch it
--   begin    {seq, kind, sl, tp, volume, target, token, price}  about to send change number seq
--   finish   {seq, applied, sl, tp, volume, note}  the change is in place (or, applied = false, was
--            refused: the reason is kept and the rule goes on); recorded once per seq
--   end      {reason}  the position is gone: nothing more to manage
-- Returns the rule as it is now. A step that was already taken (a retry after a crash) changes nothing.
create or replace function tnm_privileged.position_rule_step(
  p_agent_id uuid, p_pairing_key text, p_rule_id uuid, p_step text, p_data jsonb default '{}'::jsonb
) returns public.position_rules
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid := tnm_private.require_agent(p_agent_id, p_pairing_key);
  r public.position_rules;
  v_seq integer := (p_data ->> 'seq')::integer;
  v_kind text;
  v_applied boolean := coalesce((p_data ->> 'applied')::boolean, true);
begin
  select * into r from public.position_rules x
   where x.id = p_rule_id and x.user_id = v_user and x.agent_id = p_agent_id for update;
  if r.id is null then
    raise exception 'This agent does not manage that position rule.' using errcode = 'TNV01';
  end if;
  if p_step = 'activate' then
    update public.position_rules x set state = 'active',
           entry_price = coalesce((p_data ->> 'entry_price')::numeric, x.entry_price),
           volume = coalesce((p_data ->> 'volume')::numeric, x.volume)
     where x.id = r.id and x.state = 'waiting'
    returning * into r;
  elsif p_step = 'begin' then
    if r.state = 'done' then
      raise exception 'That position rule has ended.' using errcode = 'TNV01';
    end if;
    if v_seq is distinct from r.changes + 1 then
      raise exception 'Change % of this rule is not the next one (% were made).', v_seq, r.changes
        using errcode = 'TNV01';
    end if;
    if r.pending is not null and (r.pending ->> 'seq')::integer = v_seq then
      return r;  -- already begun (a retry)
    end if;
    update public.position_rules x set pending = p_data where x.id = r.id returning * into r;
  elsif p_step = 'finish' then
    if v_seq is null or v_seq <= r.changes then
      return r;  -- already recorded
    end if;
    if r.pending is null or (r.pending ->> 'seq')::integer <> v_seq then
      raise exception 'Change % of this rule was not begun.', v_seq using errcode = 'TNV01';
    end if;
    v_kind := r.pending ->> 'kind';
    insert into public.position_rule_events (rule_id, seq, user_id, kind, sl, tp, volume, price, note)
    values (r.id, v_seq, v_user, case when v_applied then v_kind else 'refused' end,
            coalesce((p_data ->> 'sl')::numeric, (r.pending ->> 'sl')::numeric),
            coalesce((p_data ->> 'tp')::numeric, (r.pending ->> 'tp')::numeric),
            coalesce((p_data ->> 'volume')::numeric, (r.pending ->> 'volume')::numeric),
            (r.pending ->> 'price')::numeric, left(coalesce(p_data ->> 'note', ''), 500))
    on conflict (rule_id, seq) do nothing;
    update public.position_rules x set
      changes = v_seq, pending = null,
      stop = case when v_applied and (x.pending ->> 'sl') is not null then (x.pending ->> 'sl')::numeric else x.stop end,
      trail_stop = case when v_applied and v_kind = 'trailing' then (x.pending ->> 'sl')::numeric else x.trail_stop end,
      be_done = x.be_done or (v_applied and v_kind = 'breakeven')
                or coalesce((x.pending ->> 'breakeven')::boolean, false) and v_applied,
      -- A target is passed once tried: a refused partial close is not retried on every tick.
      targets_done = case when v_kind = 'target' then greatest(x.targets_done, (x.pending ->> 'target')::smallint)
                          else x.targets_done end,
      last_error = case when v_applied then null else left(p_data ->> 'note', 500) end
     where x.id = r.id
    returning * into r;
  elsif p_step = 'end' then
    if r.state <> 'done' then
      insert into public.position_rule_events (rule_id, seq, user_id, kind, note)
      values (r.id, r.changes + 1, v_user, 'ended', left(coalesce(p_data ->> 'reason', ''), 500))
      on conflict (rule_id, seq) do nothing;
      update public.position_rules x set state = 'done', pending = null, changes = x.changes + 1,
             ended_reason = left(coalesce(p_data ->> 'reason', ''), 500)
       where x.id = r.id
      returning * into r;
    end if;
  else
    raise exception 'Unknown position rule step %.', left(p_step, 40) using errcode = 'TNV01';
  end if;
  return r;
end
$$;

revoke execute on function tnm_privileged.agent_position_rules(uuid, text) from public, anon;
grant execute on function tnm_privileged.agent_position_rules(uuid, text) to authenticated, service_role;
revoke execute on function tnm_privileged.position_rule_step(uuid, text, uuid, text, jsonb) from public, anon;
grant execute on function tnm_privileged.position_rule_step(uuid, text, uuid, text, jsonb) to authenticated, service_role;

create or replace function public.agent_position_rules(p_agent_id uuid, p_pairing_key text)
returns setof public.position_rules
language sql
set search_path = ''
as $$ select * from tnm_privileged.agent_position_rules(p_agent_id, p_pairing_key) $$;
revoke execute on function public.agent_position_rules(uuid, text) from public, anon;
grant execute on function public.agent_position_rules(uuid, text) to authenticated, service_role;

create or replace function public.position_rule_step(
  p_agent_id uuid, p_pairing_key text, p_rule_id uuid, p_step text, p_data jsonb default '{}'::jsonb
) returns public.position_rules
language sql
set search_path = ''
as $$ select tnm_privileged.position_rule_step(p_agent_id, p_pairing_key, p_rule_id, p_step, p_data) $$;
revoke execute on function public.position_rule_step(uuid, text, uuid, text, jsonb) from public, anon;
grant execute on function public.position_rule_step(uuid, text, uuid, text, jsonb) to authenticated, service_role;
