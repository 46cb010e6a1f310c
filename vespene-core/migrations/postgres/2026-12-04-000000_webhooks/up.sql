-- A project's webhook settings beyond the original's token: the secret
-- forges sign deliveries with (cloaked like every stored secret) and the
-- opt-in to build the pushed branch and commit (original issue #84).
CREATE TABLE project_webhooks (
    project_id BIGINT PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    secret TEXT NOT NULL DEFAULT '',
    build_pushed BOOLEAN NOT NULL DEFAULT FALSE
);

-- What a build was asked to check out instead of its project's branch tip.
CREATE TABLE build_requests (
    build_id BIGINT PRIMARY KEY REFERENCES builds (id) ON DELETE CASCADE,
    branch TEXT NOT NULL,
    commit_id TEXT NOT NULL
);
