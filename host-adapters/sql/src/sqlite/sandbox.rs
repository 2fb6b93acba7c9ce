//! Confines every connection to a component's SQLite file to that file.
//!
//! An authorizer refuses, as each statement is prepared, what would reach
//! past it: ATTACH (VACUUM INTO surfaces as an ATTACH of its target), DETACH,
//! pragmas that change a setting, and the functions that load extensions or
//! touch files. The connection is also made defensive, with extension loading
//! off and the schema untrusted, so a crafted schema cannot run those either.

use std::borrow::Cow;
use std::ffi::{CStr, c_char, c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Mutex, PoisonError};

use libsqlite3_sys as ffi;
use sqlx::SqliteConnection;

const ONLY_ITS_OWN: &str = "a component reaches only its own database";

/// Pragmas whose argument, if any, names a table or index: they only describe the schema.
const SCHEMA_PRAGMAS: &[&str] = &[
    "table_info",
    "table_xinfo",
    "table_list",
    "index_list",
    "index_info",
    "index_xinfo",
    "foreign_key_list",
    "foreign_key_check",
    "integrity_check",
    "quick_check",
];

/// Pragmas that may be read, but not given a value.
const READABLE_PRAGMAS: &[&str] = &[
    "user_version",
    "application_id",
    "schema_version",
    "data_version",
    "foreign_keys",
    "page_count",
    "page_size",
    "freelist_count",
    "encoding",
    "compile_options",
];

/// Functions that load code into the host or read and write files.
const FORBIDDEN_FUNCTIONS: &[&str] = &[
    "load_extension",
    "fts3_tokenizer",
    "readfile",
    "writefile",
    "edit",
];

/// The name under which a connection carries its [`LastRefusal`].
const LAST_REFUSAL: &CStr = c"folio.sandbox.last-refusal";

/// Why the authorizer last refused a statement on one connection. It is
/// written on sqlx's worker thread and read by the caller that got
/// SQLITE_AUTH back, since SQLite itself only says "not authorized".
#[derive(Default)]
struct LastRefusal(Mutex<Option<String>>);

/// Installs the sandbox on a freshly opened connection, before any
/// statement of a component runs on it.
pub(crate) async fn confine(conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
    let mut handle = conn.lock_handle().await?;
    let db = handle.as_raw_handle().as_ptr();
    let last_refusal = Box::into_raw(Box::<LastRefusal>::default());
    // SAFETY: `db` is an open connection that the locked handle keeps to us.
    // SQLite owns `last_refusal` from here on (it runs `drop_last_refusal`
    // on it when the connection closes, or at once if registering fails), so
    // the authorizer's pointer to it is valid for as long as it can be called.
    unsafe {
        let registered = ffi::sqlite3_set_clientdata(
            db,
            LAST_REFUSAL.as_ptr(),
            last_refusal.cast(),
            Some(drop_last_refusal),
        );
        expect_ok(registered, "registering the refusal record")?;
        let installed = ffi::sqlite3_set_authorizer(db, Some(authorize), last_refusal.cast());
        expect_ok(installed, "installing the authorizer")?;
        // One slot, for the temporary database a plain VACUUM attaches.
        ffi::sqlite3_limit(db, ffi::SQLITE_LIMIT_ATTACHED, 1);
        for (option, value, name) in [
            (ffi::SQLITE_DBCONFIG_DEFENSIVE, 1, "DEFENSIVE"),
            (
                ffi::SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION,
                0,
                "ENABLE_LOAD_EXTENSION",
            ),
            (ffi::SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, "TRUSTED_SCHEMA"),
        ] {
            let mut now: c_int = -1;
            let configured = ffi::sqlite3_db_config(db, option, value, &raw mut now);
            expect_ok(configured, name)?;
            if now != value {
                return Err(sandbox_failed(format!("{name} stayed {now}")));
            }
        }
    }
    Ok(())
}

/// Takes the reason the connection's last statement was refused.
pub(crate) async fn take_refusal(conn: &mut SqliteConnection) -> Option<String> {
    let mut handle = conn.lock_handle().await.ok()?;
    let db = handle.as_raw_handle().as_ptr();
    // SAFETY: the record was registered by `confine` and lives until the
    // connection closes, which the handle we hold prevents.
    let last_refusal = unsafe {
        ffi::sqlite3_get_clientdata(db, LAST_REFUSAL.as_ptr())
            .cast::<LastRefusal>()
            .as_ref()
    }?;
    last_refusal
        .0
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
}

fn expect_ok(code: c_int, step: &str) -> Result<(), sqlx::Error> {
    if code == ffi::SQLITE_OK {
        Ok(())
    } else {
        Err(sandbox_failed(format!("{step} returned {code}")))
    }
}

