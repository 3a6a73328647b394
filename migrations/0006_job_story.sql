-- A job's story: reports that a job ran without an ALLOW are recorded as `job.violation`; a
-- decision committed after its caller was answered 503 is followed by a `decision.voided`; and
-- auditors list violations, and decisions by the job's session, without reading the whole log.
alter table audit_log drop constraint audit_log_record_type_check;
alter table audit_log add constraint audit_log_record_type_check check (record_type in (
  'decision', 'decision.voided', 'job.event', 'job.violation', 'approval.requested', 'approval.vote', 'approval.resolved',
  'approval.expired', 'approval.invalidated', 'approval.superseded', 'approval.cancelled',
  'approval.consumed', 'grant.created', 'grant.revoked', 'grant.used', 'output.verdict'));

create index audit_log_violations_idx on audit_log (at desc, tenant_id, seq) where record_type = 'job.violation';
create index audit_log_sessions_idx on audit_log (((record::jsonb) -> 'body' -> 'job' ->> 'session_id'), at desc)
  where record_type = 'decision';
