//! Writing, purging and checking one generation of an enforcement map:
//! the same three operations over aya's hash maps and LPM tries, whose
//! keys carry their generation ([`GenerationKey`]).

use std::{collections::BTreeMap, os::fd::AsFd};

use aya::{
    maps::{
        Array, HashMap as BpfHashMap, IterableMap, MapData, MapError, lpm_trie::Key,
        lpm_trie::LpmTrie,
    },
    sys::SyscallError,
};
use palisade_common::enforce::{
    ExecInodeKey, ExecNameKey, FileRuleData, Net4Data, Net6Data, SocketKey, Verdict,
};

use super::entries::OrdKey;
use crate::kernel::bpf_sys::read_array;

/// How a map's entries differed from those written.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Difference {
    pub(super) missing: usize,
    pub(super) altered: usize,
    pub(super) unexpected: usize,
}

impl Difference {
    /// One slot of an array that held `had_none` / should hold `wants_none`.
    pub(super) fn count(&mut self, had_none: bool, wants_none: bool) {
        match (had_none, wants_none) {
            (true, _) => self.missing += 1,
            (_, true) => self.unexpected += 1,
            _ => self.altered += 1,
        }
    }
}

/// Makes a hash-like map hold exactly `expected` under generation `g`:
/// `kernel` is what it holds; `split` gives a kernel key's generation and
/// its generation-free form, `join` the kernel key of an expected one, and
/// `set` writes (`Some`) or deletes (`None`) one entry.
pub(super) fn reconcile<E: Ord + Copy, K, V: PartialEq + Copy>(
    expected: &BTreeMap<E, V>,
    kernel: Vec<(K, V)>,
    g: u8,
    split: impl Fn(&K) -> (u8, E),
    join: impl Fn(E, u8) -> K,
    mut set: impl FnMut(&K, Option<V>) -> Result<(), MapError>,
) -> Result<Difference, MapError> {
    let mut d = Difference::default();
    let mut seen = std::collections::BTreeSet::new();
    for (key, value) in &kernel {
        let (generation, plain) = split(key);
        match expected.get(&plain) {
            Some(want) if generation == g => {
                seen.insert(plain);
                if want != value {
                    set(key, Some(*want))?;
                    d.altered += 1;
                }
            }
            _ => {
                set(key, None)?;
                d.unexpected += 1;
            }
        }
    }
    for (plain, want) in expected {
        if !seen.contains(plain) {
            set(&join(*plain, g), Some(*want))?;
            d.missing += 1;
        }
    }
    Ok(d)
}

/// Makes an array map hold `expected` in slots `0..slots`; a slot absent
/// from it holds the default value (nothing). The slots are read in one
/// call; only those that differ are written.
pub(super) fn reconcile_array<V: aya::Pod + Default + PartialEq>(
    map: &mut Array<MapData, V>,
    expected: &BTreeMap<u32, V>,
    slots: u32,
) -> Result<Difference, MapError> {
    let mut d = Difference::default();
    let held = read_array::<V>(map.map().fd().as_fd(), slots)
        .map_err(|io_error| SyscallError { call: "bpf_map_lookup_batch", io_error })?;
    for (slot, have) in (0..slots).zip(held) {
        let want = expected.get(&slot).copied().unwrap_or_default();
        if have != want {
            map.set(slot, want, 0)?;
            d.count(have == V::default(), want == V::default());
        }
    }
    Ok(d)
}

/// An enforcement map's key (hash maps: `ExecInodeKey`, `ExecNameKey`,
/// `SocketKey`) or LPM-trie key data (`Net4Data`, `Net6Data`,
/// `FileRuleData`), which carries its generation.
pub(super) trait GenerationKey: aya::Pod {
    fn generation(&self) -> u8;
    fn in_generation(self, generation: u8) -> Self;
}

macro_rules! generation_key {
    ($($t:ty),*) => {$(
        impl GenerationKey for $t {
            fn generation(&self) -> u8 {
                self.generation
            }
            fn in_generation(self, generation: u8) -> Self {
                Self { generation, ..self }
            }
        }
    )*};
}
generation_key!(ExecInodeKey, ExecNameKey, SocketKey, Net4Data, Net6Data, FileRuleData);

/// The entries of a hash enforcement map by key with generation 0, as
/// [`Entries`] holds them.
pub(super) type HashEntries<K> = BTreeMap<OrdKey<K>, Verdict>;

/// Writes `entries` under generation `g`.
pub(super) fn write_hash<K: GenerationKey>(
    map: &mut BpfHashMap<MapData, K, Verdict>,
    entries: &HashEntries<K>,
    g: u8,
) -> Result<(), MapError> {
    for (key, v) in entries {
        map.insert(key.0.in_generation(g), v, 0)?;
    }
    Ok(())
}

/// Deletes every entry of `generation`.
pub(super) fn purge_hash<K: GenerationKey>(
    map: &mut BpfHashMap<MapData, K, Verdict>,
    generation: u8,
) -> Result<(), MapError> {
    let stale: Vec<K> =
        (map.keys().filter_map(Result::ok)).filter(|k| k.generation() == generation).collect();
    for k in stale {
        map.remove(&k)?;
    }
    Ok(())
}

/// [`reconcile`] for a hash map.
pub(super) fn reconcile_hash<K: GenerationKey>(
    map: &mut BpfHashMap<MapData, K, Verdict>,
    expected: &HashEntries<K>,
    g: u8,
) -> Result<Difference, MapError> {
    let kernel: Vec<_> = map.iter().filter_map(Result::ok).collect();
    reconcile(
        expected,
        kernel,
        g,
        |k| (k.generation(), OrdKey(k.in_generation(0))),
        |k, g| k.0.in_generation(g),
        |k, v| match v {
            Some(v) => map.insert(k, v, 0),
            None => map.remove(k),
        },
    )
}

/// The entries of an LPM-trie map by (prefix length, key data with
/// generation 0), as [`Entries`] holds them.
pub(super) type LpmEntries<K> = BTreeMap<(u32, OrdKey<K>), Verdict>;

/// Writes `entries` under generation `g`.
pub(super) fn write_lpm<K: GenerationKey>(
    map: &mut LpmTrie<MapData, K, Verdict>,
    entries: &LpmEntries<K>,
    g: u8,
) -> Result<(), MapError> {
    for ((len, data), v) in entries {
        map.insert(&Key::new(*len, data.0.in_generation(g)), v, 0)?;
    }
    Ok(())
}

/// Deletes every entry of `generation`.
pub(super) fn purge_lpm<K: GenerationKey>(
    map: &mut LpmTrie<MapData, K, Verdict>,
    generation: u8,
) -> Result<(), MapError> {
    let stale: Vec<Key<K>> = (map.keys().filter_map(Result::ok))
        .filter(|k| k.data().generation() == generation)
        .collect();
    for k in stale {
        map.remove(&k)?;
    }
    Ok(())
}

/// [`reconcile`] for an LPM-trie map.
pub(super) fn reconcile_lpm<K: GenerationKey>(
    map: &mut LpmTrie<MapData, K, Verdict>,
    expected: &LpmEntries<K>,
    g: u8,
) -> Result<Difference, MapError> {
    let kernel: Vec<_> = map.iter().filter_map(Result::ok).collect();
    reconcile(
        expected,
        kernel,
        g,
        |k| (k.data().generation(), (k.prefix_len(), OrdKey(k.data().in_generation(0)))),
        |(len, k), g| Key::new(len, k.0.in_generation(g)),
        |k, v| match v {
            Some(v) => map.insert(k, v, 0),
            None => map.remove(k),
        },
    )
}
