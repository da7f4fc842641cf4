-- Seed 003 — Schema Migration v2, tech plan additions:
-- agent pairing key, job claim tracking and the trade job types, ea_projects.current_version_id,
-- tv_strategies, tv_signals, and claim_next_job.
--
-- Corrections to the seed, each marked FIX below:
--   * claim_next_job handed any user's unassigned job to any agent (`agent_id IS NULL OR …`), took
--     no credential, and was SECURITY DEFINER without a fixed search_path. It now takes the agent's
--     pairing key, checks it against the bcrypt hash, hands out only jobs of the agent's owner, and
--     pins search_path. Claims are leases (see the job lifecycle migration).
--   * policies use `(select auth.uid())`: once per statement instead of once per row.
--   * tv_strategies.webhook_secret had a UNIQUE constraint and a second unique index on the column.
--   * tv_signals had a user INSERT policy on a log that only the ingestion function writes.
--   * tv_signals.symbol/action were NOT NULL, but every request is logged, malformed ones too.
--   * foreign keys without indexes; foreign keys that could point at another user's rows.
--   * uuid_generate_v4() needs uuid-ossp on the search_path; gen_random_uuid() is built in.
-- Idempotent: safe to apply twice.

create schema if not exists tnm_private;
revoke all on schema tnm_private from public;

-- Addition 1: mt5_agents — agent pairing key ---------------------------------------------------

alter table public.mt5_agents
  add column if not exists pairing_key_hash   text not null default '',
  add column if not exists pairing_key_prefix text not null default '';

comment on column public.mt5_agents.pairing_key_hash
  is 'bcrypt hash of the full pairing key — never store the raw key';
comment on column public.mt5_agents.pairing_key_prefix
  is 'pk_ and the first 8 characters of the key, shown in the UI for identification only';

alter table public.mt5_agents drop constraint if exists mt5_agents_pairing_key_hash_check;
alter table public.mt5_agents add constraint mt5_agents_pairing_key_hash_check
  check (pairing_key_hash = '' or pairing_key_hash ~ '^\$2[aby]\$[0-9]{2}\$[./A-Za-z0-9]{53}$');
alter table public.mt5_agents drop constraint if exists mt5_agents_pairing_key_prefix_check;
alter table public.mt5_agents add constraint mt5_agents_pairing_key_prefix_check
  check (pairing_key_prefix ~ '^(pk_[0-9a-f]{8})?$');

grant insert (pairing_key_hash, pairing_key_prefix), update (pairing_key_hash, pairing_key_prefix, revoked_at)
  on public.mt5_agents to authenticated;

-- Addition 2: jobs — claim tracking, the trade job types, and leases -----------------------------

alter table public.jobs
  add column if not exists agent_id   uuid references public.mt5_agents (id) on delete set null,
  add column if not exists claimed_at timestamptz;

comment on column public.jobs.agent_id
  is 'The agent that claimed the job last; only it may report the result';
comment on column public.jobs.claimed_at
  is 'Time of the last claim';

create index if not exists jobs_agent_id_idx on public.jobs (agent_id);

alter table public.jobs drop constraint if exists jobs_job_type_check;
alter table public.jobs add constraint jobs_job_type_check
  check (job_type in ('compile', 'deploy', 'run', 'stop', 'test', 'trade', 'get_positions',
                      'get_account', 'get_candles', 'close_position', 'sync_account'));

-- FIX: what a claim needs to be safe and fair.
alter table public.jobs
  -- Tiebreaker: jobs inserted in one transaction share now().
  add column if not exists seq bigint generated always as identity,
  -- The agent the job is meant for (the one serving its broker connection); NULL = any agent of
  -- the owner. Kept apart from agent_id so a re-queued job returns to the right pool.
  add column if not exists target_agent_id uuid,
  add column if not exists attempts integer not null default 0,
  add column if not exists max_attempts integer not null default 3,
  -- Fencing token of the current claim: results from an older claim are refused.
  add column if not exists lease_token uuid,
  add column if not exists lease_expires_at timestamptz,
  -- Retries wait until this time.
  add column if not exists available_at timestamptz not null default now(),
  add column if not exists error_code text,
  -- Exactly-once trades: what the agent is about to send, recorded before it sends.
  add column if not exists intent jsonb,
  add column if not exists sent_at timestamptz;

