-- The audit log, partitioned by time, so that a log kept for years can leave the database a
-- month at a time as a verified archive (`arbiter audit archive`, src/ledger/archive.ts).
--
-- The partition key is `filed_at`: the record's signed time `at`, except that it never runs
-- backwards within a log (a group's records all take the latest `at` of the group, or the log's
-- previous `filed_at` if that is later: two instances' clocks disagree by milliseconds). So a
-- log's records in the partitions before a date are a prefix of that log: whole partitions can
-- leave without cutting a chain in the middle, and none of them holds a record signed after the
-- date. `filed_at` is bookkeeping, like `recorded_at`: it is not signed and not exported.
--
-- A log that already has records is not copied: the table becomes the first partition as it is
-- (`audit_log_legacy`, everything before the month after its newest record), so upgrading costs
-- a scan and an index build, and no record is rewritten or re-signed.

alter table audit_log rename to audit_log_legacy;
alter index audit_log_pkey rename to audit_log_legacy_pkey;
alter index audit_log_trace_idx rename to audit_log_legacy_trace_idx;
alter index audit_log_job_idx rename to audit_log_legacy_job_idx;
alter index audit_log_decisions_idx rename to audit_log_legacy_decisions_idx;
alter index audit_log_violations_idx rename to audit_log_legacy_violations_idx;
alter index audit_log_sessions_idx rename to audit_log_legacy_sessions_idx;
alter index audit_log_decision_id_key rename to audit_log_legacy_decision_id_key;
-- The parent's row triggers are cloned onto every partition, this one included once attached.
drop trigger audit_log_no_update_delete on audit_log_legacy;
drop trigger audit_log_notify on audit_log_legacy;

create table audit_log (
  tenant_id text not null,
  -- Named as the old table's are: a partition must have its parent's constraints, by name.
  seq bigint not null constraint audit_log_seq_check check (seq >= 1),
  record_type text not null constraint audit_log_record_type_check check (record_type in (
    'decision', 'decision.voided', 'job.event', 'job.violation', 'approval.requested', 'approval.vote', 'approval.resolved',
    'approval.expired', 'approval.invalidated', 'approval.superseded', 'approval.cancelled',
    'approval.consumed', 'approval.queued', 'grant.created', 'grant.revoked', 'grant.used', 'output.verdict', 'policy.shadow')),
  at timestamptz not null,
  trace_id text not null,
  job_id text,
  decision_id uuid,
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
  -- Arbiter always sets it (arbiter_file_group); the default places rows written around it.
  filed_at timestamptz not null default now(),
  -- A partitioned table's keys hold its partition key. A log's seqs stay gapless and unique
  -- all the same: only the writer holding the log's head row appends, from that head.
  primary key (tenant_id, seq, filed_at)
) partition by range (filed_at);

create index audit_log_trace_idx on audit_log (trace_id, at, tenant_id, seq);
create index audit_log_job_idx on audit_log (job_id, tenant_id, seq);
create index audit_log_decisions_idx on audit_log (at desc, tenant_id, seq) where record_type = 'decision';
create index audit_log_violations_idx on audit_log (at desc, tenant_id, seq) where record_type = 'job.violation';
create index audit_log_sessions_idx on audit_log (((record::jsonb) -> 'body' -> 'job' ->> 'session_id'), at desc)
  where record_type = 'decision';
-- Decision ids are random UUIDs; unique per partition no more, they are found by this index.
create index audit_log_decision_idx on audit_log (decision_id);

create trigger audit_log_no_update_delete before update or delete on audit_log
  for each row execute function arbiter_refuse_change();
create trigger audit_log_no_truncate before truncate on audit_log
  for each statement execute function arbiter_refuse_change();
alter table audit_log enable always trigger audit_log_no_update_delete;
alter table audit_log enable always trigger audit_log_no_truncate;
create trigger audit_log_notify after insert on audit_log
  for each row when (new.record_type in ('approval.requested', 'approval.resolved', 'approval.expired', 'job.violation', 'grant.created'))
  execute function arbiter_notification_enqueue();

-- The partitions of audit_log and their ranges, as arbiter_audit_partition made them: a
-- partition found here exists, so the append path looks a range up without the catalogs.
create table audit_partitions (
  name text primary key,
  lo timestamptz not null,
  hi timestamptz not null,
  check (lo < hi)
);

-- Where the log's last record was filed, and the end of the partition that holds it: an append
-- that stays before that end needs no partition looked up.
alter table audit_heads add column filed_at timestamptz not null default '-infinity';
alter table audit_heads add column filed_until timestamptz;

-- Makes sure a partition holds time `p_at` and returns the end of its range. A new one spans the
-- `p_unit` ('month' or 'day', UTC) around `p_at`, cut short where it would overlap a partition
-- already there. Indexes and row triggers come from the parent; TRUNCATE triggers are not
-- inherited, so each partition gets its own.
create function arbiter_audit_partition(p_at timestamptz, p_unit text) returns timestamptz
language plpgsql volatile as $$
declare
  v_lo timestamptz;
  v_hi timestamptz;
  v_start timestamp;
  v_name text;
begin
  if p_unit is null or p_unit not in ('month', 'day') then
    raise exception 'arbiter: a partition spans a month or a day, not %', coalesce(p_unit, 'null');
  end if;
  select hi into v_hi from audit_partitions where lo <= p_at and p_at < hi;
  if found then
    return v_hi;
  end if;
  perform pg_advisory_xact_lock(hashtext('arbiter.partitions.' || current_schema()));
  select hi into v_hi from audit_partitions where lo <= p_at and p_at < hi;
  if found then
    return v_hi;
  end if;
  v_start := date_trunc(p_unit, p_at at time zone 'UTC');
  v_lo := greatest(v_start at time zone 'UTC', coalesce((select max(hi) from audit_partitions where hi <= p_at), '-infinity'));
  v_hi := least((v_start + ('1 ' || p_unit)::interval) at time zone 'UTC', coalesce((select min(lo) from audit_partitions where lo > p_at), 'infinity'));
  v_name := 'audit_log_' || to_char(v_lo at time zone 'UTC', 'YYYYMMDD') ||
    case when v_lo = date_trunc('day', v_lo at time zone 'UTC') at time zone 'UTC' then '' else to_char(v_lo at time zone 'UTC', '"_"HH24MISS') end;
  -- Made apart and then attached: ATTACH takes SHARE UPDATE EXCLUSIVE on the log, which appends
  -- and reads go on beside, where CREATE TABLE ... PARTITION OF would wait for every transaction
  -- that has appended and hold every later one back until it commits.
  execute format('create table %I (like audit_log including defaults including constraints)', v_name);
  -- Bounds as UTC text with their offset: a timestamptz's own text follows the session's
  -- DateStyle and TimeZone, and an abbreviation can read back as another zone.
  execute format('alter table audit_log attach partition %I for values from (%L) to (%L)', v_name,
    to_char(v_lo at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS') || '+00',
    to_char(v_hi at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS') || '+00');
  execute format('create trigger audit_log_no_truncate before truncate on %I for each statement execute function arbiter_refuse_change()', v_name);
  execute format('alter table %I enable always trigger audit_log_no_truncate', v_name);
  insert into audit_partitions (name, lo, hi) values (v_name, v_lo, v_hi);
  return v_hi;
end
$$;

-- The existing log becomes the first partition, unchanged; an empty one simply goes.
do $$
declare
  v_until timestamptz;
begin
  if exists (select 1 from audit_log_legacy) then
    alter table audit_log_legacy add column filed_at timestamptz not null default '-infinity';
    -- Its key becomes the parent's (tenant_id, seq, filed_at), built when it is attached.
    execute format('alter table audit_log_legacy drop constraint %I',
      (select conname from pg_constraint where conrelid = 'audit_log_legacy'::regclass and contype = 'p'));
    select (greatest(date_trunc('month', now() at time zone 'UTC'), date_trunc('month', max(at) at time zone 'UTC')) + interval '1 month') at time zone 'UTC'
      into v_until from audit_log_legacy;
    execute format('alter table audit_log attach partition audit_log_legacy for values from (minvalue) to (%L)',
      to_char(v_until at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS') || '+00');
    insert into audit_partitions (name, lo, hi) values ('audit_log_legacy', '-infinity', v_until);
  else
    drop table audit_log_legacy;
  end if;
end
$$;

-- Appends a group sealed on (p_from_seq, p_from_hash) and moves the log's head to (p_to_seq,
-- p_to_hash), filing the group's records in the partition of their `filed_at`, made if it is
-- missing (Arbiter makes partitions ahead; this is the backstop, so that no write is ever
-- refused for want of one). Returns the records appended: 0 when the head was elsewhere. The
-- head row is chosen by tenant alone and the guard judged once it is locked (migrations/0005).
create function arbiter_file_group(
  p_tenant_id text, p_to_seq bigint, p_to_hash text, p_from_seq bigint, p_from_hash text,
  a_tenant_id text[], a_seq bigint[], a_record_type text[], a_at timestamptz[], a_trace_id text[],
  a_job_id text[], a_decision_id uuid[], a_topic text[], a_decision text[], a_rule_id text[],
  a_job_hash text[], a_status text[], a_policy_snapshot text[], a_record text[], a_key_id text[],
  a_signature text[], a_prev_hash text[], a_hash text[]
) returns bigint
language plpgsql volatile as $$
declare
  moved boolean;
  v_filed timestamptz;
  v_until timestamptz;
  appended bigint;
begin
  -- SET expressions read the row as it was: the guard is the same in each.
  update audit_heads
     set seq = case when seq = p_from_seq and hash = p_from_hash then p_to_seq else seq end,
         hash = case when seq = p_from_seq and hash = p_from_hash then p_to_hash else hash end,
         filed_at = case when seq = p_from_seq and hash = p_from_hash
                         then greatest(filed_at, (select max(x) from unnest(a_at) x)) else filed_at end
   where tenant_id = p_tenant_id
  returning seq = p_to_seq and hash = p_to_hash, filed_at, filed_until into moved, v_filed, v_until;
  if moved is not true then
    return 0;
  end if;
  if v_until is null or v_filed >= v_until then
    v_until := arbiter_audit_partition(v_filed, 'day');
    update audit_heads set filed_until = v_until where tenant_id = p_tenant_id;
  end if;
  insert into audit_log (tenant_id, seq, record_type, at, trace_id, job_id, decision_id, topic,
                         decision, rule_id, job_hash, status, policy_snapshot, record, key_id,
                         signature, prev_hash, hash, filed_at)
  select u.*, v_filed from unnest(a_tenant_id, a_seq, a_record_type, a_at, a_trace_id, a_job_id, a_decision_id,
                       a_topic, a_decision, a_rule_id, a_job_hash, a_status, a_policy_snapshot,
                       a_record, a_key_id, a_signature, a_prev_hash, a_hash) u;
  get diagnostics appended = row_count;
  return appended;
end
$$;

-- As in migrations/0005, filing through arbiter_file_group.
create or replace function arbiter_append(
  p_tenant_id text, p_to_seq bigint, p_to_hash text, p_from_seq bigint, p_from_hash text,
  budget_ms integer, wait_ms integer,
  a_tenant_id text[], a_seq bigint[], a_record_type text[], a_at timestamptz[], a_trace_id text[],
  a_job_id text[], a_decision_id uuid[], a_topic text[], a_decision text[], a_rule_id text[],
  a_job_hash text[], a_status text[], a_policy_snapshot text[], a_record text[], a_key_id text[],
  a_signature text[], a_prev_hash text[], a_hash text[]
) returns bigint
language plpgsql volatile as $$
declare
  appended bigint;
begin
  perform set_config('synchronous_commit', 'on', true);
  perform set_config('lock_timeout', greatest(wait_ms, 1)::text, true);
  appended := arbiter_file_group(p_tenant_id, p_to_seq, p_to_hash, p_from_seq, p_from_hash,
    a_tenant_id, a_seq, a_record_type, a_at, a_trace_id, a_job_id, a_decision_id, a_topic, a_decision,
    a_rule_id, a_job_hash, a_status, a_policy_snapshot, a_record, a_key_id, a_signature, a_prev_hash, a_hash);
  if appended = 0 then
    return 0;
  end if;
  if clock_timestamp() >= statement_timestamp() + budget_ms * interval '1 millisecond' then
    raise exception 'arbiter: the group ran past its budget of % ms before it could commit', budget_ms
      using errcode = 'AB001';
  end if;
  return appended;
end
$$;

-- What `arbiter audit archive` took out of each log: the records up to `seq` (whose hash is
-- `head_hash`, and where a checkpoint stands) are in an archive file, no longer here. Signed
-- with the checkpoint key, so that nobody without it can cut a log's start and call it archived:
-- an export accepts a log that starts after seq 1 only on such a statement.
create table audit_archives (
  tenant_id text not null,
  seq bigint not null check (seq >= 1),
  head_hash text not null,
  before timestamptz not null,
  at timestamptz not null,
  key_id text not null,
  statement text not null,
  signature text not null,
  primary key (tenant_id, seq)
);
create trigger audit_archives_no_update_delete before update or delete on audit_archives
  for each row execute function arbiter_refuse_change();
create trigger audit_archives_no_truncate before truncate on audit_archives
  for each statement execute function arbiter_refuse_change();
alter table audit_archives enable always trigger audit_archives_no_update_delete;
alter table audit_archives enable always trigger audit_archives_no_truncate;
