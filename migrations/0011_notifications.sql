-- Notifications that cannot be lost: the records people are told of (an approval asked for,
-- resolved or expired, a job that ran without an ALLOW, a grant made) put an event in an outbox
-- in the transaction that appends them, so an event exists exactly when its record does, whatever
-- path appended it and whenever the process stops. A dispatcher (src/notify/) turns each event
-- into one delivery per configured webhook and delivers those, retrying with backoff.

create table notification_outbox (
  id bigint generated always as identity primary key,
  tenant_id text not null,
  seq bigint not null,
  -- When the record's transaction began (the server's clock): deliveries are retried from here.
  created_at timestamptz not null default now()
);

-- The channel only wakes dispatchers; the outbox is the truth, so a lost notification costs a poll.
create function arbiter_notification_enqueue() returns trigger language plpgsql as $$
begin
  insert into notification_outbox (tenant_id, seq) values (new.tenant_id, new.seq);
  perform pg_notify('arbiter_notifications', '');
  return null;
end $$;

-- Only the listed types fire it: a decision, the hot path, pays for nothing but the WHEN test.
-- Left at the default enablement: rows applied by logical replication (replica role) were
-- notified on the origin already.
create trigger audit_log_notify after insert on audit_log
  for each row when (new.record_type in ('approval.requested', 'approval.resolved', 'approval.expired', 'job.violation', 'grant.created'))
  execute function arbiter_notification_enqueue();

-- One event bound for one webhook: `global` (NOTIFY_WEBHOOK_URL) or the tenant's own. Its body is
-- fixed when it is made; each attempt signs it anew with the time of the attempt.
create table notification_deliveries (
  delivery_id bigint generated always as identity primary key,
  tenant_id text not null,
  seq bigint not null,
  event_type text not null,
  destination text not null check (destination in ('global', 'tenant')),
  format text not null check (format in ('standard', 'slack')),
  body text not null,
  status text not null check (status in ('pending', 'delivered', 'failed')),
  attempts int not null default 0,
  created_at timestamptz not null,
  -- While pending: when it is due (a claimed attempt pushes it past the attempt's timeout).
  next_attempt_at timestamptz,
  last_attempt_at timestamptz,
  last_http_status int,
  last_error text,
  delivered_at timestamptz,
  unique (tenant_id, seq, destination)
);

create index notification_deliveries_due_idx on notification_deliveries (next_attempt_at) where status = 'pending';
create index notification_deliveries_tenant_idx on notification_deliveries (tenant_id, delivery_id);