alter table public.jobs drop constraint if exists jobs_max_attempts_check;
alter table public.jobs add constraint jobs_max_attempts_check check (max_attempts between 1 and 20);
alter table public.jobs drop constraint if exists jobs_target_agent_fk;
alter table public.jobs add constraint jobs_target_agent_fk foreign key (target_agent_id, user_id)
  references public.mt5_agents (id, user_id) on delete set null (target_agent_id);

create index if not exists jobs_target_agent_id_idx on public.jobs (target_agent_id);
create index if not exists jobs_claimable_idx on public.jobs (user_id, created_at, seq)
  where status = 'pending';
create index if not exists jobs_lease_idx on public.jobs (lease_expires_at)
  where status = 'running';

grant insert (target_agent_id, max_attempts) on public.jobs to authenticated;

-- Addition 3: ea_projects — the version open in the editor ------------------------------------

alter table public.ea_projects add column if not exists current_version_id uuid;

comment on column public.ea_projects.current_version_id
  is 'The version currently open in the EA Studio editor; updated on generation and manual version switch';

-- FIX: (version, project) so the pointer can only name a version of this same project.
alter table public.ea_projects drop constraint if exists ea_projects_current_version_id_fkey;
alter table public.ea_projects drop constraint if exists ea_projects_current_version_fk;
alter table public.ea_projects add constraint ea_projects_current_version_fk
  foreign key (current_version_id, id) references public.ea_versions (id, project_id)
  on delete set null (current_version_id);
create index if not exists ea_projects_current_version_id_idx on public.ea_projects (current_version_id);

-- Addition 4: tv_strategies — per-strategy webhook configuration -------------------------------

create table if not exists public.tv_strategies (
  id                   uuid        primary key default gen_random_uuid(),  -- FIX: built-in uuid
  user_id              uuid        not null references public.profiles (id) on delete cascade,
  broker_connection_id uuid        not null,
  name                 text        not null check (length(name) between 1 and 100),
  -- 192 random bits; generated here so no client can choose a guessable secret. From core
  -- functions, not pgcrypto's gen_random_bytes (see 20251201000100_no_pgcrypto).
  webhook_secret       text        not null unique
                         default encode(substring(sha256(uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()))
                                                  from 1 for 24), 'hex'),
  risk_override_pct    numeric(5,2) check (risk_override_pct > 0 and risk_override_pct <= 100),
  allowed_pairs        text[],
  is_enabled           boolean     not null default true,
  created_at           timestamptz not null default now(),
  updated_at           timestamptz not null default now(),
  unique (id, user_id),
  unique (user_id, name),
  -- FIX: the connection must be the same user's. RESTRICT: a broker connection cannot be deleted
  -- while strategies route to it (the seed's comment had this backwards).
  constraint tv_strategies_broker_connection_fk foreign key (broker_connection_id, user_id)
    references public.broker_connections (id, user_id) on delete restrict
);

comment on table  public.tv_strategies is 'One row per TradingView strategy; each has a unique webhook URL';
comment on column public.tv_strategies.webhook_secret is 'URL-embedded routing token — treat as a secret; rotate per strategy';
comment on column public.tv_strategies.risk_override_pct is 'NULL = inherit from user_settings.risk_percent';
comment on column public.tv_strategies.allowed_pairs is 'NULL = all pairs allowed; non-null = whitelist';

-- FIX: the UNIQUE constraint already is an index; the seed's second unique index doubled every write.
drop index if exists public.tv_strategies_secret_idx;
create index if not exists tv_strategies_user_id_idx on public.tv_strategies (user_id);
create index if not exists tv_strategies_broker_connection_id_idx
  on public.tv_strategies (broker_connection_id);  -- FIX: FK index

drop trigger if exists tv_strategies_updated_at on public.tv_strategies;
create trigger tv_strategies_updated_at before update on public.tv_strategies
  for each row execute function public.set_updated_at();

alter table public.tv_strategies enable row level security;

drop policy if exists tv_strategies_select on public.tv_strategies;
create policy tv_strategies_select on public.tv_strategies for select to authenticated
  using ((select auth.uid()) = user_id);
drop policy if exists tv_strategies_insert on public.tv_strategies;
create policy tv_strategies_insert on public.tv_strategies for insert to authenticated
  with check ((select auth.uid()) = user_id);
drop policy if exists tv_strategies_update on public.tv_strategies;
create policy tv_strategies_update on public.tv_strategies for update to authenticated
  using ((select auth.uid()) = user_id) with check ((select auth.uid()) = user_id);
drop policy if exists tv_strategies_delete on public.tv_strategies;
create policy tv_strategies_delete on public.tv_strategies for delete to authenticated
  using ((select auth.uid()) = user_id);

