-- Vespene's schema for SQLite (reference §1). The PostgreSQL migration of the
-- same name creates the same tables with the same columns; keep them in step.
-- Delete semantics (§1.13) are implemented explicitly by the code, and the
-- foreign keys below say the same thing, as a safety net.

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE,
    first_name TEXT NOT NULL DEFAULT '',
    last_name TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL DEFAULT '',
    password_hash TEXT,
    is_superuser BOOLEAN NOT NULL DEFAULT 0,
    is_active BOOLEAN NOT NULL DEFAULT 1,
    date_joined TIMESTAMP NOT NULL,
    last_login TIMESTAMP
);

CREATE TABLE groups (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE
);

CREATE TABLE user_groups (
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    group_id BIGINT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, group_id)
);
CREATE INDEX user_groups_group ON user_groups (group_id);

CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_prefix TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

CREATE TABLE variable_sets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    variables TEXT NOT NULL DEFAULT '{}',
    created_by BIGINT REFERENCES users (id) ON DELETE SET NULL
);

CREATE TABLE snippets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    text TEXT NOT NULL DEFAULT '',
    created_by BIGINT REFERENCES users (id) ON DELETE SET NULL
);

CREATE TABLE ssh_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    private_key TEXT NOT NULL DEFAULT '',
    unlock_password TEXT NOT NULL DEFAULT '',
    created_by BIGINT REFERENCES users (id) ON DELETE SET NULL
);

CREATE TABLE service_logins (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    username TEXT NOT NULL DEFAULT '',
    password TEXT NOT NULL DEFAULT '',
    created_by BIGINT REFERENCES users (id) ON DELETE SET NULL
);

CREATE TABLE worker_pools (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    variables TEXT NOT NULL DEFAULT '{}',
    isolation_method TEXT NOT NULL,
    sudo_user TEXT,
    permissions_hex TEXT NOT NULL DEFAULT '0x777',
    sleep_seconds INTEGER NOT NULL DEFAULT 10,
    auto_abort_minutes INTEGER NOT NULL DEFAULT 1440,
    build_latest BOOLEAN NOT NULL DEFAULT 1,
    autoscaling_enabled BOOLEAN NOT NULL DEFAULT 0,
    planner TEXT,
    executor TEXT,
    running_weight DOUBLE NOT NULL DEFAULT 1.0,
    queued_weight DOUBLE NOT NULL DEFAULT 1.0,
    excess INTEGER NOT NULL DEFAULT 0,
    multiplier DOUBLE NOT NULL DEFAULT 1.0,
    minimum INTEGER NOT NULL DEFAULT 0,
    maximum INTEGER NOT NULL DEFAULT 10,
    executor_command TEXT NOT NULL DEFAULT '',
    last_autoscaled TIMESTAMP,
    autoscaling_status INTEGER,
    reevaluate_minutes INTEGER NOT NULL DEFAULT 10,
    build_object_shelf_life INTEGER NOT NULL DEFAULT 365,
    build_root_shelf_life INTEGER NOT NULL DEFAULT 31,
    created_by BIGINT REFERENCES users (id) ON DELETE SET NULL
);

CREATE TABLE stages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    variables TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE pipelines (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    enabled BOOLEAN NOT NULL DEFAULT 1,
    last_completed_date TIMESTAMP,
    last_completed_by BIGINT REFERENCES builds (id) ON DELETE SET NULL,
    variables TEXT NOT NULL DEFAULT '{}',
    created_by BIGINT REFERENCES users (id) ON DELETE SET NULL
);

