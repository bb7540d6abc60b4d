-- The API's write endpoints (issue 6): bearer tokens, and targets made
-- through the API.
--
-- A token is shown once, by `empiric token create NAME`; only its SHA-256
-- is kept here. The API hashes what a client presents and compares it with
-- every stored hash in constant time, so neither a lookup by value nor an
-- early exit tells how close a guess was.
CREATE TABLE api_tokens (
    id           bigserial PRIMARY KEY,
    name         text NOT NULL UNIQUE,
    hash         bytea NOT NULL UNIQUE CHECK (octet_length(hash) = 32),
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz
);

-- A target made through the API keeps its whole definition here, in the
-- form of a configuration file's target: `serve` probes these at start
-- beside the file's own. NULL for configured targets, imported history and
-- targets the API removed (whose history stays). A postgres target's
-- conninfo is kept as given, passwords included, as a configuration file
-- would hold it.
ALTER TABLE targets ADD COLUMN api_definition jsonb;
CREATE INDEX targets_api_idx ON targets (name) WHERE api_definition IS NOT NULL;
