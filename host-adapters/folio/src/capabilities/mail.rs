//! `folio:platform/mail` (`folio-mail`): outgoing mail for components granted
//! `mail = true` (`[component.NAME.tool.folio]`); `[mail]` picks SMTP or
//! `.eml` files under the data directory.

use std::any::Any;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use wasmtime::component::Linker;

use folio_mail::{MailConfig, MailView, Mailer};

use crate::capability::{
    Capability, ComponentOpening, ComponentState, ComponentStates, HostContext,
};
use crate::runtime::HostState;

pub struct MailCapability {
    mailer: Mailer,
}

struct ComponentMail {
    granted: bool,
    mailer: Mailer,
    component: String,
}

impl MailCapability {
    pub fn configure(ctx: &mut HostContext<'_>) -> anyhow::Result<Arc<dyn Capability>> {
        let config: MailConfig = ctx.take("mail")?;
        let mailer = Mailer::new(config.settings(ctx.data_dir)?)?;
        if let Some(dir) = mailer.file_dir()
            && ctx.app.components.values().any(|c| c.mail)
        {
            tracing::info!(dir = %dir.display(), "mail is written as .eml files ([mail] in the runtime config sends it over SMTP)");
        }
        Ok(Arc::new(MailCapability { mailer }))
    }
}

fn view(state: &mut HostState) -> MailView<'_> {
    let (_, component, traceparent) = state.capability_parts();
    mail_view(component, traceparent)
}

/// The mail bindings' view of one instance.
pub(crate) fn mail_view<'a>(component: &'a ComponentStates, traceparent: &'a str) -> MailView<'a> {
    let mail = component
        .get::<ComponentMail>()
        .expect("every component opens the mail capability");
    MailView {
        granted: mail.granted,
        mailer: &mail.mailer,
        component: &mail.component,
        traceparent,
    }
}

impl Capability for MailCapability {
    fn name(&self) -> &'static str {
        "mail"
    }

    fn add_to_linker(&self, linker: &mut Linker<HostState>) -> anyhow::Result<()> {
        folio_mail::add_to_linker(linker, view)
    }

    fn open<'a>(
        &'a self,
        component: ComponentOpening<'a>,
    ) -> BoxFuture<'a, anyhow::Result<ComponentState>> {
        Box::pin(async move {
            Ok(Arc::new(ComponentMail {
                granted: component.decl.mail,
                mailer: self.mailer.clone(),
                component: component.decl.id.clone(),
            }) as ComponentState)
        })
    }

    /// A mail server that is down delays mail (the adapter and the caller
    /// retry); it is no reason to stop serving requests.
    fn check_ready(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
