-- The EA version that is deployed, recorded on its project.
--
-- Compile, deploy, run and test jobs act on the version their payload names (version_id); the
-- agent compiles and deploys that version first when its terminal holds another one. A finished
-- deploy, run or test job reports the version its terminal now holds (result.deployed_version_id)
-- and this trigger records it on the project, for EA Studio to show.
-- Idempotent: safe to apply twice.

alter table public.ea_projects
  add column if not exists deployed_version_id uuid,
  add column if not exists deployed_at timestamptz;

comment on column public.ea_projects.deployed_version_id
  is 'The version the agent last put in the terminal (deploy, or a run/test that deployed it first)';

alter table public.ea_projects drop constraint if exists ea_projects_deployed_version_fk;
alter table public.ea_projects add constraint ea_projects_deployed_version_fk
  foreign key (deployed_version_id, id) references public.ea_versions (id, project_id)
  on delete set null (deployed_version_id);
create index if not exists ea_projects_deployed_version_id_idx on public.ea_projects (deployed_version_id);

create or replace function tnm_private.on_ea_job_completed() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_version uuid;
begin
  if new.result ->> 'deployed_version_id' !~ '^[0-9a-f-]{36}$' then
    return null;
  end if;
  v_version := (new.result ->> 'deployed_version_id')::uuid;
  update public.ea_projects p
     set deployed_version_id = v_version, deployed_at = coalesce(new.completed_at, now())
   where p.id = new.ea_project_id and p.user_id = new.user_id
     and exists (select 1 from public.ea_versions v where v.id = v_version and v.project_id = p.id);
  return null;
end
$$;
revoke all on function tnm_private.on_ea_job_completed() from public, anon, authenticated, service_role;

drop trigger if exists jobs_ea_deployed on public.jobs;
create trigger jobs_ea_deployed
  after update of status on public.jobs
  for each row when (new.status = 'completed' and old.status is distinct from 'completed'
                     and new.job_type in ('deploy', 'run', 'test') and new.ea_project_id is not null)
  execute function tnm_private.on_ea_job_completed();
