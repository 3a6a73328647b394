-- Shadow mode may record where its candidate policy would have decided otherwise
-- (POLICY_SHADOW_RECORD=disagreements): a `policy.shadow` record in the job's log.
alter table audit_log drop constraint audit_log_record_type_check;
alter table audit_log add constraint audit_log_record_type_check check (record_type in (
  'decision', 'decision.voided', 'job.event', 'job.violation', 'approval.requested', 'approval.vote', 'approval.resolved',
  'approval.expired', 'approval.invalidated', 'approval.superseded', 'approval.cancelled',
  'approval.consumed', 'grant.created', 'grant.revoked', 'grant.used', 'output.verdict', 'policy.shadow'));
