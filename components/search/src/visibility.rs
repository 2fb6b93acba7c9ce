//! Who may read what: the same rules as the content service. Published
//! content is public; creators also read their own in any status; admins
//! read everything (and alone manage the index and read its analytics).
//! Every search carries the caller's clause, so nothing the caller may not
//! read is ever returned or counted, and a paid item is only ever its
//! preview to a caller without its tier.

use folio_guest::auth::{Role, authenticate, require_role};
use folio_guest::entitlements;
use folio_guest::http::{Problem, header};
use folio_guest::search::AnyOf;
use spin_sdk::http::Request;

use crate::access;
use crate::store;

/// Which items by status and author.
enum Scope {
    /// Anonymous callers, consumers and service clients: published items.
    Published,
    /// Creators: published items and their own.
    PublishedOrBy(String),
    /// Admins: everything.
    Everything,
}

pub struct Viewer {
    scope: Scope,
    /// Which document of each paid item the caller gets (see `access`).
    access: AnyOf,
}

impl Viewer {
    /// Public without an `Authorization` header; 401 with one that is not
    /// valid. The tiers the caller holds are the service's own projection
    /// of billing's events.
    pub fn of(request: &Request) -> Result<Viewer, Problem> {
        let claims = match header(request, "authorization") {
            None => None,
            Some(_) => Some(authenticate(request)?),
        };
        let scope = match &claims {
            Some(c) if c.role() == Some(Role::Admin) => Scope::Everything,
            Some(c) if c.role() == Some(Role::Creator) => Scope::PublishedOrBy(c.sub.clone()),
            _ => Scope::Published,
        };
        let access = match scope {
            Scope::Everything => access::whole(),
            _ => {
                let db = store::db()?;
                let tiers = match &claims {
                    Some(c) => entitlements::tiers_of(&db, &c.sub)?,
                    None => Vec::new(),
                };
                access::clause(&tiers, &access::gates(&db)?)
            }
        };
        Ok(Viewer { scope, access })
    }

    /// The filter clauses that limit a search to what this viewer may read,
    /// and to one document of each paid item.
    pub fn clauses(&self) -> Vec<AnyOf> {
        let status = match &self.scope {
            Scope::Published => Some(vec![published()]),
            Scope::PublishedOrBy(id) => Some(vec![published(), ("authorId".into(), id.clone())]),
            Scope::Everything => None,
        };
        status.into_iter().chain([self.access.clone()]).collect()
    }
}

fn published() -> (String, String) {
    ("status".into(), "published".into())
}

/// 401 without a valid token, 403 unless the caller is an admin.
pub fn require_admin(request: &Request) -> Result<(), Problem> {
    require_role(&authenticate(request)?, &[Role::Admin])
}
