//! The integration tests of vespene-core's data layer: every test function
//! runs on both backends, on a fresh SQLite file and on a fresh PostgreSQL
//! schema (see `support`).

mod support;

mod accounts;
mod authz;
mod claims;
mod config_as_code;
mod crud;
mod deletes;
mod output;
mod secrets;
mod validation;
