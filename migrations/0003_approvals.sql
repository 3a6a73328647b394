-- Human approvals and session grants. These tables hold state, not evidence: every change to
-- them commits in the same transaction as the signed audit records that tell of it, under the
-- tenant log's transaction lock, so the log is the history and these rows are its latest page.

-- Record types for what approvals and grants add to the log.
alter table audit_log drop constraint audit_log_record_type_check;
alter table audit_log add constraint audit_log_record_type_check check (record_type in (
  'decision', 'job.event', 'approval.requested', 'approval.vote', 'approval.resolved',
  'approval.expired', 'approval.invalidated', 'approval.superseded', 'approval.cancelled',
  'approval.consumed', 'grant.created', 'grant.revoked', 'grant.used', 'output.verdict'));

create table approvals (
  approval_id uuid primary key,
  -- Creation order: the queue is served oldest first, and a job's latest approval is its highest.
  ordinal bigint generated always as identity unique,
  tenant_id text not null,
  job_id text not null,
  job_hash text not null,
  -- The normalized job exactly as it was hashed (canonical JSON).
  job text not null,
  topic text not null,
  trace_id text not null,
  status text not null check (status in (
    'PENDING', 'APPROVED', 'DENIED', 'EXPIRED', 'CANCELLED', 'INVALIDATED', 'SUPERSEDED', 'CONSUMED')),
  rule_id text,
  reason text not null,
  constraints jsonb,
  policy_snapshot text not null references policy_snapshots (snapshot_id),
  -- The key that checked the job: it may not vote on it.
  requested_by jsonb not null,
  requester_principal text not null,
  agent_principal text,
  approvals_required int not null check (approvals_required >= 1),
  approvals_received int not null default 0,
  approver_roles jsonb not null,
  dispatch_window_sec int not null,
  requested_decision_id uuid not null,
  created_at timestamptz not null,
  expires_at timestamptz not null,
  approved_at timestamptz,
  dispatch_by timestamptz,
  resolved_at timestamptz,
  -- Who or what ended it, and why (a deny's note, "approval expired", the consuming decision).
  resolution jsonb
);

-- At most one live approval per job; older ones stay as history.
create unique index approvals_live_idx on approvals (tenant_id, job_id) where status in ('PENDING', 'APPROVED');
create index approvals_job_idx on approvals (tenant_id, job_id, ordinal desc);
create index approvals_pending_idx on approvals (tenant_id, ordinal) where status = 'PENDING';

create table approval_votes (
  approval_id uuid not null references approvals (approval_id),
  principal_id text not null,
  key_id text,
  vote text not null check (vote in ('APPROVE', 'DENY')),
  note text,
  at timestamptz not null,
  -- One vote per person per approval.
  primary key (approval_id, principal_id)
);

create table grants (
  grant_id uuid primary key,
  tenant_id text not null,
  session_id text not null,
  -- { topics: [glob], risk_tags?: [tag], labels?: {k: v}, principals?: [glob] }
  match jsonb not null,
  note text not null,
  created_by jsonb not null,
  creator_principal text not null,
  -- The creator's key: a grant dies with it.
  creator_key_id text,
  creator_roles text[] not null,
  created_at timestamptz not null,
  expires_at timestamptz not null,
  max_uses int not null check (max_uses >= 1),
  uses int not null default 0 check (uses <= max_uses),
  revoked_at timestamptz,
  revoked_by jsonb
);

create index grants_session_idx on grants (tenant_id, session_id, created_at);
