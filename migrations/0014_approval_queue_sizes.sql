-- How many approvals of each tenant wait in its queue (QUEUED or PENDING), kept by a trigger, so
-- that a check asking for approval need not count them to know the queue bound leaves room. A
-- PENDING approval whose clock has run out is counted here until it is swept, which the bound's
-- own count leaves out: this count is never below it, so only when it reaches the bound is the
-- exact count taken (store/approvals.ts).
create table approval_queue_sizes (
  tenant_id text primary key,
  waiting int not null
);

create function arbiter_count_waiting() returns trigger language plpgsql as $$
declare
  was boolean := tg_op <> 'INSERT' and old.status in ('QUEUED', 'PENDING');
  waits boolean := tg_op <> 'DELETE' and new.status in ('QUEUED', 'PENDING');
begin
  if was and waits and old.tenant_id = new.tenant_id then
    return null;
  end if;
  if was then
    update approval_queue_sizes set waiting = waiting - 1 where tenant_id = old.tenant_id;
  end if;
  if waits then
    insert into approval_queue_sizes as s (tenant_id, waiting) values (new.tenant_id, 1)
    on conflict (tenant_id) do update set waiting = s.waiting + 1;
  end if;
  return null;
end $$;

create trigger approvals_count_waiting after insert or update or delete on approvals
  for each row execute function arbiter_count_waiting();
alter table approvals enable always trigger approvals_count_waiting;

insert into approval_queue_sizes (tenant_id, waiting)
  select tenant_id, count(*) from approvals where status in ('QUEUED', 'PENDING') group by tenant_id;
