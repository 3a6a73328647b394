-- Every policy snapshot that ever decided something, with the exact source text behind it.
create table policy_snapshots (
  snapshot_id text primary key,
  version text not null,
  canonical text not null,
  sources jsonb not null,
  created_at timestamptz not null default now()
);

-- One row per decision Arbiter answered. `record` is the exact canonical JSON that was signed;
-- the other columns are copies of its fields, for querying only.
create table decisions (
  seq bigint generated always as identity primary key,
  decision_id uuid not null unique,
  trace_id text not null,
  job_id text not null,
  tenant_id text not null,
  topic text not null,
  decision text not null,
  rule_id text,
  job_hash text not null,
  policy_snapshot text not null references policy_snapshots (snapshot_id),
  checked_at timestamptz not null,
  record text not null,
  key_id text not null,
  signature text not null,
  recorded_at timestamptz not null default now()
);

create index decisions_trace_idx on decisions (trace_id, seq);
create index decisions_job_idx on decisions (job_id, seq);

create function arbiter_refuse_change() returns trigger
language plpgsql as $$
begin
  raise exception 'arbiter: % on % is refused: the table is append-only', tg_op, tg_table_name
    using errcode = 'insufficient_privilege';
end
$$;

create trigger decisions_no_update_delete before update or delete on decisions
  for each row execute function arbiter_refuse_change();
create trigger decisions_no_truncate before truncate on decisions
  for each statement execute function arbiter_refuse_change();
create trigger policy_snapshots_no_update_delete before update or delete on policy_snapshots
  for each row execute function arbiter_refuse_change();
create trigger policy_snapshots_no_truncate before truncate on policy_snapshots
  for each statement execute function arbiter_refuse_change();

-- Fire even under session_replication_role = replica, which would otherwise skip them.
alter table decisions enable always trigger decisions_no_update_delete;
alter table decisions enable always trigger decisions_no_truncate;
alter table policy_snapshots enable always trigger policy_snapshots_no_update_delete;
alter table policy_snapshots enable always trigger policy_snapshots_no_truncate;