-- The ordered stage slots of a pipeline (the original's stage1..stage7).
CREATE TABLE pipeline_stages (
    pipeline_id BIGINT NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    slot SMALLINT NOT NULL CHECK (slot BETWEEN 1 AND 7),
    stage_id BIGINT NOT NULL REFERENCES stages (id) ON DELETE CASCADE,
    PRIMARY KEY (pipeline_id, slot),
    UNIQUE (pipeline_id, stage_id)
);
CREATE INDEX pipeline_stages_stage ON pipeline_stages (stage_id);

CREATE TABLE organizations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    organization_type TEXT NOT NULL,
    organization_identifier TEXT NOT NULL,
    api_endpoint TEXT NOT NULL DEFAULT '',
    import_enabled BOOLEAN NOT NULL DEFAULT 1,
    import_without_dotfile BOOLEAN NOT NULL DEFAULT 0,
    overwrite_project_name BOOLEAN NOT NULL DEFAULT 1,
    overwrite_project_script BOOLEAN NOT NULL DEFAULT 1,
    overwrite_configurations BOOLEAN NOT NULL DEFAULT 1,
    allow_pipeline_definition BOOLEAN NOT NULL DEFAULT 1,
    allow_worker_pool_assignment BOOLEAN NOT NULL DEFAULT 1,
    default_worker_pool_id BIGINT NOT NULL REFERENCES worker_pools (id) ON DELETE RESTRICT,
    force_rescan BOOLEAN NOT NULL DEFAULT 0,
    refresh_minutes INTEGER NOT NULL DEFAULT 120,
    scm_login_id BIGINT REFERENCES service_logins (id) ON DELETE SET NULL,
    worker_pool_id BIGINT NOT NULL REFERENCES worker_pools (id) ON DELETE RESTRICT,
    created_by BIGINT REFERENCES users (id) ON DELETE SET NULL,
    last_build_id BIGINT REFERENCES builds (id) ON DELETE SET NULL,
    active_build_id BIGINT REFERENCES builds (id) ON DELETE SET NULL,
    last_successful_build_id BIGINT REFERENCES builds (id) ON DELETE SET NULL
);

CREATE TABLE projects (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    pipeline_id BIGINT REFERENCES pipelines (id) ON DELETE SET NULL,
    pipeline_enabled BOOLEAN NOT NULL DEFAULT 1,
    stage_id BIGINT REFERENCES stages (id) ON DELETE SET NULL,
    last_build_id BIGINT REFERENCES builds (id) ON DELETE SET NULL,
    active_build_id BIGINT REFERENCES builds (id) ON DELETE SET NULL,
    last_successful_build_id BIGINT REFERENCES builds (id) ON DELETE SET NULL,
    repo_url TEXT NOT NULL DEFAULT '',
    repo_branch TEXT NOT NULL DEFAULT '',
    recursive BOOLEAN NOT NULL DEFAULT 1,
    scm_type TEXT NOT NULL DEFAULT '',
    webhook_enabled BOOLEAN NOT NULL DEFAULT 0,
    webhook_token TEXT NOT NULL DEFAULT '',
    script TEXT NOT NULL,
    timeout INTEGER NOT NULL DEFAULT 60,
    container_base_image TEXT,
    variables TEXT NOT NULL DEFAULT '{}',
    launch_questions TEXT NOT NULL DEFAULT '[]',
    scm_login_id BIGINT REFERENCES service_logins (id) ON DELETE SET NULL,
    worker_pool_id BIGINT NOT NULL REFERENCES worker_pools (id) ON DELETE RESTRICT,
    created_by BIGINT REFERENCES users (id) ON DELETE SET NULL,
    schedule_enabled BOOLEAN NOT NULL DEFAULT 0,
    monday BOOLEAN NOT NULL DEFAULT 0,
    tuesday BOOLEAN NOT NULL DEFAULT 0,
    wednesday BOOLEAN NOT NULL DEFAULT 0,
    thursday BOOLEAN NOT NULL DEFAULT 0,
    friday BOOLEAN NOT NULL DEFAULT 0,
    saturday BOOLEAN NOT NULL DEFAULT 0,
    sunday BOOLEAN NOT NULL DEFAULT 0,
    weekday_start_hours TEXT NOT NULL DEFAULT '',
    weekday_start_minutes TEXT NOT NULL DEFAULT '',
    weekend_start_hours TEXT NOT NULL DEFAULT '',
    weekend_start_minutes TEXT NOT NULL DEFAULT '',
    schedule_threshold INTEGER NOT NULL DEFAULT 10
);
CREATE INDEX projects_worker_pool ON projects (worker_pool_id);
CREATE INDEX projects_pipeline ON projects (pipeline_id, stage_id);
CREATE INDEX projects_stage ON projects (stage_id);
CREATE INDEX projects_created_by ON projects (created_by);

