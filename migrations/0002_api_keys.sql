-- Bearer keys: who may call Arbiter, in which roles, for which tenants and agent principals.
-- Only sha256 of a token is kept; `key_id` is a prefix of that hash, so a presented token leads
-- to its row without the token ever being stored or compared outside a constant-time check.
create table api_keys (
  key_id text primary key,
  token_hash text not null unique,
  principal_id text not null,
  roles text[] not null check (cardinality(roles) >= 1 and roles <@ array['scheduler', 'reviewer', 'auditor', 'admin']),
  -- '{*}' means every tenant, present and future.
  tenants text[] not null check (cardinality(tenants) >= 1),
  -- Globs over the job principal ids this key may speak for; '{**}' means any.
  agents text[] not null check (cardinality(agents) >= 1),
  created_at timestamptz not null default now(),
  created_by text not null,
  revoked_at timestamptz,
  revoked_by text
);

-- A revoked key stays revoked: the one change a row may see is its revocation.
create function arbiter_api_keys_guard() returns trigger language plpgsql as $$
begin
  if tg_op = 'DELETE' then
    raise exception 'arbiter: api keys are never deleted; revoke the key instead'
      using errcode = 'insufficient_privilege';
  end if;
  if old.revoked_at is not null
     or new.key_id <> old.key_id or new.token_hash <> old.token_hash or new.principal_id <> old.principal_id
     or new.roles <> old.roles or new.tenants <> old.tenants or new.agents <> old.agents
     or new.created_at <> old.created_at or new.created_by <> old.created_by
     or new.revoked_at is null or new.revoked_by is null then
    raise exception 'arbiter: an api key can only be revoked, once'
      using errcode = 'insufficient_privilege';
  end if;
  return new;
end $$;

create trigger api_keys_guard before update or delete on api_keys
  for each row execute function arbiter_api_keys_guard();
create trigger api_keys_no_truncate before truncate on api_keys
  for each statement execute function arbiter_refuse_change();
alter table api_keys enable always trigger api_keys_guard;
alter table api_keys enable always trigger api_keys_no_truncate;
