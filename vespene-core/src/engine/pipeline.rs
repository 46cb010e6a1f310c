//! Pipeline advancement after a successful build (reference §5.2). Being
//! written; until then a successful build does not advance its pipeline,
//! and says so in its messages.

use crate::app::App;
use crate::db::DbConn;
use crate::db::builds::Build;

/// Evaluates the pipeline of `build`'s project after it succeeded, writing
/// why it did or did not advance through `message`.
pub fn after_success(_app: &App, _conn: &mut DbConn, build: &Build, message: &mut dyn FnMut(&str)) {
    if build.pipeline_id.is_some() {
        message(
            "----------\nPipeline evaluation....\npipelines do not advance in this version yet",
        );
    }
}