CREATE TABLE workers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    worker_uid TEXT NOT NULL UNIQUE,
    hostname TEXT NOT NULL DEFAULT '',
    port INTEGER NOT NULL DEFAULT 8080,
    build_root TEXT NOT NULL DEFAULT '',
    first_checkin TIMESTAMP NOT NULL,
    last_checkin TIMESTAMP NOT NULL,
    fileserving_enabled BOOLEAN NOT NULL DEFAULT 0
);

CREATE TABLE builds (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id BIGINT REFERENCES projects (id) ON DELETE CASCADE,
    organization_id BIGINT REFERENCES organizations (id) ON DELETE CASCADE,
    pipeline_id BIGINT REFERENCES pipelines (id) ON DELETE SET NULL,
    is_internal BOOLEAN NOT NULL DEFAULT 0,
    revision TEXT NOT NULL DEFAULT '',
    revision_username TEXT NOT NULL DEFAULT '',
    queued_time TIMESTAMP NOT NULL,
    start_time TIMESTAMP,
    end_time TIMESTAMP,
    return_code INTEGER,
    status TEXT NOT NULL DEFAULT 'UNKNOWN',
    worker_pool_id BIGINT NOT NULL REFERENCES worker_pools (id) ON DELETE CASCADE,
    working_dir TEXT NOT NULL DEFAULT '',
    variables TEXT NOT NULL DEFAULT '{}',
    launch_answers TEXT NOT NULL DEFAULT '{}',
    output_variables TEXT NOT NULL DEFAULT '{}',
    script TEXT NOT NULL DEFAULT '',
    created_by BIGINT REFERENCES users (id) ON DELETE SET NULL,
    pipeline_origin_build_id BIGINT,
    pipeline_parent_build_id BIGINT,
    worker_id BIGINT REFERENCES workers (id) ON DELETE SET NULL,
    claimed_by TEXT,
    heartbeat_at TIMESTAMP
);
CREATE INDEX builds_claim ON builds (worker_pool_id, status, id);
CREATE INDEX builds_project ON builds (project_id, id);
CREATE INDEX builds_status ON builds (status, id);
CREATE INDEX builds_organization ON builds (organization_id, id);
CREATE INDEX builds_created_by ON builds (created_by);

-- Build output as appended chunks: one row per append of one or more lines.
-- stream: 0 = output, 1 = messages. seq counts from 1 per (build, stream).
CREATE TABLE build_output (
    build_id BIGINT NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
    stream SMALLINT NOT NULL,
    seq BIGINT NOT NULL,
    line_count INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (build_id, stream, seq)
);

-- Many-to-many links.
CREATE TABLE project_variable_sets (
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    variable_set_id BIGINT NOT NULL REFERENCES variable_sets (id) ON DELETE CASCADE,
    PRIMARY KEY (project_id, variable_set_id)
);
CREATE INDEX project_variable_sets_rev ON project_variable_sets (variable_set_id);

CREATE TABLE project_ssh_keys (
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    ssh_key_id BIGINT NOT NULL REFERENCES ssh_keys (id) ON DELETE CASCADE,
    PRIMARY KEY (project_id, ssh_key_id)
);
CREATE INDEX project_ssh_keys_rev ON project_ssh_keys (ssh_key_id);

