-- Every prober probes the same targets (issue 14). A target made, replaced
-- or removed through one prober's API must reach the others sharing the
-- database; each `serve` polls this one-row counter (a read of one row)
-- and reads the targets made through the API again only when it moved.
--
-- Triggers move it in the transaction that changes targets.api_definition,
-- so a poller that sees a value also sees every change it counts. The row
-- lock they take serialises the writers of API-made targets, so that the
-- counter moves once per committed change, in commit order: a change
-- committed after a poll always moves the value the poll saw (a timestamp
-- or a sequence number taken before commit would not).
CREATE TABLE api_target_changes (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    n   bigint NOT NULL
);
INSERT INTO api_target_changes (one, n) VALUES (true, 0);

CREATE FUNCTION emp_api_target_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE api_target_changes SET n = n + 1;
    RETURN NULL;
END;
$$;

CREATE TRIGGER targets_api_inserted AFTER INSERT ON targets
    FOR EACH ROW WHEN (NEW.api_definition IS NOT NULL)
    EXECUTE FUNCTION emp_api_target_changed();
CREATE TRIGGER targets_api_updated AFTER UPDATE OF api_definition ON targets
    FOR EACH ROW WHEN (OLD.api_definition IS DISTINCT FROM NEW.api_definition)
    EXECUTE FUNCTION emp_api_target_changed();
CREATE TRIGGER targets_api_deleted AFTER DELETE ON targets
    FOR EACH ROW WHEN (OLD.api_definition IS NOT NULL)
    EXECUTE FUNCTION emp_api_target_changed();
