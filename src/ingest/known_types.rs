//! Event types known to exist, remembered per process so ingest checks the catalog only for
//! a type it has not seen yet. Types are only ever added to the catalog, so a remembered type
//! stays valid.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use diesel::prelude::*;

use crate::model::event_type;

#[derive(Clone, Default)]
pub struct KnownTypes(Arc<RwLock<HashSet<String>>>);

impl KnownTypes {
    /// Which of `types` are not in the catalog (asking the database only about new ones).
    pub fn unknown(&self, conn: &mut PgConnection, types: &[String]) -> QueryResult<Vec<String>> {
        let unseen: Vec<String> = {
            let known = self.0.read().expect("known types lock");
            types
                .iter()
                .filter(|t| !known.contains(*t))
                .cloned()
                .collect()
        };
        if unseen.is_empty() {
            return Ok(Vec::new());
        }
        let found = event_type::existing(conn, &unseen)?;
        let unknown = unseen.into_iter().filter(|t| !found.contains(t)).collect();
        self.0.write().expect("known types lock").extend(found);
        Ok(unknown)
    }
}