revoke all on public.tv_strategies from anon, authenticated;
grant all on public.tv_strategies to service_role;
-- The secret is not in the column lists: it is generated, and changed only by rotation.
grant select, delete,
  insert (id, user_id, broker_connection_id, name, risk_override_pct, allowed_pairs, is_enabled),
  update (broker_connection_id, name, risk_override_pct, allowed_pairs, is_enabled)
  on public.tv_strategies to authenticated;

-- Addition 5: tv_signals — the log of every webhook received -------------------------------------

create table if not exists public.tv_signals (
  id              uuid        primary key default gen_random_uuid(),
  strategy_id     uuid        not null,
  user_id         uuid        not null references public.profiles (id) on delete cascade,
  symbol          text,  -- FIX: nullable, malformed alerts are logged too
  action          text check (action in ('buy', 'sell', 'close')),  -- FIX: nullable, as above
  price           numeric(12,5),
  raw_payload     jsonb       not null,
  status          text        not null default 'pending'
                    check (status in ('pending', 'executed', 'failed', 'discarded')),
  fill_price      numeric(12,5),
  broker_order_id text,
  error_message   text,
  job_id          uuid        references public.jobs (id) on delete set null,
  received_at     timestamptz not null default now(),
  resolved_at     timestamptz,
  -- FIX: a signal always belongs to its strategy's owner.
  constraint tv_signals_strategy_fk foreign key (strategy_id, user_id)
    references public.tv_strategies (id, user_id) on delete cascade
);

comment on table  public.tv_signals is 'Append-only log of every TradingView webhook received';
comment on column public.tv_signals.raw_payload is 'Full body as received — JSON, or a JSON string when the body was not JSON; never modified';
comment on column public.tv_signals.status is 'pending → executed | failed | discarded';
comment on column public.tv_signals.job_id is 'NULL for discarded signals (no job created); set for pending/executed/failed';

create index if not exists tv_signals_strategy_id_idx on public.tv_signals (strategy_id, received_at desc);
drop index if exists public.tv_signals_user_id_idx;
-- The signal log pages newest first per user; id breaks ties between equal timestamps.
create index if not exists tv_signals_user_received_idx on public.tv_signals (user_id, received_at desc, id desc);
-- The seed's global received_at index cannot serve a per-user log under RLS.
drop index if exists public.tv_signals_received_at_idx;
create index if not exists tv_signals_job_id_idx on public.tv_signals (job_id);  -- FIX: FK index
create index if not exists tv_signals_status_idx on public.tv_signals (status)
  where status = 'pending';  -- partial index: only pending signals need fast lookup

alter table public.tv_signals enable row level security;

drop policy if exists tv_signals_select on public.tv_signals;
create policy tv_signals_select on public.tv_signals for select to authenticated
  using ((select auth.uid()) = user_id);
-- FIX: no INSERT (or UPDATE) policy. Only public.ingest_tv_signal writes the log, and the job
-- lifecycle functions resolve it; a user cannot forge or edit what TradingView sent.
drop policy if exists tv_signals_insert on public.tv_signals;

revoke all on public.tv_signals from anon, authenticated;
grant select on public.tv_signals to authenticated;
grant all on public.tv_signals to service_role;

-- Addition 6: claim_next_job -------------------------------------------------------------------

-- The pairing key is 256 random bits, so its SHA-256 is as hard to reverse as its bcrypt hash.
-- After one bcrypt check (~60 ms of database CPU) the digest is remembered, tied to the hash it
-- was checked against, so every later claim costs a digest instead: claims sit on every trade's
-- path. Re-pairing changes the hash and so invalidates the entry.
create table if not exists tnm_private.agent_key_cache (
  agent_id        uuid primary key references public.mt5_agents (id) on delete cascade,
  key_digest      bytea not null,
  verified_hash   text not null,
  verified_at     timestamptz not null default now()
);
revoke all on tnm_private.agent_key_cache from public;

-- Returns the agent's owner when the key matches and the agent is not revoked, otherwise NULL.
-- A signed-in caller may only act for agents of their own.
create or replace function tnm_private.verify_agent(p_agent_id uuid, p_key text) returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid;
  v_hash text;
  v_digest bytea;
  v_caller uuid := (select auth.uid());
