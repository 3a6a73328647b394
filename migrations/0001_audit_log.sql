-- Every policy snapshot that ever decided something, with the exact source text behind it.
create table policy_snapshots (
  snapshot_id text primary key,
  version text not null,
  canonical text not null,
  sources jsonb not null,
  created_at timestamptz not null default now()
);

-- One append-only, hash-chained log per tenant. `record` is the exact canonical JSON that was
-- signed and hashed; every other column is a copy of one of its fields, for querying only.
create table audit_log (
  tenant_id text not null,
  seq bigint not null check (seq >= 1),
  record_type text not null check (record_type in (
    'decision', 'job.event', 'approval.requested', 'approval.vote', 'approval.resolved',
    'approval.expired', 'approval.invalidated', 'approval.superseded', 'approval.cancelled',
    'grant.used', 'output.verdict')),
  at timestamptz not null,
  trace_id text not null,
  job_id text,
  decision_id uuid unique,
  topic text,
  decision text,
  rule_id text,
  job_hash text,
  status text,
  policy_snapshot text references policy_snapshots (snapshot_id),
  record text not null,
  key_id text not null,
  signature text not null,
  prev_hash text not null,
  hash text not null,
  recorded_at timestamptz not null default now(),
  primary key (tenant_id, seq)
);

create index audit_log_trace_idx on audit_log (trace_id, at, tenant_id, seq);
create index audit_log_job_idx on audit_log (job_id, tenant_id, seq);
create index audit_log_decisions_idx on audit_log (at desc, tenant_id, seq) where record_type = 'decision';

-- The head of each log: the one row a writer locks to append, so sequence numbers are gapless
-- and the chain never forks. Not evidence: verification recomputes heads from the log.
create table audit_heads (
  tenant_id text primary key,
  seq bigint not null,
  hash text not null
);

-- Signed statements "log T had N records and its head hash was H" (Ed25519).
create table audit_checkpoints (
  tenant_id text not null,
  seq bigint not null,
  head_hash text not null,
  at timestamptz not null,
  key_id text not null,
  statement text not null,
  signature text not null,
  primary key (tenant_id, seq)
);

-- Public halves of the checkpoint keys and the ids of the HMAC keys, with their validity.
create table audit_keys (
  key_id text primary key,
  algorithm text not null check (algorithm in ('ed25519', 'hmac-sha256')),
  public_key text,
  valid_from timestamptz not null default now()
);

create function arbiter_refuse_change() returns trigger
language plpgsql as $$
begin
  raise exception 'arbiter: % on % is refused: the table is append-only', tg_op, tg_table_name
    using errcode = 'insufficient_privilege';
end
$$;

create trigger audit_log_no_update_delete before update or delete on audit_log
  for each row execute function arbiter_refuse_change();
create trigger audit_log_no_truncate before truncate on audit_log
  for each statement execute function arbiter_refuse_change();
create trigger audit_checkpoints_no_update_delete before update or delete on audit_checkpoints
  for each row execute function arbiter_refuse_change();
create trigger audit_checkpoints_no_truncate before truncate on audit_checkpoints
  for each statement execute function arbiter_refuse_change();
create trigger policy_snapshots_no_update_delete before update or delete on policy_snapshots
  for each row execute function arbiter_refuse_change();
create trigger policy_snapshots_no_truncate before truncate on policy_snapshots
  for each statement execute function arbiter_refuse_change();

-- Fire even under session_replication_role = replica, which would otherwise skip them.
alter table audit_log enable always trigger audit_log_no_update_delete;
alter table audit_log enable always trigger audit_log_no_truncate;
alter table audit_checkpoints enable always trigger audit_checkpoints_no_update_delete;
alter table audit_checkpoints enable always trigger audit_checkpoints_no_truncate;
alter table policy_snapshots enable always trigger policy_snapshots_no_update_delete;
alter table policy_snapshots enable always trigger policy_snapshots_no_truncate;
