-- Sliding-window rate limits, shared by every Arbiter instance on this database. A row is one
-- job admitted under one rule's key; a key's use is its rows younger than the rule's window.
-- This is state, not evidence: each decision the limit shapes is in the audit log.
create table rate_limit_hits (
  rule_id text not null,
  -- The JSON list of the key's field values, as the rule lists its fields.
  key text not null,
  tenant_id text not null,
  job_id text not null,
  -- A job is its content: an id reused for other content is another job, counted again.
  job_hash text not null,
  at timestamptz not null,
  primary key (rule_id, key, tenant_id, job_id, job_hash)
);

create index rate_limit_hits_window_idx on rate_limit_hits (rule_id, key, at);
-- The sweep deletes by age alone.
create index rate_limit_hits_at_idx on rate_limit_hits (at);