begin
  if p_agent_id is null or p_key is null or length(p_key) = 0 or length(p_key) > 200 then
    return null;
  end if;
  select a.user_id, a.pairing_key_hash into v_user, v_hash
    from public.mt5_agents a
   where a.id = p_agent_id and a.revoked_at is null;
  if v_user is null or v_hash = '' or (v_caller is not null and v_caller <> v_user) then
    return null;
  end if;
  v_digest := extensions.digest(p_key, 'sha256');
  if exists (select 1 from tnm_private.agent_key_cache c
              where c.agent_id = p_agent_id and c.verified_hash = v_hash and c.key_digest = v_digest) then
    return v_user;
  end if;
  -- pgcrypto's crypt() only knows the $2a$ prefix; $2b$/$2y$ hash identically for keys this short.
  if extensions.crypt(p_key, '$2a$' || substr(v_hash, 5)) = '$2a$' || substr(v_hash, 5) then
    insert into tnm_private.agent_key_cache (agent_id, key_digest, verified_hash)
    values (p_agent_id, v_digest, v_hash)
    on conflict (agent_id) do update
      set key_digest = excluded.key_digest, verified_hash = excluded.verified_hash, verified_at = now();
    return v_user;
  end if;
  return null;
end
$$;
revoke execute on function tnm_private.verify_agent(uuid, text) from public;

create or replace function tnm_private.require_agent(p_agent_id uuid, p_key text) returns uuid
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_user uuid := tnm_private.verify_agent(p_agent_id, p_key);
begin
  if v_user is null then
    raise exception 'This machine''s pairing key was not accepted.'
      using errcode = 'TNA01', hint = 'Pair the agent again from the Agent view.';
  end if;
  return v_user;
end
$$;
revoke execute on function tnm_private.require_agent(uuid, text) from public;

-- A claim whose lease ran out belongs to an agent that died or hung: put the job back in the
-- queue, or fail it after its last attempt. p_user NULL sweeps every user.
create or replace function tnm_private.expire_leases(p_user uuid) returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  n integer;
begin
  with expired as (
    select j.id from public.jobs j
     where j.status = 'running' and j.lease_expires_at < now()
       and (p_user is null or j.user_id = p_user)
     for update skip locked
  )
  update public.jobs j
     set status = case when j.attempts >= j.max_attempts then 'failed' else 'pending' end,
         error_code = case when j.attempts >= j.max_attempts then 'lease_expired' else j.error_code end,
         error_message = case when j.attempts >= j.max_attempts
                              then format('The agent stopped responding; gave up after %s attempts.', j.attempts)
                              else j.error_message end,
         completed_at = case when j.attempts >= j.max_attempts then now() end,
         lease_token = null,
         lease_expires_at = null
    from expired
   where j.id = expired.id;
  get diagnostics n = row_count;
  return n;
end
$$;
revoke execute on function tnm_private.expire_leases(uuid) from public;

-- FIX: the seed's one-argument version let any agent take any user's job; remove it wherever
-- it was applied.
drop function if exists public.claim_next_job(uuid);

create or replace function public.claim_next_job(
  p_agent_id uuid,
  p_pairing_key text,
  p_lease_seconds integer default 60
) returns setof public.jobs
language plpgsql
security definer
set search_path = ''  -- FIX: no search_path hijacking
as $$
declare
  v_user uuid := tnm_private.require_agent(p_agent_id, p_pairing_key);
begin
  perform tnm_private.expire_leases(v_user);
  return query
  update public.jobs j
     set status = 'running',
         agent_id = p_agent_id,
         claimed_at = now(),
         started_at = coalesce(j.started_at, now()),
         attempts = j.attempts + 1,
         lease_token = gen_random_uuid(),
         lease_expires_at = now() + make_interval(secs => greatest(coalesce(p_lease_seconds, 60), 5))
   where j.id = (
     select c.id
       from public.jobs c
      where c.user_id = v_user                     -- FIX: only the agent owner's jobs
        and c.status = 'pending'
        and c.available_at <= now()
        and (c.target_agent_id is null or c.target_agent_id = p_agent_id)
      order by c.created_at, c.seq
      for update skip locked
      limit 1
   )
  returning j.*;
end
$$;

comment on function public.claim_next_job(uuid, text, integer)
  is 'Claims the oldest pending job of the agent''s owner for a lease of p_lease_seconds. The pairing key must match the agent''s bcrypt hash. Returns no row when nothing is waiting.';

-- FIX: executable by the signed-in agent and a backend, never by anon or PUBLIC.
revoke execute on function public.claim_next_job(uuid, text, integer) from public, anon;
grant execute on function public.claim_next_job(uuid, text, integer) to authenticated, service_role;
