//! Who may read what: the same rules as the content service. Published
//! content is public; creators also read their own in any status; admins
//! read everything (and alone manage the index and read its analytics).
//! Every search carries the caller's clause, so nothing the caller may not
//! read is ever returned or counted.

use folio_guest::auth::{Role, authenticate, require_role};
use folio_guest::http::{Problem, header};
use folio_guest::search::AnyOf;
use spin_sdk::http::Request;

pub enum Viewer {
    /// Anonymous callers, consumers and service clients.
    Public,
    Creator {
        id: String,
    },
    Admin,
}

impl Viewer {
    /// Public without an `Authorization` header; 401 with one that is not valid.
    pub fn of(request: &Request) -> Result<Viewer, Problem> {
        if header(request, "authorization").is_none() {
            return Ok(Viewer::Public);
        }
        let claims = authenticate(request)?;
        Ok(match claims.role() {
            Some(Role::Admin) => Viewer::Admin,
            Some(Role::Creator) => Viewer::Creator { id: claims.sub },
            _ => Viewer::Public,
        })
    }

    /// The filter clause that limits a search to what this viewer may read;
    /// `None` for admins.
    pub fn clause(&self) -> Option<AnyOf> {
        match self {
            Viewer::Public => Some(vec![published()]),
            Viewer::Creator { id } => Some(vec![published(), ("authorId".into(), id.clone())]),
            Viewer::Admin => None,
        }
    }
}

fn published() -> (String, String) {
    ("status".into(), "published".into())
}

/// 401 without a valid token, 403 unless the caller is an admin.
pub fn require_admin(request: &Request) -> Result<(), Problem> {
    require_role(&authenticate(request)?, &[Role::Admin])
}
