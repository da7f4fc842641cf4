-- The lease sweep at the head of every claim plans its statement once, not on every claim.
--
-- tnm_private.expire_leases runs in every claim (claim_for). Its one statement is written for
-- every user or one (`p_user is null or j.user_id = p_user`); under the default plan_cache_mode
-- its generic plan can be estimated dearer than a plan made with the call's user, and then it is
-- planned again on every call: 70 µs against 9 µs with the kept plan, a sixth of the server's
-- time in bench.claims at 8 agents (perf, 2026-12-07). Which plan wins depends on the table's
-- state, which is why one agent on a small queue (20251218000000) did not show it. The generic
-- plan uses the running jobs' lease index for one user or all; a plan changes nothing a call
-- returns or writes.
-- Idempotent: safe to apply twice.

alter function tnm_private.expire_leases(uuid) set plan_cache_mode = force_generic_plan;
