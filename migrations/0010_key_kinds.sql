-- People and services: a key is held by a person or by a service (an agent, a scheduler, a
-- pipeline). Only a person's key may vote on an approval or make a grant, whatever its roles
-- (admin included), so that an agent's key cannot approve what agents propose. A key's kind is
-- set when it is made, by whoever makes it, and never changes.
alter table api_keys add column kind text not null default 'service' check (kind in ('person', 'service'));

-- The keys of every principal that has voted were held by a person: they become person keys,
-- revoked ones too, so that the list tells the same story as the votes. (Principal ids are
-- compared exactly: a vote names its key's principal id as the key spells it.) Every other key is
-- a service key, reviewer keys that never voted among them: they stay valid, but may no longer
-- vote or make grants, and the grants they made no longer stand in for an approval. An admin
-- gives their holders person keys (`arbiter keys create --kind person`) and revokes the old ones.
-- The guard lets a key change only by its revocation, so it stands aside for this one statement,
-- inside this migration's transaction.
alter table api_keys disable trigger api_keys_guard;
update api_keys set kind = 'person' where principal_id in (select principal_id from approval_votes);
alter table api_keys enable always trigger api_keys_guard;

-- A revoked key stays revoked, and a key's kind is as fixed as its roles.
create or replace function arbiter_api_keys_guard() returns trigger language plpgsql as $$
begin
  if tg_op = 'DELETE' then
    raise exception 'arbiter: api keys are never deleted; revoke the key instead'
      using errcode = 'insufficient_privilege';
  end if;
  if old.revoked_at is not null
     or new.key_id <> old.key_id or new.token_hash <> old.token_hash or new.principal_id <> old.principal_id
     or new.roles <> old.roles or new.tenants <> old.tenants or new.agents <> old.agents
     or new.kind <> old.kind
     or new.created_at <> old.created_at or new.created_by <> old.created_by
     or new.revoked_at is null or new.revoked_by is null then
    raise exception 'arbiter: an api key can only be revoked, once'
      using errcode = 'insufficient_privilege';
  end if;
  return new;
end $$;
