//! `folio:platform/passwords` (`folio-passwords`): Argon2id on the host's
//! bounded hashing pool, offered to every component; `[passwords]` sizes it.

use std::any::Any;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use wasmtime::component::Linker;

use folio_passwords::{PasswordHasher, PasswordsConfig};

use crate::capability::{Capability, ComponentOpening, ComponentState, HostContext};
use crate::runtime::HostState;

pub struct PasswordsCapability {
    hasher: PasswordHasher,
}

impl PasswordsCapability {
    pub fn configure(ctx: &mut HostContext<'_>) -> anyhow::Result<Arc<dyn Capability>> {
        let config: PasswordsConfig = ctx.take("passwords")?;
        Ok(Arc::new(PasswordsCapability {
            hasher: PasswordHasher::new(config.settings()?),
        }))
    }
}

fn view(state: &mut HostState) -> &PasswordHasher {
    let (_, component, _) = state.capability_parts();
    component
        .get::<PasswordHasher>()
        .expect("every component opens the passwords capability")
}

impl Capability for PasswordsCapability {
    fn name(&self) -> &'static str {
        "passwords"
    }

    fn add_to_linker(&self, linker: &mut Linker<HostState>) -> anyhow::Result<()> {
        folio_passwords::add_to_linker(linker, view)
    }

    fn open<'a>(
        &'a self,
        _component: ComponentOpening<'a>,
    ) -> BoxFuture<'a, anyhow::Result<ComponentState>> {
        Box::pin(async move { Ok(Arc::new(self.hasher.clone()) as ComponentState) })
    }

    /// A pool of threads in this process: nothing to probe.
    fn check_ready(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
