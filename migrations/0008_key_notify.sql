-- Every change to a key is announced on the channel arbiter_api_keys, its key id the payload, so
-- that instances holding keys in memory (src/auth/key-lookup.ts) forget it, whoever made the
-- change: the /keys API of any instance, `arbiter keys` in another process, or SQL by hand.
-- Postgres delivers a notification only once its transaction commits, and never after a rollback.
-- The channel is shared by every schema of the database: a change in another installation's
-- schema only makes an instance forget a key id it does not hold.
create function arbiter_api_keys_notify() returns trigger language plpgsql as $$
begin
  perform pg_notify('arbiter_api_keys', case tg_op when 'DELETE' then old.key_id else new.key_id end);
  return null;
end $$;

create trigger api_keys_notify after insert or update or delete on api_keys
  for each row execute function arbiter_api_keys_notify();
-- Fire even under session_replication_role = replica, which would otherwise skip it.
alter table api_keys enable always trigger api_keys_notify;
