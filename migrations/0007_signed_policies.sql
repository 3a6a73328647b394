-- Signed policies: the key that signed a snapshot's files, when POLICY_TRUSTED_KEYS requires one.
-- The same snapshot may have been stored unsigned before signatures were required, so the one
-- change the append-only table now allows is recording a signer where there was none.
alter table policy_snapshots add column signed_by text;

create function arbiter_refuse_snapshot_change() returns trigger
language plpgsql as $$
begin
  if tg_op = 'UPDATE' and old.signed_by is null and new.signed_by is not null
     and (new.snapshot_id, new.version, new.canonical, new.sources, new.created_at)
         is not distinct from (old.snapshot_id, old.version, old.canonical, old.sources, old.created_at) then
    return new;
  end if;
  raise exception 'arbiter: % on % is refused: the table is append-only', tg_op, tg_table_name
    using errcode = 'insufficient_privilege';
end
$$;

drop trigger policy_snapshots_no_update_delete on policy_snapshots;
create trigger policy_snapshots_no_update_delete before update or delete on policy_snapshots
  for each row execute function arbiter_refuse_snapshot_change();
-- Fire even under session_replication_role = replica, which would otherwise skip it.
alter table policy_snapshots enable always trigger policy_snapshots_no_update_delete;

-- Every signature a policy was accepted under. The newest signed_at is the floor: an older
-- signature (a policy put back with the signature it once had) is refused, on every instance
-- and after a restart, until its files are signed anew.
create table policy_signatures (
  snapshot_id text not null references policy_snapshots (snapshot_id),
  key_id text not null,
  signed_at timestamptz not null,
  accepted_at timestamptz not null default now(),
  primary key (snapshot_id, key_id, signed_at)
);
