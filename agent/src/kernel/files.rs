//! The kernel's watched file prefixes (`FILE_WATCH`, an LPM trie keyed by
//! path bytes), kept equal to the bundle's watch set.

use std::collections::BTreeMap;

use aya::maps::{
    MapData, MapError,
    lpm_trie::{Key, LpmTrie},
};
use palisade_common::{FILE_PATH_MAX, names};
use thiserror::Error;

use crate::policy::files::FileWatchSet;

#[derive(Debug, Error)]
pub enum FilesError {
    #[error("cannot write the watched prefix {prefix:?} into map `{}`", names::MAP_FILE_WATCH)]
    Write {
        prefix: String,
        #[source]
        source: MapError,
    },
}

type PathKey = Key<[u8; FILE_PATH_MAX]>;

/// The `FILE_WATCH` map and what this agent wrote into it.
pub struct FileWatch {
    map: LpmTrie<MapData, [u8; FILE_PATH_MAX], u32>,
    written: BTreeMap<String, u32>,
}

impl FileWatch {
    pub fn new(map: LpmTrie<MapData, [u8; FILE_PATH_MAX], u32>) -> Self {
        Self { map, written: BTreeMap::new() }
    }

    /// Makes the map hold exactly `set`'s prefixes: new and changed ones
    /// are written before stale ones are removed, so a path watched by both
    /// bundles is never unwatched in between.
    pub fn apply(&mut self, set: &FileWatchSet) -> Result<(), FilesError> {
        let wanted = set.kernel_entries();
        for (&prefix, &bits) in &wanted {
            if self.written.get(prefix) == Some(&bits) {
                continue;
            }
            self.map
                .insert(&key(prefix), bits, 0)
                .map_err(|source| FilesError::Write { prefix: prefix.to_string(), source })?;
            self.written.insert(prefix.to_string(), bits);
        }
        let stale: Vec<String> =
            self.written.keys().filter(|p| !wanted.contains_key(p.as_str())).cloned().collect();
        for prefix in stale {
            // Already gone is fine: the goal is its absence.
            let _ = self.map.remove(&key(&prefix));
            self.written.remove(&prefix);
        }
        Ok(())
    }

    /// How many prefixes are watched.
    pub fn watched(&self) -> usize {
        self.written.len()
    }
}

/// The trie key of a prefix: its bytes, matched over their length (the
/// policy checked that they fit).
fn key(prefix: &str) -> PathKey {
    let mut data = [0u8; FILE_PATH_MAX];
    let bytes = &prefix.as_bytes()[..prefix.len().min(FILE_PATH_MAX - 1)];
    data[..bytes.len()].copy_from_slice(bytes);
    Key::new(bytes.len() as u32 * 8, data)
}
