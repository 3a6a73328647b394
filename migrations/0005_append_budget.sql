-- Appends a group of one log's records, moves the log's head from where the group was sealed and
-- (being one statement, its own implicit transaction) commits, in one round trip. The columns
-- arrive as arrays in the order of audit_log's columns below.
--
-- Whatever the session says, it commits synchronously, and it waits for the head row at most
-- `wait_ms` (a lock held elsewhere must not keep this backend waiting past its callers). The
-- head row is chosen by tenant alone and the guard is evaluated on the row once it is locked: a
-- group sent while the one before it is still committing waits for that commit and then
-- compares. A wrong head is left as it was and nothing is appended (0 is returned). Its budget
-- is checked last, after its rows are in: past `budget_ms` from when the statement reached the
-- server it fails (SQLSTATE AB001) and everything it did is rolled back, so a group whose
-- callers were already answered 503 does not commit.
create function arbiter_append(
  p_tenant_id text, p_to_seq bigint, p_to_hash text, p_from_seq bigint, p_from_hash text,
  budget_ms integer, wait_ms integer,
  a_tenant_id text[], a_seq bigint[], a_record_type text[], a_at timestamptz[], a_trace_id text[],
  a_job_id text[], a_decision_id uuid[], a_topic text[], a_decision text[], a_rule_id text[],
  a_job_hash text[], a_status text[], a_policy_snapshot text[], a_record text[], a_key_id text[],
  a_signature text[], a_prev_hash text[], a_hash text[]
) returns bigint
language plpgsql volatile as $$
declare
  moved boolean;
  appended bigint;
begin
  perform set_config('synchronous_commit', 'on', true);
  perform set_config('lock_timeout', greatest(wait_ms, 1)::text, true);
  update audit_heads
     set seq = case when seq = p_from_seq and hash = p_from_hash then p_to_seq else seq end,
         hash = case when seq = p_from_seq and hash = p_from_hash then p_to_hash else hash end
   where tenant_id = p_tenant_id
  returning seq = p_to_seq and hash = p_to_hash into moved;
  if moved is not true then
    return 0;
  end if;
  insert into audit_log (tenant_id, seq, record_type, at, trace_id, job_id, decision_id, topic,
                         decision, rule_id, job_hash, status, policy_snapshot, record, key_id,
                         signature, prev_hash, hash)
  select * from unnest(a_tenant_id, a_seq, a_record_type, a_at, a_trace_id, a_job_id, a_decision_id,
                       a_topic, a_decision, a_rule_id, a_job_hash, a_status, a_policy_snapshot,
                       a_record, a_key_id, a_signature, a_prev_hash, a_hash);
  get diagnostics appended = row_count;
  if clock_timestamp() >= statement_timestamp() + budget_ms * interval '1 millisecond' then
    raise exception 'arbiter: the group ran past its budget of % ms before it could commit', budget_ms
      using errcode = 'AB001';
  end if;
  return appended;
end
$$;
