-- The job types' check constraint written so that every migration can read it.
--
-- Migrations that add a job type (20251211000200 here, 20251215000000 order management) read the
-- types allowed now from the constraint's text, matching quoted names ('trade'), and write the new
-- list back as one array literal ('{compile,…,trade}'), which that match does not read: a second
-- such migration would keep its own type only (and fail on a database that has jobs of the others).
-- This writes the list back as separate names, which both read.
-- Run twice, around 20251211000200: before it for a database where order management already ran
-- (20251211000150), after it for a new one, before order management (20251211000600).
-- Idempotent: safe to apply twice.

do $$
declare
  v_def text;
  v_types text[];
begin
  select pg_get_constraintdef(c.oid) into v_def from pg_constraint c
   where c.conrelid = 'public.jobs'::regclass and c.conname = 'jobs_job_type_check';
  if v_def is null then
    return;
  end if;
  -- Both ways the list can be written: ARRAY['compile'::text, …] and '{compile,…}'::text[].
  select array_agg(distinct t order by t) into v_types from (
    select m[1] as t from regexp_matches(v_def, '''([a-z_]+)''', 'g') as m
    union
    select unnest(('{' || m[1] || '}')::text[]) from regexp_matches(v_def, '''\{([a-z_,]*)\}''', 'g') as m
  ) as found;
  alter table public.jobs drop constraint jobs_job_type_check;
  execute format('alter table public.jobs add constraint jobs_job_type_check check (job_type in (%s))',
                 (select string_agg(quote_literal(t), ', ' order by t) from unnest(v_types) as t));
end
$$;
