//! One module per plugin kind: the typed trait a plugin implements, the
//! operation names and JSON shapes that cross the boundary, and the adapter
//! the export macro uses. The host uses the same types to call plugins.

pub mod authorization;
pub mod autoscale_executor;
pub mod autoscale_planner;
pub mod isolation;
pub mod organizations;
pub mod output;
pub mod scm;
pub mod secrets;
pub mod trigger;
pub mod variables;

use serde::{Deserialize, Serialize};

/// The empty JSON object many operations return.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

/// Declares `Adapter<T>` for a kind: the wrapper the export macro puts
/// around a plugin type implementing the kind's trait.
macro_rules! adapter {
    ($kind:expr, $tr:ident) => {
        /// Wraps a plugin of this kind for the export layer.
        #[doc(hidden)]
        pub struct Adapter<T>(pub T);

        impl<T: $tr + $crate::Plugin> $crate::export::Adapter for Adapter<T> {
            const KIND: $crate::Kind = $kind;
            fn create(ctx: $crate::CreateContext<'_>) -> Result<Self, $crate::PluginError> {
                <T as $crate::Plugin>::create(ctx).map(Adapter)
            }
        }
    };
}
pub(crate) use adapter;
