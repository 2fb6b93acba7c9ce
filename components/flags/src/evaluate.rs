//! An environment's flags, parsed once per instance (each request is a
//! fresh instance, so "once" is per request).

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use crate::flagd::{FlagSet, parse_flag_set};
use crate::store;

thread_local! {
    static LOADED: RefCell<HashMap<String, (Rc<FlagSet>, String)>> = RefCell::new(HashMap::new());
}

pub fn load(environment: &str) -> Result<Rc<FlagSet>, String> {
    load_with_etag(environment).map(|(flags, _)| flags)
}

/// The flags and the validator of their state.
pub fn load_with_etag(environment: &str) -> Result<(Rc<FlagSet>, String), String> {
    if let Some(loaded) = LOADED.with(|l| l.borrow().get(environment).cloned()) {
        return Ok(loaded);
    }
    let db = store::db().map_err(|p| p.detail)?;
    let document = store::document(&db, environment).map_err(|p| p.detail)?;
    // Stored documents were validated when written; failing here means the
    // evaluator changed under them.
    let flags = Rc::new(parse_flag_set(&document.json.to_string())?);
    let loaded = (flags, document.etag);
    LOADED.with(|l| {
        l.borrow_mut()
            .insert(environment.to_string(), loaded.clone())
    });
    Ok(loaded)
}
