//! `/healthz`: whether this server can serve, i.e. reach its database.

use crate::app::App;
use diesel::connection::SimpleConnection;

/// `Ok` when a database connection answers a query; `Err` says why not.
pub fn check(app: &App) -> Result<(), String> {
    let mut conn = app.db.conn().map_err(|e| e.to_string())?;
    conn.batch_execute("SELECT 1")
        .map_err(|e| format!("the database does not answer: {e}"))
}
