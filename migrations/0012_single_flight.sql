-- Single-flight approvals: a rule's `approval: {single_flight: session}` puts a session's
-- approvals in line, one in front of reviewers at a time. The ones behind are QUEUED: live (a
-- job has at most one live approval), unseen by reviewers, and without a clock until their turn.

alter table audit_log drop constraint audit_log_record_type_check;
alter table audit_log add constraint audit_log_record_type_check check (record_type in (
  'decision', 'decision.voided', 'job.event', 'job.violation', 'approval.requested', 'approval.vote', 'approval.resolved',
  'approval.expired', 'approval.invalidated', 'approval.superseded', 'approval.cancelled',
  'approval.consumed', 'approval.queued', 'grant.created', 'grant.revoked', 'grant.used', 'output.verdict', 'policy.shadow'));

alter table approvals drop constraint approvals_status_check;
alter table approvals add constraint approvals_status_check check (status in (
  'QUEUED', 'PENDING', 'APPROVED', 'DENIED', 'EXPIRED', 'CANCELLED', 'INVALIDATED', 'SUPERSEDED', 'CONSUMED'));

-- The job's session (null without one), and whether its approval waits its turn in that session.
alter table approvals add column session_id text;
alter table approvals add column single_flight boolean not null default false;
-- How long it may wait for reviewers once in front of them: its clock starts at its turn.
alter table approvals add column ttl_sec int;

drop index approvals_live_idx;
create unique index approvals_live_idx on approvals (tenant_id, job_id) where status in ('QUEUED', 'PENDING', 'APPROVED');
-- The line of a session: the one in front (PENDING) and those behind it (QUEUED), oldest first.
create index approvals_line_idx on approvals (tenant_id, session_id, ordinal) where single_flight and status in ('QUEUED', 'PENDING');
