-- A group of records that is appended, moves its log's head and commits in one statement (its
-- own implicit transaction) checks its budget last, after its rows are in: past the budget it
-- fails, and the statement with everything it did is rolled back, so a group whose callers were
-- already answered 503 does not commit. `appended` is passed through, and passing it makes the
-- insert run to its end before the check.
create function arbiter_within_budget(appended bigint, budget_ms integer) returns bigint
language plpgsql volatile as $$
begin
  if clock_timestamp() >= statement_timestamp() + budget_ms * interval '1 millisecond' then
    raise exception 'arbiter: the group ran past its budget of % ms before it could commit', budget_ms
      using errcode = 'AB001';
  end if;
  return appended;
end
$$;
