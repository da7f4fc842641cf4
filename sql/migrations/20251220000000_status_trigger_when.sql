-- The job status trigger fires only for the changes its function acts on.
--
-- tnm_private.on_job_status (20251215000000) resolves a trade's signal when the trade finishes,
-- puts a signal back to waiting when a failed trade is taken up again, and follows a compile job
-- on its EA version. Its trigger fired on every status change, so every claim (waiting to running)
-- of every job called it to do nothing: a function call in the claim's transaction, on the path
-- from an alert to its order. The condition below is the function's own three cases.
-- Idempotent: safe to apply twice.

drop trigger if exists jobs_status_changed on public.jobs;
create trigger jobs_status_changed
  after update of status on public.jobs
  for each row when (
    old.status is distinct from new.status
    and (new.job_type = 'compile'
         or (new.job_type in ('trade', 'modify_position')
             and (new.status in ('completed', 'failed', 'cancelled') or old.status = 'failed'))))
  execute function tnm_private.on_job_status();