CREATE TABLE project_owner_groups (
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    group_id BIGINT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    PRIMARY KEY (project_id, group_id)
);
CREATE INDEX project_owner_groups_rev ON project_owner_groups (group_id, project_id);

CREATE TABLE project_launch_groups (
    project_id BIGINT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    group_id BIGINT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    PRIMARY KEY (project_id, group_id)
);
CREATE INDEX project_launch_groups_rev ON project_launch_groups (group_id, project_id);

CREATE TABLE pipeline_variable_sets (
    pipeline_id BIGINT NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    variable_set_id BIGINT NOT NULL REFERENCES variable_sets (id) ON DELETE CASCADE,
    PRIMARY KEY (pipeline_id, variable_set_id)
);
CREATE INDEX pipeline_variable_sets_rev ON pipeline_variable_sets (variable_set_id);

CREATE TABLE pipeline_owner_groups (
    pipeline_id BIGINT NOT NULL REFERENCES pipelines (id) ON DELETE CASCADE,
    group_id BIGINT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    PRIMARY KEY (pipeline_id, group_id)
);
CREATE INDEX pipeline_owner_groups_rev ON pipeline_owner_groups (group_id, pipeline_id);

CREATE TABLE stage_variable_sets (
    stage_id BIGINT NOT NULL REFERENCES stages (id) ON DELETE CASCADE,
    variable_set_id BIGINT NOT NULL REFERENCES variable_sets (id) ON DELETE CASCADE,
    PRIMARY KEY (stage_id, variable_set_id)
);
CREATE INDEX stage_variable_sets_rev ON stage_variable_sets (variable_set_id);

CREATE TABLE worker_pool_variable_sets (
    worker_pool_id BIGINT NOT NULL REFERENCES worker_pools (id) ON DELETE CASCADE,
    variable_set_id BIGINT NOT NULL REFERENCES variable_sets (id) ON DELETE CASCADE,
    PRIMARY KEY (worker_pool_id, variable_set_id)
);
CREATE INDEX worker_pool_variable_sets_rev ON worker_pool_variable_sets (variable_set_id);

CREATE TABLE snippet_owner_groups (
    snippet_id BIGINT NOT NULL REFERENCES snippets (id) ON DELETE CASCADE,
    group_id BIGINT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    PRIMARY KEY (snippet_id, group_id)
);
CREATE INDEX snippet_owner_groups_rev ON snippet_owner_groups (group_id, snippet_id);

CREATE TABLE variable_set_owner_groups (
    variable_set_id BIGINT NOT NULL REFERENCES variable_sets (id) ON DELETE CASCADE,
    group_id BIGINT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    PRIMARY KEY (variable_set_id, group_id)
);
CREATE INDEX variable_set_owner_groups_rev ON variable_set_owner_groups (group_id, variable_set_id);

CREATE TABLE ssh_key_owner_groups (
    ssh_key_id BIGINT NOT NULL REFERENCES ssh_keys (id) ON DELETE CASCADE,
    group_id BIGINT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    PRIMARY KEY (ssh_key_id, group_id)
);
CREATE INDEX ssh_key_owner_groups_rev ON ssh_key_owner_groups (group_id, ssh_key_id);

CREATE TABLE service_login_owner_groups (
    service_login_id BIGINT NOT NULL REFERENCES service_logins (id) ON DELETE CASCADE,
    group_id BIGINT NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    PRIMARY KEY (service_login_id, group_id)
);
CREATE INDEX service_login_owner_groups_rev ON service_login_owner_groups (group_id, service_login_id);

CREATE TABLE organization_ssh_keys (
    organization_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    ssh_key_id BIGINT NOT NULL REFERENCES ssh_keys (id) ON DELETE CASCADE,
    PRIMARY KEY (organization_id, ssh_key_id)
);
CREATE INDEX organization_ssh_keys_rev ON organization_ssh_keys (ssh_key_id);
