-- The agent's health, one rule everywhere: an agent is down when its last heartbeat is older than
-- two of its own heartbeat periods.
--
-- The agent says how often it beats (agent_heartbeat_every's p_every_seconds); the heartbeat stores
-- it and the rule's threshold, mt5_agents.stale_after_s = 2 × the period. Every reader applies that
-- one number: the app's status bar, Agent page and tray (tnm_desktop/domain/health.py reads the column), and
-- tnm_private.sweep_stale_agents here, which marks a silent agent offline and records one
-- "agent down" event. The sweep runs whenever something touches the database on the user's
-- behalf: every heartbeat of any of the user's agents, and the app while it is open. A process
-- cannot notice its own death, so with no app open and a single agent, its death is recorded
-- when one of those next runs (or when a scheduler calls public.sweep_all_stale_agents, e.g.
-- pg_cron on Supabase). The first heartbeat after an outage (or a stop) records "agent back".
-- Idempotent: safe to apply twice.

create schema if not exists tnm_privileged;
revoke all on schema tnm_privileged from public;
grant usage on schema tnm_privileged to authenticated, service_role;

alter table public.mt5_agents
  add column if not exists heartbeat_every_s integer not null default 15,
  add column if not exists stale_after_s integer not null default 30,
  -- Set while the agent is down (crashed, stopped, silent): the start of the outage.
  add column if not exists down_since timestamptz;

alter table public.mt5_agents drop constraint if exists mt5_agents_heartbeat_every_s_check;
alter table public.mt5_agents add constraint mt5_agents_heartbeat_every_s_check
  check (heartbeat_every_s between 1 and 3600 and stale_after_s between 2 and 7200);

comment on column public.mt5_agents.stale_after_s
  is 'The agent is down when its last heartbeat is older than this: two of its heartbeat periods';
comment on column public.mt5_agents.down_since
  is 'When the current outage began (a stop, or the last heartbeat of an agent that went silent); NULL while up';

-- Finding the silent agents cheaply: only agents that claim to be up are looked at.
create index if not exists mt5_agents_up_idx on public.mt5_agents (user_id, last_heartbeat_at)
  where status in ('starting', 'running', 'paused', 'degraded') and down_since is null;

-- Marks the user's silent agents offline (p_user NULL: every user's) and records "agent down" once
-- per outage; returns the agents marked.
create or replace function tnm_private.sweep_stale_agents(p_user uuid) returns setof uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  a record;
begin
  for a in
    -- An agent whose row is locked is beating (or being swept) right now: skip it, and no two
    -- agents sweeping each other can deadlock.
    with silent as (
      select s.id from public.mt5_agents s
       where (p_user is null or s.user_id = p_user)
         and s.status in ('starting', 'running', 'paused', 'degraded') and s.down_since is null
         and s.revoked_at is null
         and (s.last_heartbeat_at is null
              or s.last_heartbeat_at < now() - make_interval(secs => s.stale_after_s))
       for update skip locked
    )
    update public.mt5_agents g
       set status = 'offline', down_since = coalesce(g.last_heartbeat_at, now())
      from silent
     where g.id = silent.id
    returning g.id, g.user_id, g.name, g.last_heartbeat_at, g.down_since, g.stale_after_s
  loop
    perform tnm_private.record_notification(
      a.user_id, 'agent_down:' || a.id || ':' || floor(extract(epoch from a.down_since))::bigint, 'agent_down',
      'Agent offline',
      format('%s has sent no heartbeat since %s UTC (for more than %s s): it may have crashed, lost its '
             'connection, or its computer may be off. Nothing is traded until it is back.', a.name,
             to_char(a.down_since at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS'), a.stale_after_s));
    return next a.id;
  end loop;
end
$$;
revoke all on function tnm_private.sweep_stale_agents(uuid) from public, anon, authenticated, service_role;

-- The heartbeat: state, period, and the outage bookkeeping (stop → down, first beat after → back).
-- A new name rather than a sixth argument with a default on agent_heartbeat: both signatures
-- would match a five-argument call, and re-applying the earlier migrations (which recreate the
-- five-argument one) would fail on the ambiguity.
drop function if exists public.agent_heartbeat(uuid, text, text, text, text, integer);  -- an earlier draft
drop function if exists tnm_privileged.agent_heartbeat(uuid, text, text, text, text, integer);

create or replace function tnm_privileged.agent_heartbeat_every(
  p_agent_id uuid, p_pairing_key text, p_status text, p_every_seconds integer,
  p_last_error text default null, p_agent_version text default null
) returns timestamptz
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid := tnm_private.require_agent(p_agent_id, p_pairing_key);
  v_every integer := least(greatest(coalesce(p_every_seconds, 15), 1), 3600);
  v_before public.mt5_agents;
  v_down boolean := p_status in ('stopped', 'offline');
begin
  select * into v_before from public.mt5_agents where id = p_agent_id for update;
  update public.mt5_agents
     set status = p_status, last_heartbeat_at = now(), last_error = left(p_last_error, 2000),
         agent_version = coalesce(p_agent_version, agent_version),
         heartbeat_every_s = v_every, stale_after_s = 2 * v_every,
         down_since = case when v_down then coalesce(down_since, now()) end
   where id = p_agent_id;
  if v_down and v_before.down_since is null then
    perform tnm_private.record_notification(
      v_user, 'agent_down:' || p_agent_id || ':' || floor(extract(epoch from now()))::bigint, 'agent_down',
      'Agent stopped',
      v_before.name || ' stopped' || coalesce(': ' || rtrim(nullif(p_last_error, ''), '.') || '.', '.')
        || ' Nothing is traded until it is started again.');
  elsif not v_down and v_before.down_since is not null then
    perform tnm_private.record_notification(
      v_user, 'agent_back:' || p_agent_id || ':' || floor(extract(epoch from v_before.down_since))::bigint,
      'agent_back', 'Agent back',
      format('%s is running again (it was down for %s).', v_before.name,
             justify_interval(date_trunc('second', now() - v_before.down_since))));
  end if;
  -- The user's other agents: this beat is the moment to notice one that went silent.
  perform tnm_private.sweep_stale_agents(v_user);
  return now();
end
$$;
revoke all on function tnm_privileged.agent_heartbeat_every(uuid, text, text, integer, text, text) from public, anon;
grant execute on function tnm_privileged.agent_heartbeat_every(uuid, text, text, integer, text, text)
  to authenticated, service_role;

create or replace function public.agent_heartbeat_every(
  p_agent_id uuid, p_pairing_key text, p_status text, p_every_seconds integer,
  p_last_error text default null, p_agent_version text default null
) returns timestamptz
language sql
set search_path = ''
as $$
  select tnm_privileged.agent_heartbeat_every(p_agent_id, p_pairing_key, p_status, p_every_seconds, p_last_error,
                                              p_agent_version)
$$;

-- The five-argument heartbeat (agents of an earlier version) is the same beat at the default
-- period: one implementation. Its public wrapper (20251201000000) stays as it is.
create or replace function tnm_privileged.agent_heartbeat(
  p_agent_id uuid, p_pairing_key text, p_status text, p_last_error text default null,
  p_agent_version text default null
) returns timestamptz
language sql
security definer
set search_path = ''
as $$
  select tnm_privileged.agent_heartbeat_every(p_agent_id, p_pairing_key, p_status, null, p_last_error,
                                              p_agent_version)
$$;
revoke all on function tnm_privileged.agent_heartbeat(uuid, text, text, text, text) from public, anon;
grant execute on function tnm_privileged.agent_heartbeat(uuid, text, text, text, text) to authenticated, service_role;

-- The app's sweep, for the signed-in user's agents.
create or replace function tnm_privileged.sweep_stale_agents() returns setof uuid
language sql
security definer
set search_path = ''
as $$ select tnm_private.sweep_stale_agents((select auth.uid())) where (select auth.uid()) is not null $$;
revoke all on function tnm_privileged.sweep_stale_agents() from public, anon;
grant execute on function tnm_privileged.sweep_stale_agents() to authenticated, service_role;

create or replace function public.sweep_stale_agents() returns setof uuid
language sql
set search_path = ''
as $$ select * from tnm_privileged.sweep_stale_agents() $$;

-- For a backend's scheduler (pg_cron): every user's agents.
create or replace function tnm_privileged.sweep_all_stale_agents() returns integer
language sql
security definer
set search_path = ''
as $$ select count(*)::integer from tnm_private.sweep_stale_agents(null) $$;
revoke all on function tnm_privileged.sweep_all_stale_agents() from public, anon, authenticated;
grant execute on function tnm_privileged.sweep_all_stale_agents() to service_role;

create or replace function public.sweep_all_stale_agents() returns integer
language sql
set search_path = ''
as $$ select tnm_privileged.sweep_all_stale_agents() $$;

revoke execute on function public.agent_heartbeat_every(uuid, text, text, integer, text, text) from public, anon;
grant execute on function public.agent_heartbeat_every(uuid, text, text, integer, text, text)
  to authenticated, service_role;
revoke execute on function public.sweep_stale_agents() from public, anon;
grant execute on function public.sweep_stale_agents() to authenticated, service_role;
revoke execute on function public.sweep_all_stale_agents() from public, anon, authenticated;
grant execute on function public.sweep_all_stale_agents() to service_role;