fn sandbox_failed(detail: String) -> sqlx::Error {
    sqlx::Error::Configuration(format!("cannot sandbox the SQLite connection: {detail}").into())
}

unsafe extern "C" fn drop_last_refusal(last_refusal: *mut c_void) {
    // SAFETY: SQLite hands back the pointer `confine` made with Box::into_raw, once.
    drop(unsafe { Box::from_raw(last_refusal.cast::<LastRefusal>()) });
}

/// The authorizer SQLite consults for each action a statement being prepared takes.
unsafe extern "C" fn authorize(
    last_refusal: *mut c_void,
    action: c_int,
    first: *const c_char,
    second: *const c_char,
    _database: *const c_char,
    _trigger_or_view: *const c_char,
) -> c_int {
    // A panic must not unwind into SQLite; refusing is the safe answer.
    catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: SQLite passes NULL or NUL-terminated strings that outlive this call.
        let text = |p: *const c_char| (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) });
        let Some(reason) = refusal(
            action,
            text(first).map(CStr::to_string_lossy).as_deref(),
            text(second).map(CStr::to_string_lossy).as_deref(),
        ) else {
            return ffi::SQLITE_OK;
        };
        // SAFETY: the pointer `confine` registered, alive while the connection is.
        if let Some(last_refusal) = unsafe { last_refusal.cast::<LastRefusal>().as_ref() } {
            *last_refusal
                .0
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(reason);
        }
        ffi::SQLITE_DENY
    }))
    .unwrap_or(ffi::SQLITE_DENY)
}

/// Why `action` (with the authorizer's first two arguments) is refused, or
/// `None` when it is allowed.
fn refusal(action: c_int, first: Option<&str>, second: Option<&str>) -> Option<String> {
    let listed = |list: &[&str], name: &str| list.iter().any(|n| n.eq_ignore_ascii_case(name));
    match action {
        // A plain VACUUM rebuilds the file through a private temporary
        // database, attached under the empty name; VACUUM INTO attaches its target.
        ffi::SQLITE_ATTACH if first == Some("") => None,
        ffi::SQLITE_ATTACH => Some(format!(
            "ATTACH and VACUUM INTO are not allowed: {ONLY_ITS_OWN}"
        )),
        ffi::SQLITE_DETACH => Some(format!("DETACH is not allowed: {ONLY_ITS_OWN}")),
        ffi::SQLITE_PRAGMA => {
            let name = first.unwrap_or_default();
            let allowed = listed(SCHEMA_PRAGMAS, name)
                || (listed(READABLE_PRAGMAS, name) && second.is_none());
            (!allowed).then(|| {
                let shown: Cow<str> = match second {
                    Some(value) => format!("{name} = {value}").into(),
                    None => name.into(),
                };
                format!(
                    "PRAGMA {shown} is not allowed: the host owns the database's settings; \
                     a component may read schema information and a few settings"
                )
            })
        }
        ffi::SQLITE_FUNCTION => {
            let name = second.unwrap_or_default();
            listed(FORBIDDEN_FUNCTIONS, name)
                .then(|| format!("function {name}() is not allowed: {ONLY_ITS_OWN}"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_reaching_out_and_allows_reading_the_schema() {
        assert!(refusal(ffi::SQLITE_ATTACH, Some("/tmp/other.db"), None).is_some());
        assert!(refusal(ffi::SQLITE_ATTACH, None, None).is_some());
        assert_eq!(refusal(ffi::SQLITE_ATTACH, Some(""), None), None);
        assert!(refusal(ffi::SQLITE_DETACH, Some("x"), None).is_some());
        assert!(refusal(ffi::SQLITE_PRAGMA, Some("writable_schema"), Some("ON")).is_some());
        assert!(refusal(ffi::SQLITE_PRAGMA, Some("Foreign_Keys"), Some("off")).is_some());
        assert!(refusal(ffi::SQLITE_PRAGMA, Some("journal_mode"), None).is_some());
        assert_eq!(
            refusal(ffi::SQLITE_PRAGMA, Some("foreign_keys"), None),
            None
        );
        assert_eq!(
            refusal(ffi::SQLITE_PRAGMA, Some("TABLE_INFO"), Some("t")),
            None
        );
        assert!(refusal(ffi::SQLITE_FUNCTION, None, Some("LOAD_EXTENSION")).is_some());
        assert_eq!(refusal(ffi::SQLITE_FUNCTION, None, Some("lower")), None);
        assert_eq!(refusal(ffi::SQLITE_SELECT, None, None), None);
    }
}
