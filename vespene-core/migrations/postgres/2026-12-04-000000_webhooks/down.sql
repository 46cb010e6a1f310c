DROP TABLE build_requests;
DROP TABLE project_webhooks;
