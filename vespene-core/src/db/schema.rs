//! The diesel table definitions, written by hand to match
//! `migrations/{sqlite,postgres}` (both backends share this one schema, in
//! the type subset `MultiConnection` supports: no JSON, no timestamptz).

diesel::table! {
    users (id) {
        id -> BigInt,
        username -> Text,
        first_name -> Text,
        last_name -> Text,
        email -> Text,
        password_hash -> Nullable<Text>,
        is_superuser -> Bool,
        is_active -> Bool,
        date_joined -> Timestamp,
        last_login -> Nullable<Timestamp>,
    }
}

diesel::table! {
    groups (id) {
        id -> BigInt,
        name -> Text,
    }
}

diesel::table! {
    user_groups (user_id, group_id) {
        user_id -> BigInt,
        group_id -> BigInt,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> BigInt,
        user_id -> BigInt,
        name -> Text,
        token_prefix -> Text,
        token_hash -> Text,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    variable_sets (id) {
        id -> BigInt,
        name -> Text,
        description -> Text,
        variables -> Text,
        created_by -> Nullable<BigInt>,
    }
}

diesel::table! {
    snippets (id) {
        id -> BigInt,
        name -> Text,
        description -> Text,
        text -> Text,
        created_by -> Nullable<BigInt>,
    }
}

diesel::table! {
    ssh_keys (id) {
        id -> BigInt,
        name -> Text,
        description -> Text,
        private_key -> Text,
        unlock_password -> Text,
        created_by -> Nullable<BigInt>,
    }
}

diesel::table! {
    service_logins (id) {
        id -> BigInt,
        name -> Text,
        description -> Text,
        username -> Text,
        password -> Text,
        created_by -> Nullable<BigInt>,
    }
}

diesel::table! {
    worker_pools (id) {
        id -> BigInt,
        name -> Text,
        variables -> Text,
        isolation_method -> Text,
        sudo_user -> Nullable<Text>,
        permissions_hex -> Text,
        sleep_seconds -> Integer,
        auto_abort_minutes -> Integer,
        build_latest -> Bool,
        autoscaling_enabled -> Bool,
        planner -> Nullable<Text>,
        executor -> Nullable<Text>,
        running_weight -> Double,
        queued_weight -> Double,
        excess -> Integer,
        multiplier -> Double,
        minimum -> Integer,
        maximum -> Integer,
        executor_command -> Text,
        last_autoscaled -> Nullable<Timestamp>,
        autoscaling_status -> Nullable<Integer>,
        reevaluate_minutes -> Integer,
        build_object_shelf_life -> Integer,
        build_root_shelf_life -> Integer,
        created_by -> Nullable<BigInt>,
    }
}

diesel::table! {
    stages (id) {
        id -> BigInt,
        name -> Text,
        description -> Text,
        variables -> Text,
    }
}

diesel::table! {
    pipelines (id) {
        id -> BigInt,
        name -> Text,
        description -> Text,
        enabled -> Bool,
        last_completed_date -> Nullable<Timestamp>,
        last_completed_by -> Nullable<BigInt>,
        variables -> Text,
        created_by -> Nullable<BigInt>,
    }
}

diesel::table! {
    pipeline_stages (pipeline_id, slot) {
        pipeline_id -> BigInt,
        slot -> SmallInt,
        stage_id -> BigInt,
    }
}

diesel::table! {
    organizations (id) {
        id -> BigInt,
        name -> Text,
        description -> Text,
        organization_type -> Text,
        organization_identifier -> Text,
        api_endpoint -> Text,
        import_enabled -> Bool,
        import_without_dotfile -> Bool,
        overwrite_project_name -> Bool,
        overwrite_project_script -> Bool,
        overwrite_configurations -> Bool,
        allow_pipeline_definition -> Bool,
        allow_worker_pool_assignment -> Bool,
        default_worker_pool_id -> BigInt,
        force_rescan -> Bool,
        refresh_minutes -> Integer,
        scm_login_id -> Nullable<BigInt>,
        worker_pool_id -> BigInt,
        created_by -> Nullable<BigInt>,
        last_build_id -> Nullable<BigInt>,
        active_build_id -> Nullable<BigInt>,
        last_successful_build_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    projects (id) {
        id -> BigInt,
        name -> Text,
        description -> Text,
        pipeline_id -> Nullable<BigInt>,
        pipeline_enabled -> Bool,
        stage_id -> Nullable<BigInt>,
        last_build_id -> Nullable<BigInt>,
        active_build_id -> Nullable<BigInt>,
        last_successful_build_id -> Nullable<BigInt>,
        repo_url -> Text,
        repo_branch -> Text,
        recursive -> Bool,
        scm_type -> Text,
        webhook_enabled -> Bool,
        webhook_token -> Text,
        script -> Text,
        timeout -> Integer,
        container_base_image -> Nullable<Text>,
        variables -> Text,
        launch_questions -> Text,
        scm_login_id -> Nullable<BigInt>,
        worker_pool_id -> BigInt,
        created_by -> Nullable<BigInt>,
        schedule_enabled -> Bool,
        monday -> Bool,
        tuesday -> Bool,
        wednesday -> Bool,
        thursday -> Bool,
        friday -> Bool,
        saturday -> Bool,
        sunday -> Bool,
        weekday_start_hours -> Text,
        weekday_start_minutes -> Text,
        weekend_start_hours -> Text,
        weekend_start_minutes -> Text,
        schedule_threshold -> Integer,
    }
}

diesel::table! {
    workers (id) {
        id -> BigInt,
        worker_uid -> Text,
        hostname -> Text,
        port -> Integer,
        build_root -> Text,
        first_checkin -> Timestamp,
        last_checkin -> Timestamp,
        fileserving_enabled -> Bool,
    }
}

diesel::table! {
    builds (id) {
        id -> BigInt,
        project_id -> Nullable<BigInt>,
        organization_id -> Nullable<BigInt>,
        pipeline_id -> Nullable<BigInt>,
        is_internal -> Bool,
        revision -> Text,
        revision_username -> Text,
        queued_time -> Timestamp,
        start_time -> Nullable<Timestamp>,
        end_time -> Nullable<Timestamp>,
        return_code -> Nullable<Integer>,
        status -> Text,
        worker_pool_id -> BigInt,
        working_dir -> Text,
        variables -> Text,
        launch_answers -> Text,
        output_variables -> Text,
        script -> Text,
        created_by -> Nullable<BigInt>,
        pipeline_origin_build_id -> Nullable<BigInt>,
        pipeline_parent_build_id -> Nullable<BigInt>,
        worker_id -> Nullable<BigInt>,
        claimed_by -> Nullable<Text>,
        heartbeat_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    build_output (build_id, stream, seq) {
        build_id -> BigInt,
        stream -> SmallInt,
        seq -> BigInt,
        line_count -> Integer,
        body -> Text,
    }
}

diesel::table! {
    project_variable_sets (project_id, variable_set_id) {
        project_id -> BigInt,
        variable_set_id -> BigInt,
    }
}

diesel::table! {
    project_ssh_keys (project_id, ssh_key_id) {
        project_id -> BigInt,
        ssh_key_id -> BigInt,
    }
}

diesel::table! {
    project_owner_groups (project_id, group_id) {
        project_id -> BigInt,
        group_id -> BigInt,
    }
}

diesel::table! {
    project_launch_groups (project_id, group_id) {
        project_id -> BigInt,
        group_id -> BigInt,
    }
}

diesel::table! {
    pipeline_variable_sets (pipeline_id, variable_set_id) {
        pipeline_id -> BigInt,
        variable_set_id -> BigInt,
    }
}

diesel::table! {
    pipeline_owner_groups (pipeline_id, group_id) {
        pipeline_id -> BigInt,
        group_id -> BigInt,
    }
}

diesel::table! {
    stage_variable_sets (stage_id, variable_set_id) {
        stage_id -> BigInt,
        variable_set_id -> BigInt,
    }
}

diesel::table! {
    worker_pool_variable_sets (worker_pool_id, variable_set_id) {
        worker_pool_id -> BigInt,
        variable_set_id -> BigInt,
    }
}

diesel::table! {
    snippet_owner_groups (snippet_id, group_id) {
        snippet_id -> BigInt,
        group_id -> BigInt,
    }
}

diesel::table! {
    variable_set_owner_groups (variable_set_id, group_id) {
        variable_set_id -> BigInt,
        group_id -> BigInt,
    }
}

diesel::table! {
    ssh_key_owner_groups (ssh_key_id, group_id) {
        ssh_key_id -> BigInt,
        group_id -> BigInt,
    }
}

diesel::table! {
    service_login_owner_groups (service_login_id, group_id) {
        service_login_id -> BigInt,
        group_id -> BigInt,
    }
}

diesel::table! {
    organization_ssh_keys (organization_id, ssh_key_id) {
        organization_id -> BigInt,
        ssh_key_id -> BigInt,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    users,
    groups,
    user_groups,
    api_tokens,
    variable_sets,
    snippets,
    ssh_keys,
    service_logins,
    worker_pools,
    stages,
    pipelines,
    pipeline_stages,
    organizations,
    projects,
    workers,
    builds,
    build_output,
    project_variable_sets,
    project_ssh_keys,
    project_owner_groups,
    project_launch_groups,
    pipeline_variable_sets,
    pipeline_owner_groups,
    stage_variable_sets,
    worker_pool_variable_sets,
    snippet_owner_groups,
    variable_set_owner_groups,
    ssh_key_owner_groups,
    service_login_owner_groups,
    organization_ssh_keys,
);

diesel::table! {
    project_webhooks (project_id) {
        project_id -> BigInt,
        secret -> Text,
        build_pushed -> Bool,
    }
}

diesel::table! {
    build_requests (build_id) {
        build_id -> BigInt,
        branch -> Text,
        commit_id -> Text,
    }
}
